import { providerDisplayName } from '../connectors/providers/config.ts';
import { connectorFor, supportedConnectionTypes } from '../connectors/registry.ts';
import { isBrokerError } from '../errors/broker-error.ts';
import { createConnection } from '../management/connections.ts';
import { GUIDES } from '../portal/guides.ts';
import { adminErrors } from '../portal/sso.ts';
import { audit, type DashboardContext, type DashboardDeps } from './dashboard.ts';

/**
 * Creating a connection from the dashboard (issue 13): an organization's SSO connection (OpenID Connect or SAML) on
 * its page, an OAuth provider connection of the environment on the Connections page. Only the type is needed: the
 * identity provider's side may come now, or later from the organization's IT admin in the Admin Portal (a draft).
 *
 * The form becomes the management API's body and `createConnection` checks it, exactly as `POST /connections` does
 * (nothing here checks a value; the form only keeps to the types it offers). Its field errors come back in plain
 * words, by form field, through the Admin Portal's `adminErrors`. What the operator typed is kept for the form
 * shown again, except the client secret, which no page ever carries.
 */

type Form = Record<string, string | undefined>;

export type Protocol = 'oidc' | 'saml' | 'oauth';

export interface TypeGroup {
  label: string;
  options: { value: string; label: string }[];
}

/** The form shown again after a refusal: which form, its errors by field (`_`: the form as a whole), its values. */
export interface CreateState {
  protocol: Protocol;
  errors: Record<string, string>;
  form: Form;
}

const DISCOVERY_SUFFIX = '/.well-known/openid-configuration';

/** The dashboard's form fields that differ from the Admin Portal's (the metadata is pasted, not uploaded). */
const RENAMED = { metadata_file: 'idp_metadata_xml' };

/** How the forms name each type: the Admin Portal guide's name of the IdP, the OAuth provider's, else the type. */
function labelOf(type: string): string {
  return GUIDES.find((g) => g.connectionType === type)?.name ?? providerDisplayName(type) ?? type;
}

/**
 * The types each form offers, from the connector registry: for SAML and OpenID Connect, those the Admin Portal has
 * a guide for first (by the guide's name), then the other SAML flavours (the portal sets them up with its generic
 * SAML guide); for OAuth providers, every provider type.
 */
export function typeChoices(protocol: Protocol): TypeGroup[] {
  const types = supportedConnectionTypes().filter((t) => connectorFor(t)?.protocol === protocol);
  if (protocol === 'oauth') {
    return [{ label: 'OAuth providers', options: types.map((t) => ({ value: t, label: labelOf(t) })) }];
  }
  const guided = GUIDES.filter((g) => g.protocol === protocol && types.includes(g.connectionType));
  const others = types.filter((t) => !guided.some((g) => g.connectionType === t));
  return [
    {
      label: 'With a setup guide in the Admin Portal',
      options: guided.map((g) => ({ value: g.connectionType, label: `${g.name} — ${g.connectionType}` })),
    },
    ...(others.length > 0
      ? [
          {
            label: 'Other SAML flavours (the generic SAML guide)',
            options: others.map((t) => ({ value: t, label: t })),
          },
        ]
      : []),
  ];
}

function offered(protocol: Protocol, type: string): boolean {
  return typeChoices(protocol).some((g) => g.options.some((o) => o.value === type));
}

/** The identity provider's side as the management API takes it: only what the operator gave. */
function optionsOf(protocol: Protocol, form: Form): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const take = (option: string, field: string) => {
    const value = (form[field] ?? '').trim();
    if (value) out[option] = value;
  };
  if (protocol === 'saml') {
    take('idp_metadata_url', 'idp_metadata_url');
    take('idp_metadata_xml', 'idp_metadata_xml');
    take('idp_sso_url', 'idp_sso_url');
    take('idp_entity_id', 'idp_entity_id');
    const certificate = (form.idp_certificate ?? '').trim();
    if (certificate) out.idp_certificates = [certificate];
  } else {
    // One field takes the issuer or its discovery URL (WorkOS's `discovery_endpoint`).
    if (protocol === 'oidc') {
      take((form.issuer ?? '').trim().endsWith(DISCOVERY_SUFFIX) ? 'discovery_endpoint' : 'issuer', 'issuer');
    }
    take('client_id', 'client_id');
    // The secret as typed: it may begin or end with a space.
    if ((form.client_secret ?? '').trim()) out.client_secret = form.client_secret;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Creates the connection of the form posted (`protocol`: which form) for `org` (null: the environment, OAuth
 * providers), through `createConnection`; audited as `connection.create`. Returns the new connection, or the form
 * again with its errors (the client secret left out).
 */
export async function createFromForm(
  deps: DashboardDeps,
  ctx: DashboardContext,
  protocol: Protocol,
  form: Form,
  org: { id: string; name: string } | null,
): Promise<{ created: { id: string; state: string } } | { refused: CreateState }> {
  const kept: Form = { ...form, client_secret: undefined, csrf: undefined };
  const type = (form.connection_type ?? '').trim();
  if (!offered(protocol, type)) {
    return {
      refused: {
        protocol,
        errors: { connection_type: 'Choose the identity provider from the list.' },
        form: kept,
      },
    };
  }
  const name = (form.name ?? '').trim();
  const options = optionsOf(protocol, form);
  const optionsKey = connectorFor(type)?.optionsKey as string;
  let created: { id: string; name: string; state: string; organization_id: string | null };
  try {
    created = await createConnection(deps.management, {
      connection_type: type,
      ...(org ? { organization_id: org.id } : {}),
      name: name || (org ? `${org.name} ${labelOf(type)}` : `Sign in with ${labelOf(type)}`),
      ...(options ? { [optionsKey]: options } : {}),
    });
  } catch (err) {
    if (isBrokerError(err) && err.fields) {
      return { refused: { protocol, errors: adminErrors(err.fields, RENAMED), form: kept } };
    }
    throw err;
  }
  deps.management.onConfigChange();
  await audit(
    deps,
    ctx,
    'connection.create',
    { type: 'connection', id: created.id },
    {
      name: created.name,
      connection_type: type,
      organization_id: created.organization_id,
      state: created.state,
    },
  );
  return { created: { id: created.id, state: created.state } };
}
