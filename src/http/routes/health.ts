import type { FastifyInstance } from 'fastify';
import type { Store } from '../../storage/store.ts';

/**
 * `GET /health/live`: the process answers. `GET /health` (readiness): the database answers and the node is not
 * shutting down; 503 otherwise, so a load balancer stops sending traffic.
 */
export function healthRoutes(app: FastifyInstance, store: Store, isClosing: () => boolean): void {
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health', async (request, reply) => {
    if (isClosing())
      return reply.code(503).send({ status: 'shutting_down', checks: { database: 'unknown' } });
    try {
      await store.ping();
      return { status: 'ok', checks: { database: 'ok' } };
    } catch (err) {
      request.log.error({ err }, 'readiness check failed');
      return reply.code(503).send({ status: 'unavailable', checks: { database: 'error' } });
    }
  });
}
