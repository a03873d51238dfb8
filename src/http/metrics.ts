import Fastify, { type FastifyInstance } from 'fastify';
import type { MetricsConfig } from '../config/load.ts';
import { BrokerError } from '../errors/broker-error.ts';
import { safeEqual } from '../lib/tokens.ts';
import type { Metrics } from '../metrics.ts';
import { registerErrorHandling } from './errors.ts';

/**
 * `GET /metrics` (docs/operations.md). Off unless configured: with `GATEHOUSE_METRICS_PORT`, it is served on that
 * port alone (bound to `GATEHOUSE_METRICS_HOST`, 127.0.0.1 by default); otherwise, with `GATEHOUSE_METRICS_TOKEN`,
 * on the main port. Either way, a configured token is required as a Bearer token.
 */

/** Whether `/metrics` is served at all. */
export function metricsEnabled(config: MetricsConfig): boolean {
  return config.token !== null || config.port !== null;
}

/** Times every answered request under its route pattern (never its URL: the label set stays bounded). */
export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
  });
}

function checkToken(authorization: string | undefined, token: string): void {
  if (!authorization) throw new BrokerError('metrics_token_missing');
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match || !safeEqual(match[1] as string, token)) throw new BrokerError('metrics_token_invalid');
}

function metricsRoute(app: FastifyInstance, metrics: Metrics, token: string | null): void {
  app.get('/metrics', async (request, reply) => {
    if (token !== null) checkToken(request.headers.authorization, token);
    const body = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(body);
  });
}

/**
 * Adds `/metrics` to the app, on its own port when one is configured (listening from the app's `ready` until its
 * `close`, so that a port that cannot be bound stops start-up), else on the main port when a token is.
 */
export function registerMetricsEndpoint(app: FastifyInstance, metrics: Metrics, config: MetricsConfig): void {
  const { port } = config;
  if (port === null) {
    if (config.token !== null) metricsRoute(app, metrics, config.token);
    return;
  }
  const server = Fastify({ logger: false });
  registerErrorHandling(server);
  metricsRoute(server, metrics, config.token);
  app.addHook('onReady', async () => {
    await server.listen({ port, host: config.host });
    app.log.info({ port, host: config.host }, 'metrics listening');
  });
  app.addHook('onClose', async () => {
    await server.close();
  });
}
