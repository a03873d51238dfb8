import { isBrokerError } from '../errors/broker-error.ts';
import {
  activateConnection,
  createConnection,
  deactivateConnection,
  presentConnection,
  updateConnection,
} from '../management/connections.ts';
import { portalConnectionType } from '../management/portal-links.ts';
import type { ConnectionRecord } from '../storage/store.ts';
import { diagnoseConnection, type Problem } from './doctor.ts';
import {
  acsUrlRegex,
  GUIDES,
  guideByKey,
  guideForType,
  type IdpGuide,
  VALUE_LABELS,
  type ValueKey,
} from './guides.ts';
import {
  basePath,
  messagePage,
  type PortalContext,
  type PortalDeps,
  type PortalResult,
  page,
  type Step,
} from './portal.ts';
import { testSignInUrl } from './test-sign-in.ts';

/**
 * The `sso` intent: pick the identity provider, follow its guide with this connection's real values, give the IdP's
 * side (metadata URL, metadata file, or by hand; OIDC issuer and client), see what the doctor finds, test a sign-in,
 * activate. Connections are created and changed through the management API's own functions.
 *
 * A connection the portal creates is not live until the admin activates it: once its IdP side is saved it is
 * `inactive` (the app cannot sign anyone in through it; a test sign-in from the portal can), and activation makes
 * it `active` (or `validating` before any sign-in succeeded). A connection that was already live when the admin
 * opened the portal stays live through changes, as with the API.
 */

const STATE_LABELS: Record<ConnectionRecord['state'], string> = {
  draft: 'Not set up',
  validating: 'On (not yet used)',
  active: 'On',
  inactive: 'Off',
};

type SsoForm = Record<string, string | undefined>;

/** The organization's SAML and OIDC connections (provider connections are the app's, not the admin's). */
async function connectionsOf(deps: PortalDeps, ctx: PortalContext): Promise<ConnectionRecord[]> {
  return (await deps.store.listOrganizationConnections(ctx.session.organizationId)).filter((c) =>
    portalConnectionType(c.connectionType),
  );
}

/** The connection `id` if it belongs to this session's organization; else null (a tampered ID shows nothing). */
async function ownConnection(
  deps: PortalDeps,
  ctx: PortalContext,
  id: string,
): Promise<ConnectionRecord | null> {
  if (ctx.session.intent !== 'sso') return null;
  const c = await deps.store.getConnection(id);
  return c && c.organizationId === ctx.session.organizationId && portalConnectionType(c.connectionType)
    ? c
    : null;
}

/** This session's intent is single sign-on; a link for domain verification does not open these pages. */
export function wrongIntent(deps: PortalDeps, ctx: PortalContext): PortalResult | null {
  if (ctx.session.intent === 'sso') return null;
  return messagePage(
    deps,
    403,
    'This setup link is not for single sign-on',
    'The link you opened verifies your organization’s domains. Ask the application for a single sign-on setup link.',
    ctx.requestId,
    { code: 'portal_intent_mismatch', context: ctx },
  );
}

function notFound(deps: PortalDeps, ctx: PortalContext): PortalResult {
  return messagePage(
    deps,
    404,
    'Connection not found',
    'Your organization has no such connection. Go back to the setup page and choose it from there.',
    ctx.requestId,
    { code: 'portal_connection_not_found', context: ctx },
  );
}

function steps(current: number): Step[] {
  return ['Choose your identity provider', 'Configure it', 'Test', 'Activate'].map((label, i) => ({
    label,
    state: i < current ? 'done' : i === current ? 'current' : 'todo',
  }));
}

/** `GET /portal/sso`: the organization's connections, or the picker when there are none. */
export async function ssoHome(deps: PortalDeps, ctx: PortalContext): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const connections = await connectionsOf(deps, ctx);
  if (connections.length === 0) return choose(deps, ctx);
  if (connections.length === 1 && connections[0]) {
    return { kind: 'redirect', location: connectionPath(deps, connections[0].id), session: ctx.session };
  }
  return page(
    deps,
    'sso-home',
    {
      title: 'Single sign-on',
      organizationName: ctx.organizationName,
      connections: connections.map((c) => ({
        id: c.id,
        name: c.name,
        idp: guideForType(c.connectionType)?.name ?? c.connectionType,
        state: c.state,
        stateLabel: STATE_LABELS[c.state],
      })),
    },
    { context: ctx, requestId: ctx.requestId, steps: steps(1) },
  );
}

/** `GET /portal/sso/choose`: the IdP picker (the link's `provider_type` first). */
export function choose(deps: PortalDeps, ctx: PortalContext): PortalResult {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const preferred = ctx.session.providerType
    ? GUIDES.filter((g) => g.connectionType === ctx.session.providerType)
    : [];
  return page(
    deps,
    'sso-choose',
    {
      title: 'Choose your identity provider',
      preferred,
      saml: GUIDES.filter((g) => g.protocol === 'saml'),
      oidc: GUIDES.filter((g) => g.protocol === 'oidc'),
    },
    { context: ctx, requestId: ctx.requestId, steps: steps(0) },
  );
}

function connectionPath(deps: PortalDeps, id: string, query = ''): string {
  return `${basePath(deps.publicUrl)}/portal/sso/connections/${encodeURIComponent(id)}${query}`;
}

/** `POST /portal/sso/start` (`guide`): creates the organization's connection for that IdP, as a draft. */
export async function start(
  deps: PortalDeps,
  ctx: PortalContext,
  guideKey: string | undefined,
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const guide = guideByKey(guideKey);
  if (!guide) return choose(deps, ctx);
  const created = await createConnection(deps.management, {
    organization_id: ctx.session.organizationId,
    connection_type: guide.connectionType,
    name: `${ctx.organizationName} ${guide.name}`,
  });
  deps.management.onConfigChange();
  return { kind: 'redirect', location: connectionPath(deps, created.id), session: ctx.session };
}

/** The values of a connection the guides show. */
function valuesOf(deps: PortalDeps, c: ConnectionRecord): Record<ValueKey, string> {
  const presented = presentConnection(c, [], deps.publicUrl) as {
    saml_options?: { acs_url?: string; sp_entity_id?: string; sp_metadata_url?: string };
    oidc_options?: { redirect_uri?: string };
  };
  const acs = presented.saml_options?.acs_url ?? '';
  return {
    acs_url: acs,
    sp_entity_id: presented.saml_options?.sp_entity_id ?? '',
    sp_metadata_url: presented.saml_options?.sp_metadata_url ?? '',
    acs_url_regex: acs ? acsUrlRegex(acs) : '',
    redirect_uri: presented.oidc_options?.redirect_uri ?? '',
    attr_email: 'email',
    attr_first_name: 'firstName',
    attr_last_name: 'lastName',
    attr_groups: 'groups',
  };
}

/** What is saved of the IdP's side, for the page. */
function idpFacts(c: ConnectionRecord): { label: string; value: string }[] {
  const config = c.config as Record<string, unknown>;
  const facts: { label: string; value: string }[] = [];
  const add = (label: string, value: unknown) => {
    if (typeof value === 'string' && value) facts.push({ label, value });
  };
  add('Metadata URL', config.metadataUrl);
  add('Entity ID (issuer)', config.idpEntityId);
  add('Single sign-on URL', config.idpSsoUrl);
  add('Issuer', config.issuer);
  add('Client ID', config.clientId);
  return facts;
}

/** `GET /portal/sso/connections/:id`: the guide, the forms, the doctor, test and activation. */
export async function connectionPage(
  deps: PortalDeps,
  ctx: PortalContext,
  id: string,
  options: { notice?: string; errors?: Record<string, string>; form?: SsoForm; status?: number } = {},
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const c = await ownConnection(deps, ctx, id);
  if (!c) return notFound(deps, ctx);
  const guide = guideForType(c.connectionType) as IdpGuide;
  const configured = c.state !== 'draft';
  const problems: Problem[] = configured ? await diagnoseConnection(deps, c) : [];
  const notices: { kind: 'ok' | 'warn' | 'bad'; title: string; text?: string[] }[] = [];
  if (options.notice === 'saved')
    notices.push({
      kind: 'ok',
      title: 'Saved.',
      text: ['Next: check the result below, then run a test sign-in.'],
    });
  if (options.notice === 'activated') notices.push({ kind: 'ok', title: 'Single sign-on is on.' });
  if (options.errors && Object.keys(options.errors).length) {
    notices.push({ kind: 'bad', title: 'Not saved: see the messages by the fields below.' });
  }
  const current = c.state === 'active' || c.state === 'validating' ? 3 : configured ? 2 : 1;
  return page(
    deps,
    'sso-connection',
    {
      title: `Connect ${guide.name}`,
      guide,
      connection: { id: c.id, state: c.state },
      stateLabel: STATE_LABELS[c.state],
      intro:
        guide.protocol === 'saml'
          ? `Set up a SAML application in ${guide.name} for ${ctx.organizationName}'s users, then give us its details here.`
          : `Register an OpenID Connect application in ${guide.name} for ${ctx.organizationName}'s users, then give us its details here.`,
      notices,
      values: valuesOf(deps, c),
      labels: VALUE_LABELS,
      idpFacts: idpFacts(c),
      secretSaved: typeof (c.config as { clientSecret?: unknown }).clientSecret === 'string',
      form: options.form ?? {},
      errors: options.errors ?? {},
      problems,
      configured,
      testUrl: configured ? testSignInUrl(deps, ctx, c.id) : null,
      canActivate: configured && c.state !== 'active',
      successUrl: ctx.session.successUrl,
    },
    { context: ctx, requestId: ctx.requestId, steps: steps(current), status: options.status ?? 200 },
  );
}

/** Field names of the management API's errors → the form's fields. */
const FIELD_OF: [RegExp, string][] = [
  [/^saml_options\.idp_metadata_url/, 'idp_metadata_url'],
  [/^saml_options\.idp_metadata_xml/, 'metadata_file'],
  [/^saml_options\.idp_sso_url/, 'idp_sso_url'],
  [/^saml_options\.idp_entity_id/, 'idp_entity_id'],
  [/^saml_options\.idp_certificates/, 'idp_certificate'],
  [/^oidc_options\.issuer/, 'issuer'],
  [/^oidc_options\.client_id/, 'client_id'],
  [/^oidc_options\.client_secret/, 'client_secret'],
  [/^oidc_options\.discovery_endpoint/, 'issuer'],
  [/^oauth_options\.client_id/, 'client_id'],
  [/^oauth_options\.client_secret/, 'client_secret'],
  [/^connection_type$/, 'connection_type'],
  [/^name$/, 'name'],
];

/** What the admin reads for each form field in a sentence ("The metadata URL could not be fetched: …"). */
const FIELD_WORDS: Record<string, string> = {
  idp_metadata_url: 'The metadata URL',
  metadata_file: 'The metadata file',
  idp_sso_url: 'The single sign-on URL',
  idp_entity_id: 'The entity ID',
  idp_certificate: 'The certificate',
  issuer: 'The issuer URL',
  client_id: 'The client ID',
  client_secret: 'The client secret',
  idp_metadata_xml: 'The metadata XML',
  connection_type: 'The connection type',
  name: 'The name',
};

/** API messages that read better as a sentence of their own, about the form as a whole. */
const WHOLE_SENTENCES: [RegExp, string][] = [
  [
    /^give one of idp_metadata_xml, idp_metadata_url, or /,
    'Give one source of the identity provider’s details, not several: its metadata URL, its metadata XML, or the details by hand.',
  ],
];

/**
 * The management API's field errors in the admin's words, by form field: `saml_options.idp_metadata_url could not
 * be fetched: unreachable` → `idp_metadata_url: The metadata URL could not be fetched: unreachable.` The portal's
 * and the dashboard's forms share it; `renamed` maps a form field of the portal to the caller's own (the dashboard
 * takes the metadata as pasted XML, `idp_metadata_xml`, where the portal takes a file, `metadata_file`). Errors of
 * no field of the form go under `_`.
 */
export function adminErrors(
  fields: { field: string; code: string }[],
  renamed: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (formField: string, sentence: string) => {
    out[formField] = out[formField] ? `${out[formField]} ${sentence}` : sentence;
  };
  for (const { field, code } of fields) {
    const portalField = FIELD_OF.find(([re]) => re.test(field))?.[1] ?? '_';
    const formField = Object.hasOwn(renamed, portalField) ? (renamed[portalField] as string) : portalField;
    const raw = code.startsWith(field) ? code.slice(field.length).trim() : code;
    const whole = WHOLE_SENTENCES.find(([re]) => re.test(raw))?.[1];
    if (whole) {
      add('_', whole);
      continue;
    }
    const message = raw
      .replace(/^\[\d+\]\s*/, '')
      // The XML parser's refusals are noun phrases ("XML with a DOCTYPE …", "XML is not well-formed: …").
      .replace(/^XML is /, 'is ')
      .replace(/^XML /, 'is refused: it is XML ')
      // OpenSSL's reason ("error:0480006C:PEM routines::no start line") means nothing to the admin.
      .replace(/ \(error:[^)]*\)$/, '');
    add(formField, `${FIELD_WORDS[formField] ?? 'This'} ${message}`.replace(/\.?$/, '.'));
  }
  return out;
}

/** The IdP's side as the management API takes it, from the form; or the problems with the form itself. */
function optionsFrom(
  guide: IdpGuide,
  form: SsoForm,
  file: string | null,
): { body: Record<string, unknown> } | { errors: Record<string, string> } {
  const get = (k: string) => (form[k] ?? '').trim();
  if (guide.protocol === 'oidc') {
    const issuer = get('issuer');
    const clientId = get('client_id');
    const secret = get('client_secret');
    const errors: Record<string, string> = {};
    if (!issuer) errors.issuer = 'Enter the issuer URL.';
    if (!clientId) errors.client_id = 'Enter the client ID.';
    if (Object.keys(errors).length) return { errors };
    return {
      body: { oidc_options: { issuer, client_id: clientId, ...(secret ? { client_secret: secret } : {}) } },
    };
  }
  switch (form.source) {
    case 'metadata_url': {
      const url = get('idp_metadata_url');
      return url
        ? { body: { saml_options: { idp_metadata_url: url } } }
        : { errors: { idp_metadata_url: 'Enter the metadata URL.' } };
    }
    case 'metadata_file':
      return file
        ? { body: { saml_options: { idp_metadata_xml: file } } }
        : { errors: { metadata_file: 'Choose the metadata file (an XML file) to upload.' } };
    case 'manual': {
      const errors: Record<string, string> = {};
      if (!get('idp_sso_url')) errors.idp_sso_url = 'Enter the single sign-on URL.';
      if (!get('idp_entity_id')) errors.idp_entity_id = 'Enter the entity ID.';
      if (!get('idp_certificate')) errors.idp_certificate = 'Paste the signing certificate.';
      if (Object.keys(errors).length) return { errors };
      return {
        body: {
          saml_options: {
            idp_sso_url: get('idp_sso_url'),
            idp_entity_id: get('idp_entity_id'),
            idp_certificates: [get('idp_certificate')],
          },
        },
      };
    }
    default:
      return { errors: { _: 'Choose how to give the details: metadata URL, metadata file, or by hand.' } };
  }
}

/**
 * `POST /portal/sso/connections/:id/idp`: saves the IdP's side through `updateConnection` (the same validation as
 * the API: SSRF guard, metadata parsing, certificates). A connection that was not live yet stays off until the
 * admin activates it.
 */
export async function saveIdp(
  deps: PortalDeps,
  ctx: PortalContext,
  id: string,
  form: SsoForm,
  file: string | null,
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const c = await ownConnection(deps, ctx, id);
  if (!c) return notFound(deps, ctx);
  const guide = guideForType(c.connectionType) as IdpGuide;
  const keep = { ...form, client_secret: undefined, csrf: undefined };
  const parsed = optionsFrom(guide, form, file);
  if ('errors' in parsed)
    return connectionPage(deps, ctx, id, { errors: parsed.errors, form: keep, status: 422 });
  return saveOptions(deps, ctx, c, parsed.body, (errors) =>
    connectionPage(deps, ctx, id, { errors, form: keep, status: 422 }),
  );
}

/**
 * Saves `body` through `updateConnection` and keeps a connection that was not on yet off (the admin activates it);
 * the page again with the management API's field errors in the admin's words, or the redirect that shows "Saved".
 */
async function saveOptions(
  deps: PortalDeps,
  ctx: PortalContext,
  c: ConnectionRecord,
  body: Record<string, unknown>,
  onErrors: (errors: Record<string, string>) => Promise<PortalResult>,
): Promise<PortalResult> {
  const wasLive = c.state === 'active' || c.state === 'validating';
  try {
    const updated = await updateConnection(deps.management, c.id, body);
    if (!wasLive && updated.state === 'validating') await deactivateConnection(deps.management, c.id);
  } catch (err) {
    if (isBrokerError(err) && err.fields) return onErrors(adminErrors(err.fields));
    throw err;
  } finally {
    deps.management.onConfigChange();
  }
  return { kind: 'redirect', location: connectionPath(deps, c.id, '?saved=1'), session: ctx.session };
}

/** `POST /portal/sso/connections/:id/activate`: on for the organization's users; then `success_url`, if any. */
export async function activate(deps: PortalDeps, ctx: PortalContext, id: string): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const c = await ownConnection(deps, ctx, id);
  if (!c) return notFound(deps, ctx);
  try {
    await activateConnection(deps.management, id);
  } catch (err) {
    if (isBrokerError(err) && err.code === 'connection_incomplete') {
      return connectionPage(deps, ctx, id, {
        errors: { _: 'Save the identity provider’s details first.' },
        status: 422,
      });
    }
    throw err;
  } finally {
    deps.management.onConfigChange();
  }
  return {
    kind: 'redirect',
    location: ctx.session.successUrl ?? connectionPath(deps, id, '?activated=1'),
    session: ctx.session,
  };
}

const MAPPABLE = ['idp_id', 'email', 'first_name', 'last_name', 'groups'];

/** `POST /portal/sso/connections/:id/attributes`: the attribute names to read for each profile field (SAML). */
export async function saveAttributes(
  deps: PortalDeps,
  ctx: PortalContext,
  id: string,
  form: SsoForm,
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const c = await ownConnection(deps, ctx, id);
  if (!c) return notFound(deps, ctx);
  if (guideForType(c.connectionType)?.protocol !== 'saml') return connectionPage(deps, ctx, id);
  const map: Record<string, string> = {};
  for (const field of MAPPABLE) {
    const name = (form[field] ?? '').trim();
    if (name) map[field] = name;
  }
  return saveOptions(deps, ctx, c, { saml_options: { attribute_map: map } }, (errors) =>
    connectionPage(deps, ctx, id, { errors: { _: Object.values(errors).join(' ') }, status: 422 }),
  );
}

export { ownConnection };

/** A form without this session's CSRF token (a forged cross-site post, or a page older than the session). */
export function refused(deps: PortalDeps, ctx: PortalContext): PortalResult {
  return messagePage(
    deps,
    403,
    'This form has expired',
    'It was not sent from this setup session’s page. Go back, reload the page and try again.',
    ctx.requestId,
    { code: 'portal_csrf_invalid', context: ctx },
  );
}
