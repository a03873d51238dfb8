import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../../errors/broker-error.ts';
import { listEvents } from '../../events/list.ts';
import * as apiKeys from '../../management/api-keys.ts';
import * as connections from '../../management/connections.ts';
import type { ManagementDeps } from '../../management/deps.ts';
import * as organizations from '../../management/organizations.ts';
import { generatePortalLink } from '../../management/portal-links.ts';
import * as redirectUris from '../../management/redirect-uris.ts';
import * as sessions from '../../management/sessions.ts';
import * as webhooks from '../../webhooks/endpoints.ts';

/**
 * The management API (design/workos-api.md §3–§5), authenticated with `Authorization: Bearer <API key>`.
 * Routes only translate HTTP to service calls; validation and shapes live in `management/`.
 */

type Params = Record<string, string>;

/** Query values as strings (Fastify turns repeated keys into arrays; the first one wins). */
function query(request: FastifyRequest): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    out[k] = Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : undefined;
  }
  return out;
}

export function managementRoutes(
  app: FastifyInstance,
  deps: ManagementDeps,
  resolveTxt: organizations.TxtResolver,
): void {
  app.register(async (api) => {
    api.addHook('onSend', async (request, reply, payload) => {
      // Management responses can carry secrets (a new API key) and always describe live state.
      reply.header('cache-control', 'no-store');
      // Before a write is acknowledged, this node's configuration cache forgets what it changed.
      if (request.method !== 'GET') deps.onConfigChange();
      return payload;
    });
    api.addHook('onRequest', async (request) => {
      const header = request.headers.authorization;
      const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
      if (!m?.[1]) throw new BrokerError('api_key_missing');
      const key = await apiKeys.authenticateApiKey(deps.store, m[1]);
      if (!key) throw new BrokerError('api_key_invalid');
      const verdict = await deps.limiter.hit({ apiKey: key.id }, request.log);
      if (verdict.limited) {
        throw new BrokerError('api_rate_limited', {
          detail: { api_key: key.id },
          retryAfterSeconds: verdict.retryAfterSeconds,
        });
      }
    });

    const noContent = (reply: FastifyReply) => reply.code(204).send();

    // Organizations
    api.get('/organizations', (req) => organizations.listOrganizations(deps, query(req)));
    api.post('/organizations', async (req, reply) =>
      reply.code(201).send(await organizations.createOrganization(deps, req.body)),
    );
    api.get('/organizations/external_id/:externalId', (req) =>
      organizations.getOrganizationByExternalId(deps, (req.params as Params).externalId as string),
    );
    api.get('/organizations/:id', (req) =>
      organizations.getOrganization(deps, (req.params as Params).id as string),
    );
    api.put('/organizations/:id', (req) =>
      organizations.updateOrganization(deps, (req.params as Params).id as string, req.body),
    );
    api.delete('/organizations/:id', async (req, reply) => {
      await organizations.deleteOrganization(deps, (req.params as Params).id as string);
      return noContent(reply);
    });

    // Admin Portal setup links
    api.post('/portal/generate_link', async (req, reply) =>
      reply.code(201).send(await generatePortalLink(deps, req.body)),
    );

    // Organization domains
    api.post('/organization_domains', async (req, reply) =>
      reply.code(201).send(await organizations.createOrganizationDomain(deps, req.body)),
    );
    api.get('/organization_domains/:id', (req) =>
      organizations.getOrganizationDomain(deps, (req.params as Params).id as string),
    );
    api.post('/organization_domains/:id/verify', (req) =>
      organizations.verifyOrganizationDomain(deps, (req.params as Params).id as string, resolveTxt),
    );
    api.delete('/organization_domains/:id', async (req, reply) => {
      await organizations.deleteOrganizationDomain(deps, (req.params as Params).id as string);
      return noContent(reply);
    });

    // Connections
    api.get('/connections', (req) => connections.listConnections(deps, query(req)));
    api.post('/connections', async (req, reply) =>
      reply.code(201).send(await connections.createConnection(deps, req.body)),
    );
    api.get('/connections/:id', (req) =>
      connections.getConnection(deps, (req.params as Params).id as string),
    );
    api.put('/connections/:id', (req) =>
      connections.updateConnection(deps, (req.params as Params).id as string, req.body),
    );
    api.delete('/connections/:id', async (req, reply) => {
      await connections.deleteConnection(deps, (req.params as Params).id as string);
      return noContent(reply);
    });
    api.post('/connections/:id/activate', (req) =>
      connections.activateConnection(deps, (req.params as Params).id as string),
    );
    api.post('/connections/:id/deactivate', (req) =>
      connections.deactivateConnection(deps, (req.params as Params).id as string),
    );
    api.post('/connections/:id/refresh_metadata', (req) =>
      connections.refreshConnectionMetadata(deps, (req.params as Params).id as string),
    );

    // Redirect URIs
    api.get('/redirect_uris', () => redirectUris.listRedirectUris(deps));
    api.post('/redirect_uris', async (req, reply) =>
      reply.code(201).send(await redirectUris.addRedirectUri(deps, req.body)),
    );
    api.post('/redirect_uris/:id/default', (req) =>
      redirectUris.setDefaultRedirectUri(deps, (req.params as Params).id as string),
    );
    api.delete('/redirect_uris/:id', async (req, reply) => {
      await redirectUris.deleteRedirectUri(deps, (req.params as Params).id as string);
      return noContent(reply);
    });

    // Session log
    api.get('/sso/sessions', (req) => sessions.listSessions(deps, query(req)));
    api.get('/sso/sessions/:id', (req) => sessions.getSession(deps, (req.params as Params).id as string));

    // Events (WorkOS shapes; the SDK's events.listEvents)
    api.get('/events', (req) => listEvents(deps, query(req)));

    // Webhook endpoints (the SDK's webhooks.*WebhookEndpoint*; get, rotate_secret and deliveries are ours)
    api.get('/webhook_endpoints', (req) => webhooks.listWebhookEndpoints(deps, query(req)));
    api.post('/webhook_endpoints', async (req, reply) =>
      reply.code(201).send(await webhooks.createWebhookEndpoint(deps, req.body)),
    );
    api.get('/webhook_endpoints/:id', (req) =>
      webhooks.getWebhookEndpoint(deps, (req.params as Params).id as string),
    );
    api.patch('/webhook_endpoints/:id', (req) =>
      webhooks.updateWebhookEndpoint(deps, (req.params as Params).id as string, req.body),
    );
    api.delete('/webhook_endpoints/:id', async (req, reply) => {
      await webhooks.deleteWebhookEndpoint(deps, (req.params as Params).id as string);
      return noContent(reply);
    });
    api.post('/webhook_endpoints/:id/rotate_secret', (req) =>
      webhooks.rotateWebhookSecret(deps, (req.params as Params).id as string),
    );
    api.get('/webhook_endpoints/:id/deliveries', (req) =>
      webhooks.listWebhookDeliveries(deps, (req.params as Params).id as string, query(req)),
    );
    api.get('/webhook_endpoints/:id/deliveries/:eventId', (req) => {
      const params = req.params as Params;
      return webhooks.getWebhookDelivery(deps, params.id as string, params.eventId as string);
    });

    // API keys
    api.get('/api_keys', () => apiKeys.listApiKeys(deps));
    api.post('/api_keys', async (req, reply) =>
      reply.code(201).send(await apiKeys.createApiKey(deps, req.body)),
    );
    api.delete('/api_keys/:id', async (req, reply) => {
      await apiKeys.revokeApiKey(deps, (req.params as Params).id as string);
      return noContent(reply);
    });
  });
}
