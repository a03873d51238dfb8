import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { connectorFor } from '../../connectors/registry.ts';
import { BrokerError } from '../../errors/broker-error.ts';
import { parseQuery } from '../../lib/urlencoded.ts';
import { authorize } from '../../sso/authorize/index.ts';
import { callback } from '../../sso/callback/index.ts';
import { callbackUrl } from '../../sso/connections.ts';
import { decideConsent } from '../../sso/consent.ts';
import type { FlowDeps } from '../../sso/deps.ts';
import type { FlowOutcome } from '../../sso/outcome.ts';
import { limitCallback } from '../../sso/rate-limits.ts';
import { exchangeCode, profileForToken } from '../../sso/token.ts';
import { type BindingCookies, bindingCookies } from '../cookies.ts';
import {
  AUTO_POST_SCRIPT_HASH,
  PAGE_HEADERS,
  pageCsp,
  renderAutoPostPage,
  renderConsentPage,
  renderErrorPage,
} from '../pages.ts';
import { type FormBody, isFormBody } from './body.ts';

/** SSO routes. Thin: parse the edge, call the flow, write its outcome. */

function rawQuery(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? '' : request.url.slice(q + 1);
}

/** Writes a browser-facing outcome: a redirect, an error page or the consent screen. */
export function writeOutcome(
  reply: FastifyReply,
  outcome: FlowOutcome,
  cookies: BindingCookies,
): FastifyReply {
  // The browser binding cookie of a sign-in that continues (a redirect, a form post or the consent screen).
  if (outcome.kind !== 'page' && outcome.bindingCookie) {
    reply.header('set-cookie', cookies.headers(outcome.bindingCookie, outcome.crossSite === true));
  }
  switch (outcome.kind) {
    case 'page':
      if (outcome.retryAfterSeconds !== undefined)
        reply.header('retry-after', String(outcome.retryAfterSeconds));
      return reply
        .code(outcome.status)
        .headers(PAGE_HEADERS)
        .send(
          renderErrorPage({
            title: outcome.status >= 500 ? 'Something went wrong' : 'This sign-in cannot continue',
            message: outcome.message,
            code: outcome.code,
            requestId: outcome.requestId,
          }),
        );
    case 'consent':
      return reply
        .code(200)
        .headers({
          ...PAGE_HEADERS,
          // Chrome applies form-action to the redirect that follows the POST: allow the app's origin.
          'content-security-policy': pageCsp(["'self'", outcome.view.appOrigin]),
          // Under `no-referrer` browsers send `Origin: null` with the form POST, which decideConsent refuses.
          // `same-origin` sends our Origin to ourselves and still no referrer to anyone else.
          'referrer-policy': 'same-origin',
        })
        .send(renderConsentPage(outcome.view));
    case 'redirect':
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      return reply.redirect(outcome.location, outcome.status);
    case 'form_post':
      return reply
        .code(200)
        .headers({
          ...PAGE_HEADERS,
          'content-security-policy': pageCsp([new URL(outcome.action).origin], AUTO_POST_SCRIPT_HASH),
        })
        .send(renderAutoPostPage(outcome.action, outcome.fields));
  }
}

/** Body parameters as name → every value, from a form or a JSON object of strings; null if neither. */
function bodyParams(body: unknown): Map<string, string[]> | null {
  if (isFormBody(body)) return body.malformed.size > 0 ? null : body.values;
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const out = new Map<string, string[]>();
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (typeof v !== 'string') return null;
      out.set(k, [v]);
    }
    return out;
  }
  return null;
}

export function ssoRoutes(app: FastifyInstance, deps: FlowDeps, options: { samlMaxBytes: number }): void {
  // Named and scoped by the public URL (`__Host-` on https); only the name in force is read.
  const cookies = bindingCookies(deps.publicUrl);

  // The callback URLs' rate limits, counted when the request arrives: before its body is read or parsed (the ACS
  // takes up to GATEHOUSE_SAML_MAX_BYTES) and before any SAML or OIDC work. Over a limit: the 429 page.
  const limitCallbacks = async (
    request: FastifyRequest<{ Params: { key: string } }>,
    reply: FastifyReply,
  ) => {
    const limited = await limitCallback(
      { clientIp: request.ip, externalKey: request.params.key, requestId: request.id },
      deps,
      request.log,
    );
    if (limited) return writeOutcome(reply, limited, cookies);
  };
  app.get('/sso/authorize', { config: { family: 'browser' } }, async (request, reply) => {
    const outcome = await authorize(
      {
        rawQuery: rawQuery(request),
        requestId: request.id,
        bindingCookie: cookies.read(request.headers.cookie),
        clientIp: request.ip,
        userAgent: request.headers['user-agent'],
      },
      deps,
      request.log,
    );
    return writeOutcome(reply, outcome, cookies);
  });

  // The OIDC callback (the `redirect_uri` registered at the customer's IdP) and the OAuth provider callback (the
  // one registered with Google, Microsoft or GitHub): both GET with `code` and `state`, or `error`.
  for (const path of ['/sso/oidc/callback/:key', '/sso/oauth/callback/:key']) {
    app.get<{ Params: { key: string } }>(
      path,
      { config: { family: 'browser' }, onRequest: limitCallbacks },
      async (request, reply) => {
        const query = parseQuery(rawQuery(request));
        const outcome = await callback(
          {
            externalKey: request.params.key,
            url: new URL(request.url, deps.publicUrl),
            form: {},
            stateValues: query.values.get('state') ?? [],
            bindingCookie: cookies.read(request.headers.cookie),
            requestId: request.id,
            method: 'GET',
            clientIp: request.ip,
            userAgent: request.headers['user-agent'],
          },
          deps,
          request.log,
        );
        return writeOutcome(reply, outcome, cookies);
      },
    );
  }

  // The SAML Assertion Consumer Service (HTTP-POST binding): `saml_options.acs_url`. The rate limits come first,
  // then the body limit, before any parsing: a larger post gets 413.
  app.post<{ Params: { key: string }; Body: FormBody }>(
    '/sso/saml/acs/:key',
    { config: { family: 'browser' }, bodyLimit: options.samlMaxBytes, onRequest: limitCallbacks },
    async (request, reply) => {
      const form = isFormBody(request.body) ? request.body : null;
      const fields: Record<string, string> = {};
      for (const name of ['SAMLResponse', 'RelayState']) {
        const values = form?.values.get(name);
        if (values?.length === 1 && values[0] !== undefined) fields[name] = values[0];
      }
      const outcome = await callback(
        {
          externalKey: request.params.key,
          url: new URL(request.url, deps.publicUrl),
          form: fields,
          stateValues: form?.values.get('RelayState') ?? [],
          bindingCookie: cookies.read(request.headers.cookie),
          requestId: request.id,
          method: 'POST',
          clientIp: request.ip,
          userAgent: request.headers['user-agent'],
        },
        deps,
        request.log,
      );
      return writeOutcome(reply, outcome, cookies);
    },
  );

  // SAML SP metadata, for the customer's IT admin: `saml_options.sp_metadata_url`, and at the SP entity ID
  // (`saml_options.sp_entity_id`) too, since many IdPs fetch the entity ID as a URL.
  for (const path of ['/sso/saml/metadata/:key', '/sso/saml/sp/:key']) {
    app.get<{ Params: { key: string } }>(path, async (request, reply) => {
      const connection = await deps.store.getConnectionByExternalKey(request.params.key);
      const definition = connection ? connectorFor(connection.connectionType) : undefined;
      if (!connection || !definition?.spMetadata) {
        throw new BrokerError('not_found', { message: 'No SAML connection has this metadata URL.' });
      }
      const xml = definition.spMetadata(
        connection.config,
        callbackUrl(deps.publicUrl, definition, connection),
      );
      return reply.header('content-type', 'application/samlmetadata+xml; charset=utf-8').send(xml);
    });
  }

  app.post<{ Body: FormBody }>('/sso/consent', { config: { family: 'browser' } }, async (request, reply) => {
    const form = isFormBody(request.body) ? request.body : null;
    const one = (name: string) =>
      form?.values.get(name)?.length === 1 ? form.values.get(name)?.[0] : undefined;
    const outcome = await decideConsent(
      {
        token: one('consent_token'),
        decision: one('decision'),
        bindingCookie: cookies.read(request.headers.cookie),
        origin: request.headers.origin,
        requestId: request.id,
        clientIp: request.ip,
        userAgent: request.headers['user-agent'],
      },
      deps,
      request.log,
    );
    return writeOutcome(reply, outcome, cookies);
  });

  app.post('/sso/token', { config: { family: 'oauth' } }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const response = await exchangeCode(
      {
        params: bodyParams(request.body),
        authorization: request.headers.authorization,
        idempotencyKey: Array.isArray(key) ? key[0] : key,
        requestId: request.id,
        clientIp: request.ip,
      },
      deps,
      request.log,
    );
    return reply.headers({ 'cache-control': 'no-store', pragma: 'no-cache' }).send(response);
  });

  app.get('/sso/profile', async (request, reply) => {
    const query = parseQuery(rawQuery(request));
    const profile = await profileForToken(
      request.headers.authorization,
      query.values.has('access_token'),
      deps,
    );
    return reply.header('cache-control', 'no-store').send(profile);
  });

  // RFC 8414 metadata, so clients can learn that we send `iss` in authorization responses (RFC 9207 §3).
  app.get('/.well-known/oauth-authorization-server', async () => ({
    issuer: deps.publicUrl,
    authorization_endpoint: `${deps.publicUrl}/sso/authorize`,
    token_endpoint: `${deps.publicUrl}/sso/token`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'none'],
    authorization_response_iss_parameter_supported: true,
  }));
}
