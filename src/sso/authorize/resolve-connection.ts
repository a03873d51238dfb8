import { BrokerError } from '../../errors/broker-error.ts';
import type { ConnectionRecord } from '../../storage/store.ts';
import type { FlowDeps } from '../deps.ts';
import { type AuthorizeContext, param } from './context.ts';

const usable = (c: ConnectionRecord) => c.state === 'validating' || c.state === 'active';

/**
 * Step 4: pick exactly one connection from exactly one selector (WorkOS get-authorization-url).
 * - `domain` (deprecated): `domain_connection_selector_not_allowed`, unless GATEHOUSE_LEGACY_DOMAIN_SELECTOR
 *   is on; then it is a selector resolved through verified organization domains.
 * - none, or more than one, of connection / organization / provider (/ domain): `invalid_connection_selector`.
 * - connection: unknown → `connection_invalid`; draft or inactive → `connection_unlinked`.
 * - organization: unknown, or no usable connection → `organization_invalid`; several → `ambiguous_connection_selector`.
 * - provider: none of that type → `invalid_connection_selector`; several → `connection_strategy_invalid`.
 * Empty values count as absent.
 */
export async function resolveConnection(ctx: AuthorizeContext, deps: FlowDeps): Promise<void> {
  const domain = param(ctx, 'domain') || undefined;
  if (domain !== undefined && !deps.legacyDomainSelector)
    throw new BrokerError('domain_selector_not_allowed');

  const selectors = {
    connection: param(ctx, 'connection') || undefined,
    organization: param(ctx, 'organization') || undefined,
    provider: param(ctx, 'provider') || undefined,
    domain,
  };
  const given = Object.entries(selectors).filter(([, v]) => v !== undefined);
  if (given.length === 0) throw new BrokerError('selector_missing');
  if (given.length > 1)
    throw new BrokerError('selector_multiple', { detail: { selectors: given.map(([k]) => k) } });

  const store = deps.config;
  let connection: ConnectionRecord;
  if (selectors.connection !== undefined) {
    const found = await store.getConnection(selectors.connection);
    if (!found)
      throw new BrokerError('connection_not_found', { detail: { connection: selectors.connection } });
    connection = found;
  } else if (selectors.organization !== undefined) {
    const org = await store.getOrganization(selectors.organization);
    if (!org)
      throw new BrokerError('organization_not_found', { detail: { organization: selectors.organization } });
    connection = pickOrganizationConnection(await store.listOrganizationConnections(org.id), org.id);
  } else if (selectors.provider !== undefined) {
    const all = await store.listConnectionsByType(selectors.provider);
    if (all.length === 0)
      throw new BrokerError('provider_not_configured', { detail: { provider: selectors.provider } });
    if (all.length > 1) {
      throw new BrokerError('provider_ambiguous', {
        detail: { provider: selectors.provider, connections: all.map((c) => c.id) },
      });
    }
    connection = all[0] as ConnectionRecord;
    ctx.connection = connection;
  } else {
    const name = (domain as string).toLowerCase().replace(/\.$/, '');
    const verified = await store.findVerifiedDomain(name);
    if (!verified) throw new BrokerError('domain_without_connection', { detail: { domain: name } });
    ctx.organizationId = verified.organizationId;
    const candidates = (await store.listOrganizationConnections(verified.organizationId)).filter(usable);
    if (candidates.length === 0)
      throw new BrokerError('domain_without_connection', { detail: { domain: name } });
    connection = pickOrganizationConnection(candidates, verified.organizationId);
  }

  if (!usable(connection)) {
    throw new BrokerError('connection_unlinked', {
      detail: { connection: connection.id, state: connection.state },
    });
  }
  ctx.connection = connection;
}

function pickOrganizationConnection(
  connections: ConnectionRecord[],
  organizationId: string,
): ConnectionRecord {
  const candidates = connections.filter(usable);
  if (candidates.length === 0) {
    throw new BrokerError('organization_without_connection', {
      detail: { organization: organizationId, connections: connections.map((c) => `${c.id}:${c.state}`) },
    });
  }
  if (candidates.length > 1) {
    throw new BrokerError('organization_ambiguous', {
      detail: { organization: organizationId, connections: candidates.map((c) => c.id) },
    });
  }
  return candidates[0] as ConnectionRecord;
}
