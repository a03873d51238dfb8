import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError, isBrokerError } from '../errors/broker-error.ts';
import { PAGE_HEADERS, renderErrorPage } from './pages.ts';

/**
 * The HTTP error boundary. Every error that escapes a route ends here and is rendered by its catalog entry:
 * JSON `{message, code, errors?}` for the management API, an HTML page for browser routes. Unknown errors
 * become a generic 500 whose only detail is the request ID; the error itself goes to the log.
 * (/sso/authorize renders its own redirect errors; see sso/authorize/index.ts.)
 */

/** How a route's errors travel: management JSON, an HTML page, or RFC 6749 §5.2 JSON (the token endpoint). */
export type RouteFamily = 'api' | 'browser' | 'oauth';

declare module 'fastify' {
  interface FastifyContextConfig {
    family?: RouteFamily;
  }
}

/** Fastify's own errors (body parsing, limits) mapped to catalog codes. */
function fromFastify(err: FastifyError): BrokerError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new BrokerError('unsupported_media_type');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BrokerError('request_body_too_large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BrokerError('request_body_invalid');
    default:
      if (err.statusCode === 400 && (err instanceof SyntaxError || /JSON/i.test(err.message))) {
        return new BrokerError('request_body_invalid');
      }
      return null;
  }
}

export function sendBrokerError(
  request: FastifyRequest,
  reply: FastifyReply,
  err: BrokerError,
): FastifyReply {
  const family = request.routeOptions?.config?.family ?? 'api';
  const { entry } = err;
  if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
  if (family === 'browser' || entry.transport === 'page') {
    return reply
      .code(Math.max(entry.status, 400))
      .headers(PAGE_HEADERS)
      .send(
        renderErrorPage({
          title: entry.status >= 500 ? 'Something went wrong' : 'This sign-in link cannot be used',
          message: err.publicMessage ?? entry.description,
          code: err.code,
          requestId: request.id,
        }),
      );
  }
  if (entry.transport === 'oauth') {
    // RFC 6749 §5.2: `{error, error_description}`, which the SDK turns into OauthException.
    return reply
      .code(entry.status)
      .headers({ 'cache-control': 'no-store', pragma: 'no-cache' })
      .send({ error: entry.wire, error_description: entry.description });
  }
  if (entry.transport === 'bearer') {
    // RFC 6750 §3: no credentials get the challenge alone, without an error code; the others name theirs.
    // Catalog descriptions never hold `"` or `\`, so they are safe in a quoted-string.
    const challenge = entry.wire
      ? `Bearer realm="gatehouse", error="${entry.wire}", error_description="${entry.description}"`
      : 'Bearer realm="gatehouse"';
    return reply
      .code(entry.status)
      .headers({ 'cache-control': 'no-store', 'www-authenticate': challenge })
      .send(
        entry.wire
          ? { error: entry.wire, error_description: entry.description }
          : { message: entry.description },
      );
  }
  return reply
    .code(entry.status)
    .header('cache-control', 'no-store')
    .send({
      message: err.publicMessage ?? entry.description,
      code: entry.wire,
      ...(err.fields ? { errors: err.fields } : {}),
    });
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let known = isBrokerError(error) ? error : fromFastify(error);
    // On the token endpoint, a body Fastify could not read is an OAuth `invalid_request`.
    if (known && !isBrokerError(error) && request.routeOptions?.config?.family === 'oauth') {
      known = new BrokerError(known.entry.status >= 500 ? 'token_internal' : 'token_body_invalid');
    }
    if (known) {
      if (known.entry.status >= 500) request.log.error({ err: error }, 'request failed');
      else if (known.detail) request.log.info({ code: known.code, detail: known.detail }, 'request rejected');
      return sendBrokerError(request, reply, known);
    }
    request.log.error({ err: error }, 'unhandled error');
    const family = request.routeOptions?.config?.family;
    return sendBrokerError(
      request,
      reply,
      new BrokerError(family === 'oauth' ? 'token_internal' : 'internal'),
    );
  });

  app.setNotFoundHandler((request, reply) => {
    return sendBrokerError(
      request,
      reply,
      new BrokerError('route_not_found', {
        message: `The requested path '${request.url.split('?')[0]}' could not be found.`,
      }),
    );
  });
}
