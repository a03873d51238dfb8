import { promises as dns, type lookup as dnsLookup } from 'node:dns';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Environment } from './bootstrap.ts';
import type { Config } from './config/load.ts';
import type { ConnectorDeps } from './connectors/connector.ts';
import { DashboardSessions, DashboardSignIns } from './dashboard/session.ts';
import { BrokerError } from './errors/broker-error.ts';
import { CertificateCheck } from './events/certificates.ts';
import { registerErrorHandling, sendBrokerError } from './http/errors.ts';
import { AccessLog, LOG_REDACT_PATHS, requestForLog } from './http/log.ts';
import { metricsEnabled, registerHttpMetrics, registerMetricsEndpoint } from './http/metrics.ts';
import { registerFormParser } from './http/routes/body.ts';
import { dashboardRoutes } from './http/routes/dashboard.ts';
import { healthRoutes } from './http/routes/health.ts';
import { managementRoutes } from './http/routes/management.ts';
import { portalRoutes } from './http/routes/portal.ts';
import { ssoRoutes } from './http/routes/sso.ts';
import { newId } from './lib/ids.ts';
import { checkFetchTarget, createSafeFetch } from './lib/safe-fetch.ts';
import { MAINTENANCE_INTERVAL_MS, runMaintenance } from './maintenance.ts';
import { refreshAllMetadata } from './management/connections.ts';
import type { ManagementDeps } from './management/deps.ts';
import type { TxtResolver } from './management/organizations.ts';
import type { Metrics } from './metrics.ts';
import { PortalSessions } from './portal/session.ts';
import { RateLimiter } from './rate-limiter.ts';
import { ConfigCache } from './sso/config-cache.ts';
import type { FlowDeps } from './sso/deps.ts';
import { RedirectUriAllowlist } from './sso/redirect-uri-allowlist.ts';
import type { Store } from './storage/store.ts';
import { type DispatcherOptions, WebhookDispatcher, webhookFetchRules } from './webhooks/dispatcher.ts';

/**
 * Builds the Fastify application without listening (tests use it directly). Only wiring lives here: the
 * flow is in `sso/`, the API in `management/`, routes in `http/`.
 */

export interface AppOptions {
  config: Config;
  store: Store;
  environment: Environment;
  /** DNS TXT lookups for domain verification (default: the system resolver, 5 s timeout). */
  resolveTxt?: TxtResolver;
  /** Login transaction lifetime (default 10 minutes). */
  transactionTtlMs?: number;
  /** Authorization code lifetime (default 10 minutes). */
  codeTtlMs?: number;
  /** Clock (tests move it). */
  now?: () => Date;
  /** The configuration cache (tests pass their own to clear it after writing to the store directly). */
  configCache?: ConfigCache;
  /** Where the JSON log lines go (default stdout; tests read them). */
  logStream?: NodeJS.WritableStream;
  /** Webhook delivery: a shorter retry schedule or poll interval, another clock or DNS (tests). */
  webhooks?: Pick<DispatcherOptions, 'retryDelaysMs' | 'pollMs' | 'now' | 'stopGraceMs'> & {
    lookup?: typeof dnsLookup;
  };
}

const BODY_LIMIT = 1024 * 1024;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, environment } = options;
  const { trustProxy } = config;
  let closing = false;
  // Prometheus metrics (GET /metrics), only when configured: null otherwise, and nothing is timed or counted (nor
  // is prom-client loaded: it would stay in memory).
  const instrumentation = metricsEnabled(config.metrics) ? await import('./metrics.ts') : null;
  const metrics: Metrics | null = instrumentation ? new instrumentation.Metrics() : null;
  const store =
    instrumentation && metrics ? instrumentation.instrumentStore(options.store, metrics) : options.store;

  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: LOG_REDACT_PATHS,
      // Request URLs without the values of credential and personal-data query parameters.
      serializers: { req: requestForLog },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    // One access log line per request, when it is answered, instead of Fastify's two.
    logController: new AccessLog(),
    genReqId: () => newId('req'),
    // Which peer is the client (request.ip): the TCP peer, or X-Forwarded-For from trusted proxies.
    trustProxy:
      typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
    requestIdHeader: false,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // External IDs and other path parameters may be long once percent-encoded.
    routerOptions: { maxParamLength: 1000 },
    // Requests Fastify rejects before routing (a malformed URL) still get our JSON shape and a request ID.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      request.log.info({ err: error }, 'malformed request URL');
      return sendBrokerError(request, reply, new BrokerError('request_url_invalid'));
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  if (metrics) registerHttpMetrics(app, metrics);
  app.addHook('onClose', async () => {
    closing = true;
  });

  // The SDK sends `Content-Type: application/json` on GET and DELETE with no body: treat empty as absent.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: BODY_LIMIT },
    (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      jsonParser(request, text, done);
    },
  );

  registerFormParser(app, BODY_LIMIT);
  registerErrorHandling(app);

  const now = options.now ?? (() => new Date());
  const connectorDeps: ConnectorDeps = {
    fetch: createSafeFetch({ allowPrivate: config.allowPrivateUrls, timeoutMs: config.upstreamTimeoutMs }),
    allowInsecureHttp: config.allowPrivateUrls,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    cache: new Map(),
    ...(metrics ? { timeUpstream: metrics.timeUpstream.bind(metrics) } : {}),
  };
  const configCache = options.configCache ?? new ConfigCache(store);
  const limiter = new RateLimiter(
    store,
    config.rateLimits,
    now,
    metrics ? (name) => metrics.rateLimited(name) : undefined,
  );
  const flowDeps: FlowDeps = {
    store,
    config: configCache,
    clientId: environment.clientId,
    publicUrl: config.publicUrl,
    legacyDomainSelector: config.legacyDomainSelector,
    redirectUris: new RedirectUriAllowlist(configCache),
    secretBox: environment.secretBox,
    connectorDeps,
    transactionTtlMs: options.transactionTtlMs ?? 10 * 60 * 1000,
    signinConsent: config.signinConsent,
    codeTtlMs: options.codeTtlMs ?? 10 * 60 * 1000,
    accessTokenTtlMs: 10 * 60 * 1000,
    limiter,
    log: app.log,
    now,
  };
  const { lookup: webhookLookup, ...webhookOptions } = options.webhooks ?? {};
  const webhookRules = webhookFetchRules(config.webhooks, webhookLookup);
  const managementDeps: ManagementDeps = {
    store,
    onConfigChange: () => configCache.clear(),
    secretBox: environment.secretBox,
    publicUrl: config.publicUrl,
    allowInsecureHttp: config.allowPrivateUrls,
    fetch: connectorDeps.fetch,
    limiter,
    checkWebhookUrl: (url) => checkFetchTarget(url, webhookRules),
  };
  const resolver = new dns.Resolver({ timeout: 5000, tries: 1 });
  if (config.dnsServers) resolver.setServers(config.dnsServers);
  const resolveTxt: TxtResolver = options.resolveTxt ?? ((name) => resolver.resolveTxt(name));

  // SAML connections configured with a metadata URL re-read it on a schedule, so that a certificate rotation
  // at the IdP needs no action here. Every node runs it; the refresh is idempotent.
  if (config.samlMetadataRefreshMinutes > 0) {
    const every = config.samlMetadataRefreshMinutes * 60 * 1000;
    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      timer = setInterval(() => {
        refreshAllMetadata(managementDeps, app.log).catch((err: unknown) =>
          app.log.error({ err }, 'SAML metadata refresh failed'),
        );
      }, every);
      timer.unref();
    });
    app.addHook('onClose', async () => clearInterval(timer));
  }

  // Expired transactions and grants, the session log and events past their retention, deleted on a schedule;
  // SAML certificates nearing expiry reported (events).
  const certificates = new CertificateCheck();
  let maintenance: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    maintenance = setInterval(() => {
      runMaintenance(store, {
        now: now(),
        sessionLogRetentionDays: config.sessionLogRetentionDays,
        eventRetentionDays: config.eventRetentionDays,
        certificates,
      })
        .then((deleted) => app.log.debug({ deleted }, 'maintenance done'))
        .catch((err: unknown) => app.log.error({ err }, 'maintenance (deleting expired records) failed'));
    }, MAINTENANCE_INTERVAL_MS);
    maintenance.unref();
  });
  app.addHook('onClose', async () => clearInterval(maintenance));

  // Webhook deliveries: every node claims and delivers what is due from the store, from ready to close; a
  // close (SIGTERM) stops claiming and lets the attempts in flight finish (5 s at most, then they are retried).
  const dispatcher = new WebhookDispatcher({
    store,
    secretBox: environment.secretBox,
    fetch: createSafeFetch(webhookRules),
    timeoutMs: config.webhooks.timeoutMs,
    log: app.log,
    metrics,
    ...webhookOptions,
  });
  app.addHook('onReady', async () => dispatcher.start());
  app.addHook('onClose', async () => dispatcher.stop());

  if (metrics) registerMetricsEndpoint(app, metrics, config.metrics);
  healthRoutes(app, store, () => closing);
  ssoRoutes(app, flowDeps, { samlMaxBytes: config.samlMaxBytes });
  managementRoutes(app, managementDeps, resolveTxt);
  portalRoutes(app, {
    store,
    management: managementDeps,
    flow: flowDeps,
    sessions: new PortalSessions(environment.secretBox, config.publicUrl),
    publicUrl: config.publicUrl,
    resolveTxt,
    now,
  });
  if (config.dashboard) {
    dashboardRoutes(app, {
      store,
      management: managementDeps,
      flow: flowDeps,
      sessions: new DashboardSessions(environment.secretBox, config.publicUrl),
      signIns: new DashboardSignIns(environment.secretBox, config.publicUrl),
      publicUrl: config.publicUrl,
      now,
    });
  }
  return app;
}
