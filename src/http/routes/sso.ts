import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseQuery } from '../../lib/urlencoded.ts';
import { authorize } from '../../sso/authorize/index.ts';
import { callback } from '../../sso/callback/index.ts';
import { decideConsent } from '../../sso/consent.ts';
import type { FlowDeps } from '../../sso/deps.ts';
import type { FlowOutcome } from '../../sso/outcome.ts';
import { exchangeCode, profileForToken } from '../../sso/token.ts';
import { BINDING_COOKIE, bindingCookieHeader, readCookie } from '../cookies.ts';
import { PAGE_HEADERS, pageCsp, renderConsentPage, renderErrorPage } from '../pages.ts';
import { type FormBody, isFormBody } from './body.ts';

/** SSO routes. Thin: parse the edge, call the flow, write its outcome. */

function rawQuery(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? '' : request.url.slice(q + 1);
}

/** Writes a browser-facing outcome: a redirect, an error page or the consent screen. */
function writeOutcome(reply: FastifyReply, outcome: FlowOutcome, secureCookies: boolean): FastifyReply {
  switch (outcome.kind) {
    case 'page':
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
      if (outcome.bindingCookie)
        reply.header('set-cookie', bindingCookieHeader(outcome.bindingCookie, secureCookies));
      return reply.redirect(outcome.location, outcome.status);
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

export function ssoRoutes(app: FastifyInstance, deps: FlowDeps, secureCookies: boolean): void {
  app.get('/sso/authorize', { config: { family: 'browser' } }, async (request, reply) => {
    const outcome = await authorize(
      {
        rawQuery: rawQuery(request),
        requestId: request.id,
        bindingCookie: readCookie(request.headers.cookie, BINDING_COOKIE),
      },
      deps,
      request.log,
    );
    return writeOutcome(reply, outcome, secureCookies);
  });

  // The OIDC callback: the `redirect_uri` registered at the customer's IdP.
  app.get<{ Params: { key: string } }>(
    '/sso/oidc/callback/:key',
    { config: { family: 'browser' } },
    async (request, reply) => {
      const query = parseQuery(rawQuery(request));
      const outcome = await callback(
        {
          externalKey: request.params.key,
          url: new URL(request.url, deps.publicUrl),
          form: {},
          stateValues: query.values.get('state') ?? [],
          bindingCookie: readCookie(request.headers.cookie, BINDING_COOKIE),
          requestId: request.id,
        },
        deps,
        request.log,
      );
      return writeOutcome(reply, outcome, secureCookies);
    },
  );

  app.post<{ Body: FormBody }>('/sso/consent', { config: { family: 'browser' } }, async (request, reply) => {
    const form = isFormBody(request.body) ? request.body : null;
    const one = (name: string) =>
      form?.values.get(name)?.length === 1 ? form.values.get(name)?.[0] : undefined;
    const outcome = await decideConsent(
      {
        token: one('consent_token'),
        decision: one('decision'),
        bindingCookie: readCookie(request.headers.cookie, BINDING_COOKIE),
        origin: request.headers.origin,
        requestId: request.id,
      },
      deps,
      request.log,
    );
    return writeOutcome(reply, outcome, secureCookies);
  });

  app.post('/sso/token', { config: { family: 'oauth' } }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const response = await exchangeCode(
      {
        params: bodyParams(request.body),
        authorization: request.headers.authorization,
        idempotencyKey: Array.isArray(key) ? key[0] : key,
        requestId: request.id,
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
