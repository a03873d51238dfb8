/**
 * The Admin Portal's step-by-step guides, one per identity provider: data, rendered by `views/guide.eta`. Each
 * step is text made of segments: plain words, a UI label of the IdP's console (`{ ui }`, shown in bold as the
 * console spells it), or one of this connection's values (`{ value }`, shown with a copy button; never a
 * placeholder: the portal fills in the real URL of the connection being set up).
 *
 * Sources for the screens and labels: ../shared/design/idp-setup-guides.md (vendor docs, WorkOS and BoxyHQ guides).
 * Steps avoid labels that source marks unconfirmed, or word the step so that it does not depend on them.
 */

/** The values of a connection the guides can show. */
export type ValueKey =
  | 'acs_url'
  | 'sp_entity_id'
  | 'sp_metadata_url'
  | 'acs_url_regex'
  | 'redirect_uri'
  | 'attr_email'
  | 'attr_first_name'
  | 'attr_last_name'
  | 'attr_groups';

export type Segment = string | { ui: string } | { value: ValueKey } | { code: string };

export interface GuideStep {
  title: string;
  /** Paragraphs of the step. */
  text: Segment[][];
  /** Values shown under the step, each with its label and a copy button. */
  values?: ValueKey[];
  /** Attribute (claim) mappings to configure: name to send → what the IdP fills it from. */
  attributes?: { name: string; source: string }[];
}

export interface IdpGuide {
  /** URL-safe key (`okta-saml`). */
  key: string;
  /** The IdP's name as the admin knows it. */
  name: string;
  /** One line under the name in the IdP picker. */
  summary: string;
  protocol: 'saml' | 'oidc';
  /** The connection type the portal creates for it. */
  connectionType: string;
  /** Steps at the IdP, before the admin gives its side to the portal. */
  steps: GuideStep[];
  /** Where the admin finds what the portal asks for next (metadata URL, issuer, client ID and secret). */
  idpSide: Segment[][];
  /** How users get access once the connection works (assignment), and what to do if a test fails. */
  afterwards: Segment[][];
}

/** Labels of the values, as the pages show them. */
export const VALUE_LABELS: Record<ValueKey, string> = {
  acs_url: 'Assertion Consumer Service (ACS) URL',
  sp_entity_id: 'Service provider entity ID (Audience URI)',
  sp_metadata_url: 'Service provider metadata URL',
  acs_url_regex: 'ACS URL validator (regular expression)',
  redirect_uri: 'Redirect URI (sign-in redirect URI)',
  attr_email: 'Attribute name for the email address',
  attr_first_name: 'Attribute name for the first name',
  attr_last_name: 'Attribute name for the last name',
  attr_groups: 'Attribute name for groups',
};

/** The attribute names Gatehouse reads first for each profile field (every flavour also reads the long URIs). */
export const ATTRIBUTE_NAMES = {
  attr_email: 'email',
  attr_first_name: 'firstName',
  attr_last_name: 'lastName',
  attr_groups: 'groups',
} as const;

const SAML_ATTRIBUTES = [
  { name: 'email', source: "the user's email address" },
  { name: 'firstName', source: "the user's first (given) name" },
  { name: 'lastName', source: "the user's last (family) name" },
  { name: 'groups', source: "the user's groups (optional)" },
];

const genericSaml: IdpGuide = {
  key: 'generic-saml',
  name: 'Other SAML 2.0 provider',
  summary: 'Any identity provider that speaks SAML 2.0',
  protocol: 'saml',
  connectionType: 'GenericSAML',
  steps: [
    {
      title: 'Create a SAML application in your identity provider',
      text: [
        [
          'In your identity provider, create a new SAML 2.0 application (it may be called a service provider, a relying party or an enterprise application).',
        ],
        [
          'If it can import service provider metadata, give it the metadata URL below and skip to the attributes. Otherwise enter the two values by hand.',
        ],
      ],
      values: ['sp_metadata_url', 'acs_url', 'sp_entity_id'],
    },
    {
      title: 'Send the user attributes',
      text: [
        [
          'Configure the assertion to carry these attributes. The NameID can be any stable identifier of the user; the email address is a good choice.',
        ],
      ],
      attributes: SAML_ATTRIBUTES,
    },
    {
      title: 'Sign the assertions',
      text: [
        [
          'Sign the assertions (or the whole response) with RSA-SHA256. Gatehouse does not need encrypted assertions.',
        ],
      ],
    },
  ],
  idpSide: [
    [
      "Copy your identity provider's SAML metadata URL, or download its metadata file. If it has neither, note its single sign-on URL, its entity ID (issuer) and its signing certificate.",
    ],
  ],
  afterwards: [
    [
      'Assign the application to the people who should sign in with it: most identity providers let only assigned users use an application.',
    ],
  ],
};

const oktaSaml: IdpGuide = {
  key: 'okta-saml',
  name: 'Okta',
  summary: 'SAML 2.0 app integration',
  protocol: 'saml',
  connectionType: 'OktaSAML',
  steps: [
    {
      title: 'Create the app integration',
      text: [
        [
          'In the Okta Admin Console, go to ',
          { ui: 'Applications' },
          ' › ',
          { ui: 'Applications' },
          ' and choose ',
          { ui: 'Create App Integration' },
          '. Select ',
          { ui: 'SAML 2.0' },
          ' and choose ',
          { ui: 'Next' },
          '.',
        ],
        ['Give the app a name your users will recognise, then choose ', { ui: 'Next' }, '.'],
      ],
    },
    {
      title: 'Configure SAML',
      text: [
        ['Enter these values under ', { ui: 'General' }, ':'],
        [
          { ui: 'Single sign-on URL' },
          ': the ACS URL. Leave ',
          { ui: 'Use this for Recipient URL and Destination URL' },
          ' checked.',
        ],
        [{ ui: 'Audience URI (SP Entity ID)' }, ': the service provider entity ID.'],
        [
          { ui: 'Name ID format' },
          ': ',
          { ui: 'EmailAddress' },
          ' (or Unspecified); ',
          { ui: 'Application username' },
          ': ',
          { ui: 'Email' },
          '.',
        ],
      ],
      values: ['acs_url', 'sp_entity_id'],
    },
    {
      title: 'Add the attribute statements',
      text: [
        [
          'Under ',
          { ui: 'Attribute Statements' },
          ', add these names with the Okta profile values shown (for example ',
          { code: 'user.email' },
          ', ',
          { code: 'user.firstName' },
          ', ',
          { code: 'user.lastName' },
          '). For groups, add a ',
          { ui: 'Group Attribute Statement' },
          ' named ',
          { code: 'groups' },
          ' with a filter such as ',
          { ui: 'Matches regex' },
          ' ',
          { code: '.*' },
          '.',
        ],
        ['Choose ', { ui: 'Next' }, ', answer the feedback question, and choose ', { ui: 'Finish' }, '.'],
      ],
      attributes: [
        { name: 'email', source: 'user.email' },
        { name: 'firstName', source: 'user.firstName' },
        { name: 'lastName', source: 'user.lastName' },
        { name: 'groups', source: 'a Group Attribute Statement (optional)' },
      ],
    },
  ],
  idpSide: [
    [
      'On the app’s ',
      { ui: 'Sign On' },
      ' tab, under ',
      { ui: 'SAML Signing Certificates' },
      ', open ',
      { ui: 'Actions' },
      ' › ',
      { ui: 'View IdP metadata' },
      ' for the active certificate: copy that page’s URL (the metadata URL), or save it as a file.',
    ],
  ],
  afterwards: [
    [
      'On the app’s ',
      { ui: 'Assignments' },
      ' tab, assign the people or groups who should sign in. Okta refuses users who are not assigned.',
    ],
  ],
};

const genericOidc: IdpGuide = {
  key: 'generic-oidc',
  name: 'Other OpenID Connect provider',
  summary: 'Any identity provider that speaks OpenID Connect',
  protocol: 'oidc',
  connectionType: 'GenericOIDC',
  steps: [
    {
      title: 'Register a web application',
      text: [
        [
          'In your identity provider, register a new OpenID Connect web application (a confidential client using the authorization code flow).',
        ],
        [
          'Add the redirect URI below exactly as shown: scheme, host, path and no trailing slash. The identity provider refuses sign-ins to any other URI.',
        ],
      ],
      values: ['redirect_uri'],
    },
    {
      title: 'Allow the scopes',
      text: [
        [
          'Allow the scopes ',
          { code: 'openid' },
          ', ',
          { code: 'email' },
          ' and ',
          { code: 'profile' },
          '. The ID token or the userinfo endpoint must carry ',
          { code: 'email' },
          ', and should carry ',
          { code: 'given_name' },
          ' and ',
          { code: 'family_name' },
          '.',
        ],
      ],
    },
  ],
  idpSide: [
    [
      'Note the issuer URL (the address that serves ',
      { code: '/.well-known/openid-configuration' },
      '), the client ID and the client secret of the application.',
    ],
  ],
  afterwards: [
    ['Give the people who should sign in access to the application, if your identity provider requires it.'],
  ],
};

export const GUIDES: IdpGuide[] = [oktaSaml, genericSaml, genericOidc];

export function guideByKey(key: string | undefined): IdpGuide | undefined {
  return GUIDES.find((g) => g.key === key);
}

/** The guide for a connection type (the first one that creates it), for connections made elsewhere. */
export function guideForType(connectionType: string): IdpGuide | undefined {
  return (
    GUIDES.find((g) => g.connectionType === connectionType) ??
    GUIDES.find((g) => g.key === (connectionType.endsWith('OIDC') ? 'generic-oidc' : 'generic-saml'))
  );
}
