import { providerDisplayName } from '../connectors/providers/config.ts';
import { connectorFor } from '../connectors/registry.ts';
import { isBrokerError } from '../errors/broker-error.ts';
import {
  activateConnection,
  CONNECTION_STATES,
  deactivateConnection,
  deleteConnection,
  getConnection,
  listConnections,
  refreshConnectionMetadata,
} from '../management/connections.ts';
import { generatePortalLink, portalConnectionType } from '../management/portal-links.ts';
import { presentSession } from '../management/sessions.ts';
import { diagnoseConnection, type Problem } from '../portal/doctor.ts';
import { acsUrlRegex, guideForType, VALUE_LABELS } from '../portal/guides.ts';
import { adminErrors } from '../portal/sso.ts';
import { identityProviderOf } from '../sso/callback/shared.ts';
import type { ConnectionState, ConnectionStats } from '../storage/store.ts';
import { type CreateState, createFromForm, typeChoices } from './create-connection.ts';
import {
  audit,
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  messagePage,
  page,
} from './dashboard.ts';

/**
 * The dashboard's connections (issue 13): the list with each connection's sign-ins (Store.connectionStats, one
 * index read per page) and IdP certificate expiry, and one connection's page: the values its IT admin needs, what
 * is saved of the IdP's side, the connection doctor, recent sign-ins, and the actions (activate, deactivate,
 * delete after a confirmation, refresh metadata, run the doctor, a test sign-in through an Admin Portal link). The
 * list adds the environment's OAuth provider connections (organizations' connections are added on their pages).
 * Everything reads and changes through the management API's functions; every change is in the audit log.
 */

type Form = Record<string, string | undefined>;

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** A certificate expiring sooner than this gets a warning (as the doctor's and the renewal events' first threshold). */
const CERTIFICATE_WARNING_DAYS = 90;

const STATE_LABELS: Record<ConnectionState, string> = {
  draft: 'Draft',
  validating: 'Validating',
  active: 'Active',
  inactive: 'Inactive',
};

const STATE_HINTS: Record<ConnectionState, string> = {
  draft: 'its options are incomplete: no sign-in can start',
  validating: 'on; no sign-in has succeeded yet',
  active: 'on',
  inactive: 'off: sign-ins are refused',
};

/** What presentConnection returns, as far as these pages read it. */
interface Presented {
  id: string;
  organization_id: string | null;
  connection_type: string;
  name: string;
  state: ConnectionState;
  created_at: string;
  updated_at: string;
  saml_options?: {
    acs_url?: string;
    sp_entity_id?: string;
    sp_metadata_url?: string;
    idp_entity_id?: string | null;
    idp_sso_url?: string | null;
    idp_metadata_url?: string | null;
    metadata_fetched_at?: string | null;
    idp_certificate_fingerprints?: ({ sha256: string; not_after: string } | null)[];
  };
  oidc_options?: {
    issuer?: string | null;
    client_id?: string | null;
    scopes?: string[];
    redirect_uri?: string;
  };
  oauth_options?: { client_id?: string | null; redirect_uri?: string };
}

function when(value: Date | string | null | undefined): string {
  if (!value) return '';
  const iso = typeof value === 'string' ? value : value.toISOString();
  return `${iso.replace('T', ' ').slice(0, 16)} UTC`;
}

/** The IdP: its guide's name (Okta, Entra ID, …) and the host of its issuer or sign-in URL. */
function idpOf(c: Presented): { name: string; host: string | null } {
  const host = identityProviderOf({
    connectionType: c.connection_type,
    config: { issuer: c.oidc_options?.issuer, idpSsoUrl: c.saml_options?.idp_sso_url },
  });
  const name = guideForType(c.connection_type)?.name ?? host;
  return { name, host: host === name || host === c.connection_type ? null : host };
}

/** The IdP certificate that expires last (a connection trusts each it lists), with a warning under 90 days. */
function certificateOf(
  c: Presented,
  now: Date,
): { expires: string; days: number; level: 'ok' | 'warn' | 'bad' } | null {
  let latest: Date | null = null;
  for (const cert of c.saml_options?.idp_certificate_fingerprints ?? []) {
    const notAfter = cert ? new Date(cert.not_after) : null;
    if (notAfter && (!latest || notAfter > latest)) latest = notAfter;
  }
  if (!latest) return null;
  const days = Math.ceil((latest.getTime() - now.getTime()) / DAY_MS);
  return {
    expires: latest.toISOString().slice(0, 10),
    days,
    level: days <= 0 ? 'bad' : days < CERTIFICATE_WARNING_DAYS ? 'warn' : 'ok',
  };
}

function certificateText(cert: ReturnType<typeof certificateOf>): string {
  if (!cert) return '';
  if (cert.level === 'bad') return `expired ${cert.expires}`;
  return `${cert.expires} (in ${cert.days} day${cert.days === 1 ? '' : 's'})`;
}

function rate(failed: number, total: number): string {
  return total === 0 ? '' : `${Math.round((failed / total) * 100)}% failed`;
}

function statsView(s: ConnectionStats | undefined) {
  const stats = s ?? {
    lastSucceededAt: null,
    lastFailedAt: null,
    total24h: 0,
    failed24h: 0,
    total7d: 0,
    failed7d: 0,
  };
  return {
    lastSucceeded: when(stats.lastSucceededAt) || 'never',
    lastFailed: when(stats.lastFailedAt) || 'never',
    total24h: stats.total24h,
    rate24h: rate(stats.failed24h, stats.total24h),
    total7d: stats.total7d,
    rate7d: rate(stats.failed7d, stats.total7d),
  };
}

async function organizationNames(deps: DashboardDeps, ids: (string | null)[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids.filter((id): id is string => id !== null))];
  const orgs = await Promise.all(unique.map((id) => deps.store.getOrganization(id)));
  return new Map(orgs.flatMap((o) => (o ? [[o.id, o.name] as const] : [])));
}

function statsOf(deps: DashboardDeps, ids: string[]): Promise<Map<string, ConnectionStats>> {
  const now = deps.now().getTime();
  return deps.store.connectionStats(ids, new Date(now - DAY_MS), new Date(now - 7 * DAY_MS));
}

function connectionPath(deps: DashboardDeps, id: string, query = ''): string {
  return `${dashboardPath(deps, `connections/${encodeURIComponent(id)}`)}${query}`;
}

/** `GET /dashboard/connections?organization_id=&state=&after=&before=`: 25 a page, newest first. */
export async function connections(
  deps: DashboardDeps,
  ctx: DashboardContext,
  query: Form,
  create?: CreateState,
): Promise<DashboardResult> {
  const organizationId = (query.organization_id ?? '').trim().slice(0, 100);
  const state = CONNECTION_STATES.includes(query.state as ConnectionState)
    ? (query.state as ConnectionState)
    : '';
  const filters = {
    ...(organizationId ? { organization_id: organizationId } : {}),
    ...(state ? { state } : {}),
  };
  const list = (await listConnections(deps.management, {
    limit: '25',
    order: 'desc',
    ...filters,
    ...(query.after ? { after: query.after.slice(0, 100) } : {}),
    ...(query.before ? { before: query.before.slice(0, 100) } : {}),
  })) as { data: Presented[]; list_metadata: { before: string | null; after: string | null } };
  const [names, stats] = await Promise.all([
    organizationNames(
      deps,
      list.data.map((c) => c.organization_id),
    ),
    statsOf(
      deps,
      list.data.map((c) => c.id),
    ),
  ]);
  const now = deps.now();
  const link = (cursor: 'after' | 'before', value: string | null) =>
    value
      ? `${dashboardPath(deps, 'connections')}?${new URLSearchParams({ ...filters, [cursor]: value })}`
      : null;
  return page(
    deps,
    'connections',
    {
      title: 'Connections',
      organizationId,
      organizationName: organizationId ? (names.get(organizationId) ?? null) : null,
      state,
      states: CONNECTION_STATES.map((s) => ({ value: s, label: STATE_LABELS[s] })),
      notice: query.notice === 'deleted' ? 'The connection was deleted.' : null,
      rows: list.data.map((c) => {
        const cert = certificateOf(c, now);
        return {
          id: c.id,
          name: c.name,
          href: connectionPath(deps, c.id),
          state: c.state,
          stateLabel: STATE_LABELS[c.state],
          type: c.connection_type,
          idp: idpOf(c),
          organization: c.organization_id
            ? {
                id: c.organization_id,
                name: names.get(c.organization_id) ?? c.organization_id,
                href: `${dashboardPath(deps, 'connections')}?${new URLSearchParams({ organization_id: c.organization_id })}`,
              }
            : null,
          stats: statsView(stats.get(c.id)),
          certificate: cert ? { ...cert, text: certificateText(cert) } : null,
        };
      }),
      older: link('after', list.list_metadata.after),
      newer: link('before', list.list_metadata.before),
      add: { types: typeChoices('oauth'), errors: create?.errors ?? {}, form: create?.form ?? {} },
    },
    { context: ctx, requestId: ctx.requestId, current: 'connections', status: create ? 422 : 200 },
  );
}

/**
 * `POST /dashboard/connections` {connection_type, name, client_id, client_secret}: an OAuth provider connection of
 * the environment ("Sign in with Google"), through `createConnection`; then its page, with the redirect URI to
 * register at the provider. Refused: the list again, the errors by their fields (422).
 */
export async function addProvider(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  const result = await createFromForm(deps, ctx, 'oauth', form, null);
  if ('refused' in result) return connections(deps, ctx, {}, result.refused);
  return {
    kind: 'redirect',
    location: connectionPath(deps, result.created.id, '?notice=created'),
    session: ctx.session,
  };
}

function notFound(deps: DashboardDeps, ctx: DashboardContext): DashboardResult {
  return messagePage(
    deps,
    404,
    'Connection not found',
    'It may have been deleted meanwhile. Go back to the list of connections.',
    ctx.requestId,
    { code: 'dashboard_connection_not_found', context: ctx },
  );
}

/** The connection as the management API presents it, or null when there is none. */
async function load(deps: DashboardDeps, id: string): Promise<Presented | null> {
  try {
    return (await getConnection(deps.management, id)) as Presented;
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) return null;
    throw err;
  }
}

const NOTICES: Record<string, string> = {
  activated: 'The connection is on.',
  deactivated: 'The connection is off: sign-ins through it are refused until it is activated again.',
  refreshed: "The IdP's metadata was read again.",
  doctor: 'The doctor checked the connection again.',
  created: 'The connection was created.',
};

/** `GET /dashboard/connections/:id`: everything about one connection, and its actions. */
export async function connection(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  options: { notice?: string | undefined; error?: string; status?: number } = {},
): Promise<DashboardResult> {
  const c = await load(deps, id);
  const record = c ? await deps.store.getConnection(id) : null;
  if (!c || !record) return notFound(deps, ctx);
  const now = deps.now();
  const [names, stats, problems, recent] = await Promise.all([
    organizationNames(deps, [c.organization_id]),
    statsOf(deps, [c.id]),
    c.state === 'draft' ? Promise.resolve([] as Problem[]) : diagnoseConnection(deps, record),
    deps.store.listSessions({ connectionId: c.id }, { limit: 10, order: 'desc' }),
  ]);
  const guide = guideForType(c.connection_type);
  const saml = c.saml_options;
  const values: { key: string; label: string; value: string }[] = [];
  const value = (key: keyof typeof VALUE_LABELS, v: string | undefined) => {
    if (v) values.push({ key, label: VALUE_LABELS[key], value: v });
  };
  value('acs_url', saml?.acs_url);
  value('sp_entity_id', saml?.sp_entity_id);
  value('sp_metadata_url', saml?.sp_metadata_url);
  value('acs_url_regex', saml?.acs_url ? acsUrlRegex(saml.acs_url) : undefined);
  value('redirect_uri', c.oidc_options?.redirect_uri ?? c.oauth_options?.redirect_uri);

  const saved: { label: string; value: string }[] = [];
  const fact = (label: string, v: unknown) => {
    if (typeof v === 'string' && v) saved.push({ label, value: v });
  };
  fact('Metadata URL', saml?.idp_metadata_url);
  fact('Metadata read', saml?.metadata_fetched_at ? when(saml.metadata_fetched_at) : null);
  fact('Entity ID (issuer)', saml?.idp_entity_id);
  fact('Single sign-on URL', saml?.idp_sso_url);
  fact('Issuer', c.oidc_options?.issuer);
  fact('Client ID', c.oidc_options?.client_id ?? c.oauth_options?.client_id);
  fact('Scopes', c.oidc_options?.scopes?.join(' '));
  if (c.oidc_options || c.oauth_options) {
    fact(
      'Client secret',
      typeof (record.config as { clientSecret?: unknown }).clientSecret === 'string' ? 'saved' : 'not saved',
    );
  }
  const certificates = (saml?.idp_certificate_fingerprints ?? []).flatMap((cert) => {
    if (!cert) return [];
    const days = Math.ceil((new Date(cert.not_after).getTime() - now.getTime()) / DAY_MS);
    return [
      {
        sha256: cert.sha256,
        expires: when(cert.not_after),
        level: days <= 0 ? 'bad' : days < CERTIFICATE_WARNING_DAYS ? 'warn' : 'ok',
        text: days <= 0 ? 'expired' : `in ${days} day${days === 1 ? '' : 's'}`,
      },
    ];
  });
  const cert = certificateOf(c, now);
  // A draft: what it still needs, in the Admin Portal's words for its fields.
  const missing =
    c.state === 'draft'
      ? Object.values(
          adminErrors(
            (connectorFor(c.connection_type)?.missingOptions(record.config) ?? []).map((field) => ({
              field,
              code: `${field} is not set yet`,
            })),
          ),
        )
      : [];
  const oauth = Boolean(c.oauth_options);
  return page(
    deps,
    'connection',
    {
      title: c.name,
      connection: {
        id: c.id,
        name: c.name,
        state: c.state,
        stateLabel: STATE_LABELS[c.state],
        stateHint: STATE_HINTS[c.state],
        type: c.connection_type,
        created: when(c.created_at),
        updated: when(c.updated_at),
      },
      path: connectionPath(deps, c.id),
      idp: idpOf(c),
      guideName: guide?.name ?? null,
      organization: c.organization_id
        ? { id: c.organization_id, name: names.get(c.organization_id) ?? c.organization_id }
        : null,
      notice: options.notice ? (NOTICES[options.notice] ?? null) : null,
      justCreated: options.notice === 'created',
      error: options.error ?? null,
      values,
      valuesHeading: oauth
        ? `At ${providerDisplayName(c.connection_type) ?? c.connection_type}`
        : `For the IT admin${guide ? ` (${guide.name})` : ''}`,
      valuesText: oauth
        ? 'Register this redirect URI in the OAuth app (its authorized redirect or callback URL).'
        : 'The values to enter at the identity provider.',
      draft: c.state === 'draft' ? { missing, portal: c.organization_id !== null && !oauth } : null,
      saved,
      certificates,
      certificate: cert ? { ...cert, text: certificateText(cert) } : null,
      problems,
      checked: c.state !== 'draft',
      stats: statsView(stats.get(c.id)),
      recent: recent.data.map((s) => {
        const p = presentSession(s, now);
        return {
          href: dashboardPath(deps, `sessions/${encodeURIComponent(p.id)}`),
          when: when(p.created_at),
          outcome: p.outcome,
          stage: p.failed_stage ?? '',
          reason: p.reason ?? '',
          email: p.email ?? '',
          explanation: p.explanation ?? '',
          requestId: p.request_ids.authorize,
        };
      }),
      sessionsHref: `${dashboardPath(deps, 'sessions')}?${new URLSearchParams({ connection_id: c.id })}`,
      can: {
        activate: c.state === 'inactive',
        deactivate: c.state === 'active' || c.state === 'validating',
        refresh: Boolean(saml?.idp_metadata_url),
        test: Boolean(c.organization_id) && portalConnectionType(c.connection_type) && c.state !== 'draft',
      },
    },
    { context: ctx, requestId: ctx.requestId, current: 'connections', status: options.status ?? 200 },
  );
}

type Action = 'activate' | 'deactivate' | 'refresh_metadata';

const ACTIONS: Record<
  Action,
  { run: (deps: DashboardDeps, id: string) => Promise<unknown>; audit: string; notice: string }
> = {
  activate: {
    run: (deps, id) => activateConnection(deps.management, id),
    audit: 'connection.activate',
    notice: 'activated',
  },
  deactivate: {
    run: (deps, id) => deactivateConnection(deps.management, id),
    audit: 'connection.deactivate',
    notice: 'deactivated',
  },
  refresh_metadata: {
    run: (deps, id) => refreshConnectionMetadata(deps.management, id),
    audit: 'connection.refresh_metadata',
    notice: 'refreshed',
  },
};

/**
 * `POST /dashboard/connections/:id/{activate,deactivate,refresh_metadata}`: the management function, audited, then
 * back to the connection's page. A refusal (a draft cannot be activated; no metadata URL; the IdP's metadata
 * cannot be read) is shown on the page, nothing changed.
 */
export async function act(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  action: Action,
): Promise<DashboardResult> {
  const { run, audit: what, notice } = ACTIONS[action];
  const before = await load(deps, id);
  if (!before) return notFound(deps, ctx);
  let after: Presented;
  try {
    after = (await run(deps, id)) as Presented;
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) return notFound(deps, ctx);
    if (isBrokerError(err) && err.entry.status < 500) {
      return connection(deps, ctx, id, { error: err.message, status: 422 });
    }
    throw err;
  }
  deps.management.onConfigChange();
  await audit(
    deps,
    ctx,
    what,
    { type: 'connection', id },
    action === 'refresh_metadata'
      ? { name: after.name }
      : { name: after.name, from: before.state, to: after.state },
  );
  return { kind: 'redirect', location: connectionPath(deps, id, `?notice=${notice}`), session: ctx.session };
}

/** `POST /dashboard/connections/:id/doctor`: the connection's page again, with the doctor run now. */
export function doctor(deps: DashboardDeps, ctx: DashboardContext, id: string): Promise<DashboardResult> {
  return connection(deps, ctx, id, { notice: 'doctor' });
}

/**
 * `POST /dashboard/connections/:id/delete`: without `confirm=yes`, a page that asks (its form posts `confirm=yes`);
 * with it, `deleteConnection`, audited, then the list.
 */
export async function remove(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  const c = await load(deps, id);
  if (!c) return notFound(deps, ctx);
  if (form.confirm !== 'yes') {
    const names = await organizationNames(deps, [c.organization_id]);
    return page(
      deps,
      'connection-delete',
      {
        title: `Delete ${c.name}?`,
        connection: { id: c.id, name: c.name, type: c.connection_type, state: c.state },
        organization: c.organization_id ? (names.get(c.organization_id) ?? c.organization_id) : null,
        path: connectionPath(deps, c.id),
      },
      { context: ctx, requestId: ctx.requestId, current: 'connections' },
    );
  }
  try {
    await deleteConnection(deps.management, id);
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) return notFound(deps, ctx);
    throw err;
  }
  deps.management.onConfigChange();
  await audit(
    deps,
    ctx,
    'connection.delete',
    { type: 'connection', id },
    {
      name: c.name,
      connection_type: c.connection_type,
      organization_id: c.organization_id,
    },
  );
  return {
    kind: 'redirect',
    location: `${dashboardPath(deps, 'connections')}?notice=deleted`,
    session: ctx.session,
  };
}

/**
 * `POST /dashboard/connections/:id/test_sign_in`: an Admin Portal link (SSO) for the connection's organization.
 * The test sign-in runs in the portal, where it belongs to the IT admin's portal session: the result comes back
 * from the IdP to the portal's result page, bound to that session (a MAC and a PKCE verifier under its secret).
 * The dashboard cannot take its place: its cookie is SameSite=Strict, so it is not sent on the IdP's redirect
 * back, and the operator usually has no account at the customer's IdP. The IT admin, who has one, opens the link.
 */
export async function testSignIn(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
): Promise<DashboardResult> {
  const c = await load(deps, id);
  if (!c) return notFound(deps, ctx);
  if (!c.organization_id || !portalConnectionType(c.connection_type) || c.state === 'draft') {
    return connection(deps, ctx, id, {
      error:
        c.state === 'draft'
          ? 'A draft connection cannot be tested: its options are incomplete.'
          : 'This connection belongs to the environment, not to an organization: test it by signing in through your app.',
      status: 422,
    });
  }
  const { link } = await generatePortalLink(deps.management, {
    organization: c.organization_id,
    intent: 'sso',
  });
  await audit(
    deps,
    ctx,
    'connection.test_sign_in_link',
    { type: 'connection', id },
    { organization_id: c.organization_id },
  );
  return page(
    deps,
    'link',
    {
      title: 'Test sign-in link',
      heading: 'Test sign-in',
      text: `Test sign-ins run in the Admin Portal, as a user of the organization's identity provider. Send this link to the organization's IT admin (or open it yourself if you have an account at their identity provider): it opens their single sign-on setup, where "Test sign-in" signs in through ${c.name} and shows the profile it gives, or why it failed.`,
      label: 'Admin Portal link',
      link,
      validity: 'within 5 minutes',
      back: connectionPath(deps, id),
    },
    { context: ctx, requestId: ctx.requestId, current: 'connections' },
  );
}
