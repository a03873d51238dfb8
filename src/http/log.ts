/**
 * What the access log says of a request: method, URL, client address. Query values that are credentials or
 * personal data (the IdP's `code`, our and the app's `state`, `login_hint`, tokens, SAML messages) are replaced by
 * `[redacted]`, their names kept: the log shows which parameters came, the session log has the details.
 */

const SECRET_PARAMS = new Set([
  'code',
  'state',
  'login_hint',
  'id_token',
  'access_token',
  'refresh_token',
  'client_secret',
  'code_verifier',
  'samlrequest',
  'samlresponse',
  'relaystate',
  'signature',
  'token',
]);

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const pairs = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      let name: string;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        return `${rawName.slice(0, 40)}=[redacted]`;
      }
      return eq !== -1 && SECRET_PARAMS.has(name.toLowerCase()) ? `${rawName}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${pairs.join('&')}`;
}

/** Fastify's `req` log serializer, with `redactUrl`. */
export function requestForLog(request: {
  method: string;
  url: string;
  ip?: string;
  socket?: { remotePort?: number };
}): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
