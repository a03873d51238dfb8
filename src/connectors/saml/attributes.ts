import type { ProfileField } from './config.ts';

/**
 * Where the profile's fields come from in a SAML assertion: the attribute names each IdP family uses by
 * default, tried in order. A connection's `attribute_map` overrides a field; `idp_id` is the NameID unless
 * mapped. A flavour (OktaSAML, AzureSAML, …) only changes the order of these names, nothing else.
 */

const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const MS_CLAIMS = 'http://schemas.microsoft.com/identity/claims';

const COMMON: Record<Exclude<ProfileField, 'idp_id'>, string[]> = {
  email: [
    'email',
    'Email',
    'mail',
    'emailAddress',
    'EmailAddress',
    `${CLAIMS}/emailaddress`,
    'urn:oid:0.9.2342.19200300.100.1.3',
    'user.email',
    'User.Email',
  ],
  first_name: [
    'firstName',
    'FirstName',
    'first_name',
    'givenName',
    'given_name',
    `${CLAIMS}/givenname`,
    'urn:oid:2.5.4.42',
    'user.firstName',
    'User.FirstName',
  ],
  last_name: [
    'lastName',
    'LastName',
    'last_name',
    'surname',
    'sn',
    'family_name',
    `${CLAIMS}/surname`,
    'urn:oid:2.5.4.4',
    'user.lastName',
    'User.LastName',
  ],
  name: [
    'name',
    'displayName',
    'DisplayName',
    `${MS_CLAIMS}/displayname`,
    'urn:oid:2.16.840.1.113730.3.1.241',
    'cn',
  ],
  groups: [
    'groups',
    'Groups',
    'memberOf',
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
    'http://schemas.xmlsoap.org/claims/Group',
    'urn:oid:1.3.6.1.4.1.5923.1.5.1.1',
    'Role',
  ],
};

/** Names a flavour tries first (its IdP's defaults), before the common list. */
const FLAVOURS: Record<string, Partial<Record<Exclude<ProfileField, 'idp_id'>, string[]>>> = {
  AzureSAML: {
    email: [`${CLAIMS}/emailaddress`, `${CLAIMS}/name`],
    first_name: [`${CLAIMS}/givenname`],
    last_name: [`${CLAIMS}/surname`],
    name: [`${MS_CLAIMS}/displayname`],
    groups: ['http://schemas.microsoft.com/ws/2008/06/identity/claims/groups'],
  },
  ADFSSAML: {
    email: [`${CLAIMS}/emailaddress`, `${CLAIMS}/upn`],
    first_name: [`${CLAIMS}/givenname`],
    last_name: [`${CLAIMS}/surname`],
    groups: ['http://schemas.xmlsoap.org/claims/Group'],
  },
  GoogleSAML: { email: ['email'], first_name: ['firstName'], last_name: ['lastName'], groups: ['groups'] },
  OktaSAML: { email: ['email'], first_name: ['firstName'], last_name: ['lastName'], groups: ['groups'] },
  OneLoginSAML: {
    email: ['User.email', 'email'],
    first_name: ['User.FirstName', 'firstName'],
    last_name: ['User.LastName', 'lastName'],
    groups: ['memberOf', 'groups'],
  },
  JumpCloudSAML: {
    email: ['email'],
    first_name: ['firstname', 'firstName'],
    last_name: ['lastname', 'lastName'],
    groups: ['memberOf', 'groups'],
  },
  PingFederateSAML: {
    email: ['email', 'mail'],
    first_name: ['firstName', 'givenName'],
    last_name: ['lastName', 'sn'],
    groups: ['memberOf'],
  },
};

const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

/** Every connection type this module serves (GenericSAML and the flavours WorkOS knows). */
export const SAML_CONNECTION_TYPES = [
  'GenericSAML',
  'OktaSAML',
  'AzureSAML',
  'GoogleSAML',
  'ADFSSAML',
  'OneLoginSAML',
  'PingFederateSAML',
  'PingOneSAML',
  'JumpCloudSAML',
  'Auth0SAML',
  'CasSAML',
  'ClassLinkSAML',
  'CloudflareSAML',
  'CyberArkSAML',
  'DuoSAML',
  'KeycloakSAML',
  'LastPassSAML',
  'MiniOrangeSAML',
  'NetIqSAML',
  'OracleSAML',
  'RipplingSAML',
  'SalesforceSAML',
  'ShibbolethGenericSAML',
  'ShibbolethSAML',
  'SimpleSamlPhpSAML',
  'VMwareSAML',
] as const;

export interface SamlAttributesInput {
  connectionType: string;
  nameId: string | null;
  nameIdFormat: string | null;
  /** Attribute name → value(s), as the verified assertion carries them. */
  attributes: Record<string, unknown>;
  attributeMap: Partial<Record<ProfileField, string>>;
}

function values(v: unknown): string[] {
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim());
}

function first(attributes: Record<string, unknown>, names: string[]): string | null {
  for (const name of names) {
    const found = values(attributes[name]);
    if (found.length > 0) return found[0] as string;
  }
  return null;
}

export function mapSamlProfile(input: SamlAttributesInput) {
  const flavour = FLAVOURS[input.connectionType] ?? {};
  const names = (field: Exclude<ProfileField, 'idp_id'>): string[] => {
    const mapped = input.attributeMap[field];
    return mapped ? [mapped] : [...(flavour[field] ?? []), ...COMMON[field]];
  };
  const idpId = input.attributeMap.idp_id
    ? first(input.attributes, [input.attributeMap.idp_id])
    : input.nameId;
  let email = first(input.attributes, names('email'));
  if (!email && input.nameIdFormat === NAMEID_EMAIL && input.nameId) email = input.nameId;
  if (!email && input.nameId && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(input.nameId) && !input.attributeMap.email)
    email = input.nameId;
  const firstName = first(input.attributes, names('first_name'));
  const lastName = first(input.attributes, names('last_name'));
  const groupsAttribute = names('groups').find((n) => values(input.attributes[n]).length > 0);
  const groups = groupsAttribute ? [...new Set(values(input.attributes[groupsAttribute]))] : [];
  return {
    idpId: idpId ?? '',
    email,
    firstName,
    lastName,
    name: first(input.attributes, names('name')) ?? ([firstName, lastName].filter(Boolean).join(' ') || null),
    groups,
  };
}
