import { connectorFor, supportedConnectionTypes } from '../connectors/registry.ts';
import { BrokerError } from '../errors/broker-error.ts';
import { connectionEvent } from '../events/build.ts';
import { certificateRenewedEvents } from '../events/certificates.ts';
import { newId } from '../lib/ids.ts';
import { type FetchLike, upstreamFetchDetail } from '../lib/safe-fetch.ts';
import { randomToken } from '../lib/tokens.ts';
import { callbackUrl, sealerFor } from '../sso/connections.ts';
import {
  type ConnectionPatch,
  type ConnectionRecord,
  type ConnectionState,
  NotFoundError,
  type OrganizationDomainRecord,
} from '../storage/store.ts';
import type { ManagementDeps } from './deps.ts';
import { listResponse, parsePage } from './pagination.ts';
import { objectBody, Validator } from './validate.ts';

/**
 * Connections: WorkOS's list/get/delete, plus create, update, activate and deactivate (ours; WorkOS has no
 * API for them). State machine: `draft` while options are incomplete → `validating` once complete → `active`
 * after the first successful sign-in; `inactive` after deactivate. `status` is the deprecated
 * linked/unlinked view of it.
 */

const ALL_OPTION_KEYS = ['oidc_options', 'saml_options', 'oauth_options'];

/**
 * `fetch` (for documents that options point at), remembering what each failure really was: responses and
 * field errors give only the fixed reason (unreachable, not allowed, timed out); the raw error (host, address,
 * port, errno) goes to the request's log line through the error's `detail`.
 */
function recordingFetch(fetch: FetchLike): {
  fetch: FetchLike;
  detail(): { fetch_failures: string[] } | undefined;
} {
  const failures: string[] = [];
  return {
    fetch: async (url, init) => {
      try {
        return await fetch(url, init);
      } catch (err) {
        failures.push(`${String(url)}: ${upstreamFetchDetail(err) ?? (err as Error)?.message}`);
        throw err;
      }
    },
    detail: () => (failures.length > 0 ? { fetch_failures: failures } : undefined),
  };
}

function notFound(id: string): BrokerError {
  return new BrokerError('not_found', { message: `Connection '${id}' not found.` });
}

export function presentConnection(
  c: ConnectionRecord,
  domains: OrganizationDomainRecord[],
  publicUrl: string,
) {
  const definition = connectorFor(c.connectionType);
  return {
    object: 'connection' as const,
    id: c.id,
    organization_id: c.organizationId,
    connection_type: c.connectionType,
    name: c.name,
    state: c.state,
    status: c.state === 'active' || c.state === 'validating' ? ('linked' as const) : ('unlinked' as const),
    domains: domains
      .filter((d) => d.organizationId === c.organizationId && d.state === 'verified')
      .map((d) => ({ object: 'connection_domain' as const, id: d.id, domain: d.domain })),
    ...(definition
      ? {
          [definition.optionsKey]: definition.presentOptions(c.config, callbackUrl(publicUrl, definition, c)),
        }
      : {}),
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}

async function present(deps: ManagementDeps, c: ConnectionRecord) {
  const domains = c.organizationId ? await deps.store.listDomains([c.organizationId]) : [];
  return presentConnection(c, domains, deps.publicUrl);
}

function rejectForeignOptions(
  v: Validator,
  body: Record<string, unknown>,
  optionsKey: string,
  type: string,
): void {
  for (const key of ALL_OPTION_KEYS) {
    if (key !== optionsKey && body[key] !== undefined)
      v.fail(key, `does not apply to connection_type ${type}; use ${optionsKey}`);
  }
}

export async function createConnection(deps: ManagementDeps, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const type = v.string(body, 'connection_type', { required: true, max: 64 });
  const organizationId = v.string(body, 'organization_id', { max: 64, nullable: true });
  const name = v.string(body, 'name', { max: 255 });
  const definition = type ? connectorFor(type) : undefined;
  if (type && !definition) {
    v.fail('connection_type', `must be one of ${supportedConnectionTypes().join(', ')}`);
  }
  v.done();
  const def = definition as NonNullable<typeof definition>;

  if (def.protocol === 'oauth') {
    // "Sign in with Google" serves every user; each profile's organization follows from its email's domain.
    if (organizationId) {
      v.fail(
        'organization_id',
        `must be omitted for connection_type ${type}: OAuth provider connections belong to the environment`,
      );
    }
  } else if (!organizationId) v.fail('organization_id', `is required for connection_type ${type}`);
  const org = organizationId ? await deps.store.getOrganization(organizationId) : null;
  if (organizationId && !org) v.fail('organization_id', `'${organizationId}' is not an organization`);
  rejectForeignOptions(v, body, def.optionsKey, type as string);
  const id = newId('conn');
  const fetching = recordingFetch(deps.fetch);
  const parsed = await def.parseOptions(body[def.optionsKey], undefined, sealerFor(deps.secretBox, id), {
    allowInsecureHttp: deps.allowInsecureHttp,
    fetch: fetching.fetch,
    label: id,
  });
  for (const e of parsed.errors) v.fail(e.field, e.message);
  v.done(fetching.detail());

  const conn = await deps.store.createConnection({
    id,
    organizationId: org?.id ?? null,
    connectionType: type as string,
    name: name || `${org?.name ?? 'Environment'} ${type}`,
    state: parsed.missing.length > 0 ? 'draft' : 'validating',
    externalKey: randomToken(16),
    config: parsed.config,
  });
  return present(deps, conn);
}

export async function getConnection(deps: ManagementDeps, id: string) {
  const c = await deps.store.getConnection(id);
  if (!c) throw notFound(id);
  return present(deps, c);
}

export const CONNECTION_STATES: readonly ConnectionState[] = ['draft', 'validating', 'active', 'inactive'];

/** `state` (ours; the dashboard's filter) is one of the connection states, or absent. */
export async function listConnections(deps: ManagementDeps, query: Record<string, string | undefined>) {
  const page = parsePage(query);
  const state = query.state || undefined;
  if (state !== undefined && !CONNECTION_STATES.includes(state as ConnectionState)) {
    const v = new Validator();
    v.fail('state', `must be one of ${CONNECTION_STATES.join(', ')}`);
    v.done();
  }
  const result = await deps.store.listConnections(
    {
      connectionType: query.connection_type || undefined,
      organizationId: query.organization_id || undefined,
      domain: query.domain?.trim().toLowerCase() || undefined,
      search: query.search || undefined,
      state: state as ConnectionState | undefined,
    },
    page,
  );
  const orgIds = [
    ...new Set(result.data.map((c) => c.organizationId).filter((x): x is string => x !== null)),
  ];
  const domains = await deps.store.listDomains(orgIds);
  return listResponse(result, (c) => presentConnection(c, domains, deps.publicUrl));
}

/** Changes only the fields given. `connection_type`, `organization_id` and the callback URL never change. */
export async function updateConnection(deps: ManagementDeps, id: string, rawBody: unknown) {
  const body = objectBody(rawBody);
  const current = await deps.store.getConnection(id);
  if (!current) throw notFound(id);
  const definition = connectorFor(current.connectionType);
  const v = new Validator();
  if (body.connection_type !== undefined && body.connection_type !== current.connectionType) {
    v.fail('connection_type', 'cannot be changed; create a new connection instead');
  }
  if (body.organization_id !== undefined && body.organization_id !== current.organizationId) {
    v.fail('organization_id', 'cannot be changed; create a new connection instead');
  }
  const patch: ConnectionPatch = {};
  const name = v.string(body, 'name', { max: 255 });
  if (name === '' || name === null) v.fail('name', 'must not be empty');
  else if (name !== undefined) patch.name = name;
  if (!definition) {
    v.fail('connection_type', `${current.connectionType} connections cannot be edited by this version`);
    v.done();
    return present(deps, current);
  }
  rejectForeignOptions(v, body, definition.optionsKey, current.connectionType);
  let missing: string[] = [];
  const fetching = recordingFetch(deps.fetch);
  if (body[definition.optionsKey] !== undefined) {
    const parsed = await definition.parseOptions(
      body[definition.optionsKey],
      current.config,
      sealerFor(deps.secretBox, id),
      {
        allowInsecureHttp: deps.allowInsecureHttp,
        fetch: fetching.fetch,
        label: id,
      },
    );
    for (const e of parsed.errors) v.fail(e.field, e.message);
    patch.config = parsed.config;
    missing = parsed.missing;
    // New options have not been proven by a sign-in yet.
    if (current.state === 'draft' && missing.length === 0) patch.state = 'validating';
    if (current.state === 'active') patch.state = 'validating';
  }
  v.done(fetching.detail());
  return present(
    deps,
    await deps.store.updateConnection(id, patch, (updated) => certificateRenewedEvents(current, updated)),
  );
}

export async function deleteConnection(deps: ManagementDeps, id: string): Promise<void> {
  const c = await deps.store.getConnection(id);
  if (!c) throw notFound(id);
  try {
    // The event carries the connection as it was, state included.
    await deps.store.deleteConnection(id, [connectionEvent('connection.deleted', await present(deps, c))]);
  } catch (err) {
    if (err instanceof NotFoundError) throw notFound(id);
    throw err;
  }
}

/** inactive → active (or validating if it never signed anyone in); a draft cannot be activated. */
export async function activateConnection(deps: ManagementDeps, id: string) {
  const c = await deps.store.getConnection(id);
  if (!c) throw notFound(id);
  const definition = connectorFor(c.connectionType);
  if (!definition)
    throw new BrokerError('connection_incomplete', {
      message: `${c.connectionType} connections are not supported by this version.`,
    });
  const missing = definition.missingOptions(c.config);
  if (missing.length > 0) {
    throw new BrokerError('connection_incomplete', {
      message: `The connection cannot be activated until these options are set: ${missing.join(', ')}.`,
      fields: missing.map((field) => ({ field, code: `${field} is required` })),
    });
  }
  if (c.state === 'active' || c.state === 'validating') return present(deps, c);
  const state: ConnectionState = c.firstLoginAt ? 'active' : 'validating';
  // `connection.activated` when it is live again; a validating one gets it from its first sign-in.
  const domains = c.organizationId ? await deps.store.listDomains([c.organizationId]) : [];
  const updated = await deps.store.updateConnection(id, { state }, (u) =>
    u.state === 'active'
      ? [connectionEvent('connection.activated', presentConnection(u, domains, deps.publicUrl), c)]
      : [],
  );
  return presentConnection(updated, domains, deps.publicUrl);
}

export async function deactivateConnection(deps: ManagementDeps, id: string) {
  const c = await deps.store.getConnection(id);
  if (!c) throw notFound(id);
  if (c.state === 'inactive') return present(deps, c);
  const domains = c.organizationId ? await deps.store.listDomains([c.organizationId]) : [];
  const updated = await deps.store.updateConnection(id, { state: 'inactive' }, (u) => [
    connectionEvent('connection.deactivated', presentConnection(u, domains, deps.publicUrl), c),
  ]);
  return presentConnection(updated, domains, deps.publicUrl);
}

/**
 * POST /connections/{id}/refresh_metadata: re-reads the IdP metadata of a SAML connection configured with
 * `idp_metadata_url` (new certificates, a moved SSO URL). The schedule does the same for every such
 * connection (GATEHOUSE_SAML_METADATA_REFRESH_MINUTES).
 * @throws BrokerError validation_failed when the connection has no metadata URL or it cannot be used; the
 *   previous metadata stays in use.
 */
export async function refreshConnectionMetadata(deps: ManagementDeps, id: string) {
  const c = await deps.store.getConnection(id);
  if (!c) throw notFound(id);
  const definition = connectorFor(c.connectionType);
  const fetching = recordingFetch(deps.fetch);
  let next: Record<string, unknown> | null;
  try {
    next = definition?.refresh
      ? await definition.refresh(c.config, {
          allowInsecureHttp: deps.allowInsecureHttp,
          fetch: fetching.fetch,
          label: c.id,
        })
      : null;
  } catch (err) {
    // The connector's message holds the fixed reasons only (see fetchIdpMetadata).
    throw new BrokerError('validation_failed', {
      message: `The metadata could not be refreshed (${(err as Error).message}); the previous metadata stays in use.`,
      fields: [{ field: 'saml_options.idp_metadata_url', code: (err as Error).message }],
      ...(fetching.detail() ? { detail: fetching.detail() } : {}),
    });
  }
  if (!next) {
    throw new BrokerError('validation_failed', {
      message: 'Only SAML connections configured with idp_metadata_url can refresh their metadata.',
      fields: [{ field: 'saml_options.idp_metadata_url', code: 'saml_options.idp_metadata_url is not set' }],
    });
  }
  return present(
    deps,
    await deps.store.updateConnection(id, { config: next }, (updated) =>
      certificateRenewedEvents(c, updated),
    ),
  );
}

/**
 * Refreshes every connection that can (the schedule). Failures are logged, never thrown: one unreachable IdP
 * must not stop the others, and its previous metadata stays in use.
 */
export async function refreshAllMetadata(
  deps: ManagementDeps,
  log: {
    info(obj: Record<string, unknown>, msg: string): void;
    warn(obj: Record<string, unknown>, msg: string): void;
  },
): Promise<{ refreshed: number; failed: number }> {
  let after: string | undefined;
  let refreshed = 0;
  let failed = 0;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await deps.store.listConnections({}, { limit: 100, order: 'asc', after });
    for (const c of page.data) {
      if (!(c.config as { metadataUrl?: unknown }).metadataUrl || !connectorFor(c.connectionType)?.refresh)
        continue;
      try {
        await refreshConnectionMetadata(deps, c.id);
        refreshed++;
      } catch (err) {
        failed++;
        log.warn(
          { connection: c.id, reason: (err as Error).message, detail: (err as BrokerError).detail },
          'SAML metadata refresh failed; keeping the previous metadata',
        );
      }
    }
    if (!page.after) break;
    after = page.after;
  }
  if (refreshed + failed > 0) log.info({ refreshed, failed }, 'SAML metadata refreshed');
  if (refreshed > 0) deps.onConfigChange();
  return { refreshed, failed };
}
