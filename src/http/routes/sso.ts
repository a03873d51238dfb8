import type { FastifyInstance } from 'fastify';
import type { AuthorizeDeps } from '../../sso/authorize/deps.ts';
import { authorize } from '../../sso/authorize/index.ts';
import { BINDING_COOKIE, bindingCookieHeader, readCookie } from '../cookies.ts';
import { PAGE_HEADERS, renderErrorPage } from '../pages.ts';

/** Browser-facing SSO routes. Thin: parse the edge, call the flow, write its outcome. */
export function ssoRoutes(app: FastifyInstance, deps: AuthorizeDeps, secureCookies: boolean): void {
  app.get('/sso/authorize', { config: { family: 'browser' } }, async (request, reply) => {
    const q = request.url.indexOf('?');
    const outcome = await authorize(
      {
        rawQuery: q === -1 ? '' : request.url.slice(q + 1),
        requestId: request.id,
        bindingCookie: readCookie(request.headers.cookie, BINDING_COOKIE),
      },
      deps,
      request.log,
    );
    if (outcome.kind === 'page') {
      return reply
        .code(outcome.status)
        .headers(PAGE_HEADERS)
        .send(
          renderErrorPage({
            title: outcome.status >= 500 ? 'Something went wrong' : 'This sign-in link cannot be used',
            message: outcome.message,
            code: outcome.code,
            requestId: outcome.requestId,
          }),
        );
    }
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    if (outcome.bindingCookie)
      reply.header('set-cookie', bindingCookieHeader(outcome.bindingCookie, secureCookies));
    return reply.redirect(outcome.location, 302);
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
