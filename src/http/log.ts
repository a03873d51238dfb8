import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/**
 * What the access log says of a request: one JSON line when it is answered (`request completed`: request ID,
 * method, URL, client address, status, time). Query values that are credentials or personal data (the IdP's
 * `code`, our and the app's `state`, `login_hint`, tokens, SAML messages) are replaced by `[redacted]`, their
 * names kept: the log shows which parameters came, the session log has the details. Headers are not logged; the
 * credential headers are also redacted wherever a log line would carry them. Bodies are never logged.
 * test/operations/access-log.test.ts sends each name of both lists and checks that its value never appears.
 */

/** Query parameters whose values are never logged (compared lower-cased, after percent-decoding the name). */
export const SECRET_PARAMS: readonly string[] = [
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
];

/** Request and response headers whose values are never logged. */
export const SECRET_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
];

/** pino's `redact` paths: the secret headers of a `headers` object at the top of a line or one level down (`req`, `res`, `err`, …). */
export const LOG_REDACT_PATHS: string[] = SECRET_HEADERS.flatMap((name) => [
  `headers["${name}"]`,
  `*.headers["${name}"]`,
]);

const SECRET_PARAM_SET = new Set(SECRET_PARAMS);

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
      return eq !== -1 && SECRET_PARAM_SET.has(name.toLowerCase()) ? `${rawName}=[redacted]` : pair;
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

/**
 * Fastify's request log lines, as one: nothing when a request arrives; when it is answered, its request ID,
 * request (`requestForLog`), status and time in milliseconds (`error` level if the response failed).
 */
export class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}
