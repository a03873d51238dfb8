import { isBrokerError } from '../errors/broker-error.ts';
import { createOrganization, listOrganizations } from '../management/organizations.ts';
import { generatePortalLink } from '../management/portal-links.ts';
import { isEmail } from '../management/validate.ts';
import {
  audit,
  createOperatorLink,
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  messagePage,
  page,
} from './dashboard.ts';
import { saveSso, ssoSection } from './sso-sign-in.ts';

/**
 * The dashboard's pages. Lists read through the management API's own functions (the store's pagination, not in
 * memory); changes go through them too, and each is recorded in the audit log.
 */

type Form = Record<string, string | undefined>;

function day(iso: unknown): string {
  return typeof iso === 'string' ? iso.replace('T', ' ').slice(0, 16) : '';
}

/** `GET /dashboard/organizations?search=&after=&before=`: 25 a page, newest first. */
export async function organizations(
  deps: DashboardDeps,
  ctx: DashboardContext,
  query: Form,
  options: { error?: string; form?: Form; status?: number } = {},
): Promise<DashboardResult> {
  const search = (query.search ?? '').trim().slice(0, 200);
  const list = (await listOrganizations(deps.management, {
    limit: '25',
    order: 'desc',
    ...(search ? { search } : {}),
    ...(query.after ? { after: query.after } : {}),
    ...(query.before ? { before: query.before } : {}),
  })) as {
    data: { id: string; name: string; created_at: string; domains: { domain: string; state: string }[] }[];
    list_metadata: { before: string | null; after: string | null };
  };
  const link = (cursor: 'after' | 'before', value: string | null) =>
    value
      ? `${dashboardPath(deps, 'organizations')}?${new URLSearchParams({ ...(search ? { search } : {}), [cursor]: value })}`
      : null;
  return page(
    deps,
    'organizations',
    {
      title: 'Organizations',
      search,
      rows: list.data.map((o) => ({
        id: o.id,
        name: o.name,
        domains: o.domains
          .filter((d) => d.state === 'verified')
          .map((d) => d.domain)
          .join(', '),
        created: day(o.created_at),
      })),
      older: link('after', list.list_metadata.after),
      newer: link('before', list.list_metadata.before),
      error: options.error ?? null,
      form: options.form ?? {},
    },
    { context: ctx, requestId: ctx.requestId, current: 'organizations', status: options.status ?? 200 },
  );
}

/** `POST /dashboard/organizations` {name, domain?}: `createOrganization`, as the API does it. */
export async function createOrg(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  const domain = (form.domain ?? '').trim();
  try {
    const org = (await createOrganization(deps.management, {
      name: form.name ?? '',
      domain_data: domain ? [{ domain, state: 'verified' }] : [],
    })) as { id: string; name: string };
    deps.management.onConfigChange();
    await audit(
      deps,
      ctx,
      'organization.create',
      { type: 'organization', id: org.id },
      { name: org.name, domain: domain || null },
    );
  } catch (err) {
    if (isBrokerError(err) && (err.fields || err.entry.status === 409)) {
      const message = err.fields?.map((f) => f.code).join('; ') ?? err.message;
      return organizations(deps, ctx, {}, { error: message, form, status: 422 });
    }
    throw err;
  }
  return { kind: 'redirect', location: dashboardPath(deps, 'organizations'), session: ctx.session };
}

/** `POST /dashboard/organizations/:id/portal_link`: an Admin Portal link (SSO) for the organization's IT admin. */
export async function portalLink(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
): Promise<DashboardResult> {
  let link: string;
  try {
    ({ link } = await generatePortalLink(deps.management, { organization: id, intent: 'sso' }));
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) {
      return messagePage(
        deps,
        404,
        'Organization not found',
        'It may have been deleted meanwhile.',
        ctx.requestId,
        { context: ctx },
      );
    }
    throw err;
  }
  await audit(deps, ctx, 'organization.portal_link', { type: 'organization', id });
  return page(
    deps,
    'link',
    {
      title: 'Admin Portal link',
      heading: 'Admin Portal link',
      text: "Send it to the organization's IT admin: it opens the setup of their identity provider.",
      label: 'Admin Portal link',
      link,
      validity: 'within 5 minutes',
      back: dashboardPath(deps, 'organizations'),
    },
    { context: ctx, requestId: ctx.requestId, current: 'organizations' },
  );
}

/** `GET /dashboard/operators`. */
export async function operators(
  deps: DashboardDeps,
  ctx: DashboardContext,
  error?: string,
  sso: { error?: string; saved?: boolean; form?: Form } = {},
): Promise<DashboardResult> {
  const all = await deps.store.listOperators();
  const current = await ssoSection(deps);
  return page(
    deps,
    'operators',
    {
      title: 'Operators',
      operators: all.map((o) => ({
        id: o.id,
        self: o.id === ctx.operator.id,
        disabled: o.disabledAt !== null,
        email: o.email,
        name: o.name ?? '',
        lastSignIn: o.lastSignInAt ? day(o.lastSignInAt.toISOString()) : 'never',
        state: o.disabledAt ? 'disabled' : 'active',
      })),
      error: error ?? null,
      sso: {
        ...current,
        organizationId: sso.form?.organization_id ?? current.organizationId,
        error: sso.error ?? null,
        saved: sso.saved === true,
      },
    },
    {
      context: ctx,
      requestId: ctx.requestId,
      current: 'operators',
      status: error || sso.error ? 422 : 200,
    },
  );
}

/** `POST /dashboard/operators/sso` {organization_id, create_operators}: operators' single sign-on. */
export async function setSso(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  const error = await saveSso(deps, ctx, form);
  return error
    ? operators(deps, ctx, undefined, { error, form })
    : operators(deps, ctx, undefined, { saved: true });
}

/** `POST /dashboard/operators/invite` {email}: an invitation link, shown once. */
export async function invite(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  const email = (form.email ?? '').trim().toLowerCase();
  if (!isEmail(email)) return operators(deps, ctx, 'Enter the email address of the person to invite.');
  const existing = await deps.store.getOperatorByEmail(email);
  const link = existing
    ? await createOperatorLink(deps, 'sign_in', { operatorId: existing.id, createdBy: ctx.operator.id })
    : await createOperatorLink(deps, 'invite', { email, createdBy: ctx.operator.id });
  await audit(deps, ctx, existing ? 'operator.sign_in_link' : 'operator.invite', null, { email });
  return page(
    deps,
    'link',
    {
      title: 'Invitation link',
      heading: existing ? 'Sign-in link' : 'Invitation link',
      text: existing
        ? `${email} is already an operator: this link signs them in.`
        : `Send it to ${email}: it makes them an operator of this Gatehouse.`,
      label: existing ? 'Sign-in link' : 'Invitation link',
      link,
      validity: existing ? 'within 15 minutes' : 'within 7 days',
      back: dashboardPath(deps, 'operators'),
    },
    { context: ctx, requestId: ctx.requestId, current: 'operators' },
  );
}

/** `GET /dashboard/audit?after=`: the audit log, newest first. */
export async function auditLog(
  deps: DashboardDeps,
  ctx: DashboardContext,
  query: Form,
): Promise<DashboardResult> {
  const list = await deps.store.listAudit(
    {},
    { limit: 50, order: 'desc', ...(query.after ? { after: query.after } : {}) },
  );
  return page(
    deps,
    'audit',
    {
      title: 'Audit log',
      rows: list.data.map((r) => ({
        when: day(r.createdAt.toISOString()),
        operator: r.operatorEmail ?? 'Gatehouse',
        action: r.action,
        target: r.targetId ? `${r.targetType} ${r.targetId}` : '',
        detail: Object.keys(r.detail).length ? JSON.stringify(r.detail) : '',
      })),
      older: list.after
        ? `${dashboardPath(deps, 'audit')}?${new URLSearchParams({ after: list.after })}`
        : null,
    },
    { context: ctx, requestId: ctx.requestId, current: 'audit' },
  );
}

/**
 * `POST /dashboard/operators/:id/disable` (or `enable`): a disabled operator's sessions end at their next request
 * and their links no longer sign them in. An operator cannot disable themselves (someone must stay able to get in).
 */
export async function setOperatorDisabled(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  disabled: boolean,
): Promise<DashboardResult> {
  const target = await deps.store.getOperator(id);
  if (!target)
    return messagePage(deps, 404, 'Operator not found', 'Go back to the Operators page.', ctx.requestId, {
      context: ctx,
    });
  if (target.id === ctx.operator.id)
    return operators(deps, ctx, 'You cannot disable yourself: ask another operator.');
  await deps.store.updateOperator(id, { disabledAt: disabled ? deps.now() : null });
  await audit(
    deps,
    ctx,
    disabled ? 'operator.disable' : 'operator.enable',
    { type: 'operator', id },
    { email: target.email },
  );
  return { kind: 'redirect', location: dashboardPath(deps, 'operators'), session: ctx.session };
}
