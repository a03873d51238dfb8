import { listConnections } from '../management/connections.ts';
import {
  createOrganizationDomain,
  deleteOrganizationDomain,
  getOrganization,
  getOrganizationDomain,
  updateOrganization,
} from '../management/organizations.ts';
import { generatePortalLink, SERVED_INTENTS } from '../management/portal-links.ts';
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
import { refusal } from './environment.ts';

/**
 * One organization (`/dashboard/organizations/:id`): its name and external ID (editable), its domains with their
 * state (add one verified by the operator, or pending for the customer to prove; remove one), its connections
 * (each links to its page; add one: OpenID Connect or SAML, the IdP's side now or later by the IT admin), and Admin
 * Portal links for its IT admin (SSO setup or domain verification). Every read and change goes through the
 * management API's functions; every change is in the audit log.
 */

type Form = Record<string, string | undefined>;

type Organization = Awaited<ReturnType<typeof getOrganization>>;

const CONNECTIONS_SHOWN = 100;

const DOMAIN_STATES: Record<string, { label: string; badge: string }> = {
  verified: { label: 'Verified', badge: 'active' },
  pending: { label: 'Pending verification', badge: 'validating' },
  failed: { label: 'Verification failed', badge: 'failed' },
};

const CONNECTION_STATES: Record<string, string> = {
  draft: 'Draft',
  validating: 'Validating',
  active: 'Active',
  inactive: 'Inactive',
};

function notFound(deps: DashboardDeps, ctx: DashboardContext): DashboardResult {
  return messagePage(
    deps,
    404,
    'Organization not found',
    'It may have been deleted meanwhile.',
    ctx.requestId,
    {
      context: ctx,
    },
  );
}

async function find(deps: DashboardDeps, id: string): Promise<Organization | null> {
  try {
    return await getOrganization(deps.management, id);
  } catch (err) {
    if (refusal(err).status === 404) return null;
    throw err;
  }
}

/** `GET /dashboard/organizations/:id`. */
export async function organization(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  notice: {
    status?: number;
    error?: { section: 'details' | 'domains'; message: string };
    form?: Form;
    create?: CreateState;
  } = {},
): Promise<DashboardResult> {
  const org = await find(deps, id);
  if (!org) return notFound(deps, ctx);
  const connections = (await listConnections(deps.management, {
    organization_id: org.id,
    limit: String(CONNECTIONS_SHOWN),
    order: 'asc',
  })) as {
    data: { id: string; name: string; connection_type: string; state: string }[];
    list_metadata: { after: string | null };
  };
  return page(
    deps,
    'organization',
    {
      title: org.name,
      org: { id: org.id, name: org.name, externalId: org.external_id ?? '' },
      domains: org.domains.map((d) => ({
        id: d.id,
        domain: d.domain,
        state: DOMAIN_STATES[d.state]?.label ?? d.state,
        badge: DOMAIN_STATES[d.state]?.badge ?? '',
        strategy: d.verification_strategy === 'manual' ? 'by an operator' : 'DNS TXT record',
      })),
      connections: connections.data.map((c) => ({
        id: c.id,
        name: c.name,
        type: c.connection_type,
        state: CONNECTION_STATES[c.state] ?? c.state,
        badge: c.state,
      })),
      moreConnections: connections.list_metadata.after !== null,
      intents: SERVED_INTENTS.map((intent) => ({
        intent,
        label: intent === 'sso' ? 'Set up SSO' : 'Verify a domain',
      })),
      error: notice.error ?? null,
      form: notice.form ?? {},
      add: {
        oidc: {
          types: typeChoices('oidc'),
          ...(notice.create?.protocol === 'oidc' ? notice.create : { errors: {}, form: {} }),
        },
        saml: {
          types: typeChoices('saml'),
          ...(notice.create?.protocol === 'saml' ? notice.create : { errors: {}, form: {} }),
        },
      },
    },
    { context: ctx, requestId: ctx.requestId, current: 'organizations', status: notice.status ?? 200 },
  );
}

function back(deps: DashboardDeps, ctx: DashboardContext, id: string): DashboardResult {
  return {
    kind: 'redirect',
    location: dashboardPath(deps, `organizations/${encodeURIComponent(id)}`),
    session: ctx.session,
  };
}

/** `POST /dashboard/organizations/:id` {name, external_id}: `updateOrganization` with these two fields. */
export async function updateDetails(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  const name = (form.name ?? '').trim();
  const externalId = (form.external_id ?? '').trim();
  try {
    const updated = await updateOrganization(deps.management, id, { name, external_id: externalId || null });
    deps.management.onConfigChange();
    await audit(
      deps,
      ctx,
      'organization.update',
      { type: 'organization', id },
      { name: updated.name, external_id: updated.external_id },
    );
  } catch (err) {
    const { status, message } = refusal(err);
    if (status === 404) return notFound(deps, ctx);
    return organization(deps, ctx, id, { status, error: { section: 'details', message }, form });
  }
  return back(deps, ctx, id);
}

/**
 * `POST /dashboard/organizations/:id/domains` {domain, state}: `pending` through `createOrganizationDomain` (the
 * customer proves it with a DNS record, e.g. from an Admin Portal link for domain verification); `verified` (the
 * operator vouches for it) through `updateOrganization`'s domain list, as the API's clients do it: the
 * organization's other domains are listed as they are (a failed one as pending: the API knows no other
 * unverified state), so they keep their rows and tokens.
 */
export async function addDomain(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  const domain = (form.domain ?? '').trim();
  const state = form.state === 'verified' ? 'verified' : 'pending';
  try {
    let added: { id: string; domain: string } | undefined;
    if (state === 'pending') {
      added = await createOrganizationDomain(deps.management, { organization_id: id, domain });
    } else {
      const org = await getOrganization(deps.management, id);
      const updated = await updateOrganization(deps.management, id, {
        domain_data: [
          ...org.domains.map((d) => ({
            domain: d.domain,
            state: d.state === 'verified' ? 'verified' : 'pending',
          })),
          { domain, state: 'verified' },
        ],
      });
      const known = new Set(org.domains.map((d) => d.id));
      added = updated.domains.find((d) => !known.has(d.id));
    }
    deps.management.onConfigChange();
    await audit(
      deps,
      ctx,
      'organization_domain.add',
      { type: 'organization', id },
      { domain: added?.domain ?? domain, state, domain_id: added?.id ?? null },
    );
  } catch (err) {
    const { status, message } = refusal(err);
    if (status === 404) return notFound(deps, ctx);
    return organization(deps, ctx, id, { status, error: { section: 'domains', message }, form });
  }
  return back(deps, ctx, id);
}

/** `POST /dashboard/organizations/:id/domains/:domainId/remove`: `deleteOrganizationDomain`, for this organization's only. */
export async function removeDomain(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  domainId: string,
): Promise<DashboardResult> {
  try {
    const d = await getOrganizationDomain(deps.management, domainId);
    if (d.organization_id !== id) return notFound(deps, ctx);
    await deleteOrganizationDomain(deps.management, domainId);
    deps.management.onConfigChange();
    await audit(
      deps,
      ctx,
      'organization_domain.remove',
      { type: 'organization', id },
      { domain: d.domain, domain_id: d.id },
    );
  } catch (err) {
    const { status, message } = refusal(err);
    if (status === 404) return notFound(deps, ctx);
    return organization(deps, ctx, id, { status, error: { section: 'domains', message } });
  }
  return back(deps, ctx, id);
}

/**
 * `POST /dashboard/organizations/:id/connections` {protocol (which form: `oidc` or `saml`), connection_type, name,
 * and the IdP's side if the operator has it}: `createConnection` for this organization (see create-connection.ts),
 * then the new connection's page, which shows the values its IdP needs. Refused: this page again, the errors by
 * their fields (422).
 */
export async function addConnection(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  const org = await find(deps, id);
  if (!org) return notFound(deps, ctx);
  const protocol = form.protocol === 'saml' ? 'saml' : 'oidc';
  const result = await createFromForm(deps, ctx, protocol, form, { id: org.id, name: org.name });
  if ('refused' in result) return organization(deps, ctx, id, { status: 422, create: result.refused });
  return {
    kind: 'redirect',
    location: dashboardPath(deps, `connections/${encodeURIComponent(result.created.id)}?notice=created`),
    session: ctx.session,
  };
}

/** `POST /dashboard/organizations/:id/admin_portal` {intent}: an Admin Portal link for the organization's IT admin. */
export async function adminPortalLink(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  const intent = (SERVED_INTENTS as readonly string[]).includes(form.intent ?? '') ? form.intent : 'sso';
  let link: string;
  try {
    ({ link } = await generatePortalLink(deps.management, { organization: id, intent }));
  } catch (err) {
    if (refusal(err).status === 404) return notFound(deps, ctx);
    throw err;
  }
  await audit(deps, ctx, 'organization.portal_link', { type: 'organization', id }, { intent });
  return page(
    deps,
    'link',
    {
      title: 'Admin Portal link',
      heading: intent === 'sso' ? 'Admin Portal link: set up SSO' : 'Admin Portal link: verify a domain',
      text:
        intent === 'sso'
          ? "Send it to the organization's IT admin: it opens the setup of their identity provider."
          : "Send it to the organization's IT admin: it shows the DNS record that proves they own a domain.",
      label: 'Admin Portal link',
      link,
      validity: 'within 5 minutes',
      back: dashboardPath(deps, `organizations/${encodeURIComponent(id)}`),
    },
    { context: ctx, requestId: ctx.requestId, current: 'organizations' },
  );
}
