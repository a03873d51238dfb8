/**
 * The Admin Portal's step-by-step guides, one per identity provider: data, rendered by `views/guide.eta`. Each
 * step is text made of segments: plain words, a UI label of the IdP's console (`{ ui }`, shown in bold as the
 * console spells it), or one of this connection's values (`{ value }`, shown with a copy button; never a
 * placeholder: the portal fills in the real URL of the connection being set up).
 *
 * Sources for the screens and labels: ../shared/design/idp-setup-guides.md (vendor docs, WorkOS and BoxyHQ guides).
 * Steps avoid labels that source marks unconfirmed, or word the step so that it does not depend on them.
 */

import { connectorFor } from '../connectors/registry.ts';

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

const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';

const entraSaml: IdpGuide = {
  key: 'entra-saml',
  name: 'Microsoft Entra ID',
  summary: 'SAML 2.0 enterprise application (formerly Azure AD)',
  protocol: 'saml',
  connectionType: 'AzureSAML',
  steps: [
    {
      title: 'Create an enterprise application',
      text: [
        [
          'In the Microsoft Entra admin center, open the enterprise applications (',
          { ui: 'Enterprise apps' },
          ' in the current menu, ',
          { ui: 'Enterprise applications' },
          ' in older ones) and choose ',
          { ui: 'New application' },
          ', then ',
          { ui: 'Create your own application' },
          '. You need at least the Cloud Application Administrator role.',
        ],
        [
          'Enter a name your users will recognise, select ',
          { ui: "Integrate any other application you don't find in the gallery (Non-gallery)" },
          ' and choose ',
          { ui: 'Create' },
          '.',
        ],
      ],
    },
    {
      title: 'Enter the Basic SAML Configuration',
      text: [
        [
          'In the new application, open ',
          { ui: 'Single sign-on' },
          ' and select ',
          { ui: 'SAML' },
          '. On the ',
          { ui: 'Basic SAML Configuration' },
          ' card, choose ',
          { ui: 'Edit' },
          ' and enter:',
        ],
        [{ ui: 'Identifier (Entity ID)' }, ': the service provider entity ID.'],
        [{ ui: 'Reply URL (Assertion Consumer Service URL)' }, ': the ACS URL.'],
        ['Leave the sign-on URL, the relay state and the logout URL empty, and choose ', { ui: 'Save' }, '.'],
      ],
      values: ['sp_entity_id', 'acs_url'],
    },
    {
      title: 'Keep the default claims',
      text: [
        [
          'On the ',
          { ui: 'Attributes & Claims' },
          ' card, keep the claims Entra ID adds by default, with their names as they are: Gatehouse reads them without any change. Do not rename them to short names.',
        ],
        [
          'Users without a mailbox have no ',
          { code: 'user.mail' },
          ': for them Gatehouse takes the email address from the ',
          { code: 'name' },
          ' claim (the user principal name).',
        ],
        [
          'To send groups, choose ',
          { ui: 'Add a group claim' },
          ' and select ',
          { ui: 'Groups assigned to the application' },
          '. Entra ID sends the groups’ object IDs, and leaves the claim out for a user in more than 150 groups.',
        ],
        [
          'Keep the signing settings on the ',
          { ui: 'SAML Certificates' },
          ' card as they are (the assertion signed with SHA-256).',
        ],
      ],
      attributes: [
        { name: `${CLAIMS}/emailaddress`, source: 'user.mail (default claim)' },
        { name: `${CLAIMS}/givenname`, source: 'user.givenname (default claim)' },
        { name: `${CLAIMS}/surname`, source: 'user.surname (default claim)' },
        { name: `${CLAIMS}/name`, source: 'user.userprincipalname (default claim)' },
        {
          name: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
          source: 'a group claim (optional)',
        },
      ],
    },
  ],
  idpSide: [
    [
      'On the ',
      { ui: 'SAML Certificates' },
      ' card (',
      { ui: 'SAML Signing Certificate' },
      ' in older versions), copy the ',
      { ui: 'App Federation Metadata Url' },
      '. Or download ',
      { ui: 'Federation Metadata XML' },
      ' and upload the file.',
    ],
  ],
  afterwards: [
    [
      'Open the application’s ',
      { ui: 'Users and groups' },
      ', choose ',
      { ui: 'Add user/group' },
      ', pick the people or groups who should sign in, and choose ',
      { ui: 'Assign' },
      '. Assigning groups needs Entra ID P1 or P2. With ',
      { ui: 'Assignment required?' },
      ' set to Yes (under ',
      { ui: 'Properties' },
      '), an unassigned user gets ',
      { code: 'AADSTS50105' },
      ' on Microsoft’s page and never reaches the app: assign them.',
    ],
    [
      'Other errors on Microsoft’s page: ',
      { code: 'AADSTS50011' },
      ' means the Reply URL differs from the ACS URL; ',
      { code: 'AADSTS700016' },
      ' means the Identifier differs from the service provider entity ID. Compare them character by character with the values above.',
    ],
  ],
};

const googleSaml: IdpGuide = {
  key: 'google-saml',
  name: 'Google Workspace',
  summary: 'Custom SAML app',
  protocol: 'saml',
  connectionType: 'GoogleSAML',
  steps: [
    {
      title: 'Add a custom SAML app',
      text: [
        [
          'Sign in to the Google Admin console as a super administrator. Go to ',
          { ui: 'Apps' },
          ' › ',
          { ui: 'Web and mobile apps' },
          ' and choose ',
          { ui: 'Add App' },
          ' › ',
          { ui: 'Add custom SAML app' },
          '.',
        ],
        ['Enter an ', { ui: 'App name' }, ' your users will recognise and choose ', { ui: 'Continue' }, '.'],
      ],
    },
    {
      title: 'Download Google’s metadata',
      text: [
        [
          'On the ',
          { ui: 'Google Identity Provider details' },
          ' page, choose ',
          { ui: 'DOWNLOAD METADATA' },
          ' and keep the file: you upload it here at the end. Then choose ',
          { ui: 'Continue' },
          '.',
        ],
      ],
    },
    {
      title: 'Enter the service provider details',
      text: [
        [{ ui: 'ACS URL' }, ': the ACS URL.'],
        [
          { ui: 'Entity ID' },
          ': the service provider entity ID, exactly as shown (Google compares it letter for letter, case included).',
        ],
        [
          'Leave ',
          { ui: 'Start URL' },
          ' empty and ',
          { ui: 'Signed response' },
          ' as it is: Gatehouse accepts a signed assertion or a signed response.',
        ],
        [
          { ui: 'Name ID' },
          ': ',
          { ui: 'Basic Information › Primary email' },
          '. Gatehouse accepts any ',
          { ui: 'Name ID format' },
          ': leave it as it is. Choose ',
          { ui: 'Continue' },
          '.',
        ],
      ],
      values: ['acs_url', 'sp_entity_id'],
    },
    {
      title: 'Map the attributes',
      text: [
        [
          'On ',
          { ui: 'Attribute mapping' },
          ', choose ',
          { ui: 'Add mapping' },
          ' for each row below: the ',
          { ui: 'Google Directory attributes' },
          ' field on the left, the ',
          { ui: 'App attributes' },
          ' name on the right.',
        ],
        [
          'To send groups, under ',
          { ui: 'Group membership (optional)' },
          ' pick the ',
          { ui: 'Google groups' },
          ' to send and enter ',
          { code: 'groups' },
          ' as the app attribute. Then choose ',
          { ui: 'Finish' },
          '.',
        ],
        [
          'Google has no stable user ID to send: a user’s ID in the app is their primary email address, so renaming a user makes them a new user in the app.',
        ],
      ],
      attributes: [
        { name: 'email', source: 'Primary email' },
        { name: 'firstName', source: 'First name' },
        { name: 'lastName', source: 'Last name' },
        { name: 'groups', source: 'Group membership (optional)' },
      ],
    },
  ],
  idpSide: [
    [
      'Upload the metadata file from the ',
      { ui: 'DOWNLOAD METADATA' },
      ' step. To get it again, open the app in the Admin console and choose ',
      { ui: 'Download Metadata' },
      '. When Google’s certificate is renewed, upload the new file here.',
    ],
  ],
  afterwards: [
    [
      'On the app’s page, open ',
      { ui: 'User access' },
      ', set the service to ',
      { ui: 'ON for everyone' },
      ', or on for the organizational units or groups who should sign in, and choose ',
      { ui: 'Save' },
      '. A change can take up to 24 hours to apply.',
    ],
    [
      'Errors on Google’s page: ',
      { code: '403 app_not_enabled_for_user' },
      ' means the app is not on for the user’s organizational unit or group (or was turned on only recently); ',
      { code: '403 app_not_configured_for_user' },
      ' means the ',
      { ui: 'Entity ID' },
      ' differs from the service provider entity ID above.',
    ],
  ],
};

const adfsSaml: IdpGuide = {
  key: 'adfs-saml',
  name: 'Microsoft AD FS',
  summary: 'Relying party trust in Active Directory Federation Services',
  protocol: 'saml',
  connectionType: 'ADFSSAML',
  steps: [
    {
      title: 'Add a relying party trust from the metadata',
      text: [
        [
          'On the AD FS server, open ',
          { ui: 'Server Manager' },
          ' › ',
          { ui: 'Tools' },
          ' › ',
          { ui: 'AD FS Management' },
          '. Select ',
          { ui: 'Relying Party Trusts' },
          ' and, under ',
          { ui: 'Actions' },
          ', choose ',
          { ui: 'Add Relying Party Trust...' },
          '. Select ',
          { ui: 'Claims aware' },
          ' and choose ',
          { ui: 'Start' },
          '.',
        ],
        [
          'On ',
          { ui: 'Select Data Source' },
          ', select ',
          { ui: 'Import data about the relying party published online or on a local network' },
          ' and enter the service provider metadata URL as the ',
          { ui: 'Federation metadata address (host name or URL)' },
          '. If the AD FS server cannot reach it, open the URL in a browser, save the file, and select ',
          { ui: 'Import data about the relying party from a file' },
          ' instead.',
        ],
      ],
      values: ['sp_metadata_url'],
    },
    {
      title: 'Name the trust and choose who may sign in',
      text: [
        [
          'Enter a ',
          { ui: 'Display name' },
          '. When asked who may access the application, choose ',
          { ui: 'Permit everyone' },
          ' or a policy that permits one group (older AD FS versions ask this as issuance authorization rules).',
        ],
        [
          'On ',
          { ui: 'Ready to Add Trust' },
          ', check on the ',
          { ui: 'Endpoints' },
          ' tab that the SAML assertion consumer endpoint is the ACS URL below; the trust’s identifier is the entity ID. Keep the signature hash algorithm at SHA-256: Gatehouse refuses SHA-1.',
        ],
        [
          'On the last page, leave ',
          { ui: 'Configure claims issuance policy for this application' },
          ' ticked and choose ',
          { ui: 'Close' },
          '.',
        ],
      ],
      values: ['acs_url', 'sp_entity_id'],
    },
    {
      title: 'Add the claim rules',
      text: [
        [
          'The claim issuance policy opens (later: select the trust and choose ',
          { ui: 'Edit Claim Issuance Policy' },
          '). Choose ',
          { ui: 'Add Rule' },
          ', pick the template ',
          { ui: 'Send LDAP Attributes as Claims' },
          ', enter a ',
          { ui: 'Claim rule name' },
          ', and select ',
          { ui: 'Active Directory' },
          ' as the ',
          { ui: 'Attribute store' },
          '.',
        ],
        [
          'Add one row per line below: in the ',
          { ui: 'LDAP Attribute' },
          ' column the attribute it comes from, in the ',
          { ui: 'Outgoing Claim Type' },
          ' column the claim named here. Choose ',
          { ui: 'Finish' },
          ', then ',
          { ui: 'OK' },
          '.',
        ],
        [
          'Without this rule AD FS sends neither an email address nor a name ID, and every sign-in fails. No name ID transform rule is needed: Gatehouse accepts any name ID format.',
        ],
      ],
      attributes: [
        { name: 'Name ID', source: 'User-Principal-Name' },
        { name: 'E-Mail Address', source: 'E-Mail-Addresses' },
        { name: 'Given Name', source: 'Given-Name' },
        { name: 'Surname', source: 'Surname' },
        { name: 'Group', source: 'Token-Groups - Unqualified Names (optional)' },
      ],
    },
  ],
  idpSide: [
    [
      'AD FS publishes its metadata at ',
      { code: 'https://<your AD FS host>/FederationMetadata/2007-06/FederationMetadata.xml' },
      ' (listed under ',
      { ui: 'Service' },
      ' › ',
      { ui: 'Endpoints' },
      ' in AD FS Management). Give that URL if it can be reached from the internet; otherwise open it in a browser inside your network, save the file and upload it.',
    ],
  ],
  afterwards: [
    [
      'Who may sign in is set by the trust’s access control policy (',
      { ui: 'Permit everyone' },
      ' or a group). A user the policy refuses gets an access-denied page from AD FS and never reaches the app.',
    ],
    [
      'Errors: ',
      { code: 'MSIS7007' },
      ' on the AD FS page means the trust’s identifier differs from the service provider entity ID. A test sign-in that fails for a missing email address or user ID means the claim rule is missing or sends other claim types: check the claim issuance policy.',
    ],
    [
      'AD FS renews its token-signing certificate on its own. If you uploaded a file, upload the new metadata when the certificate changes.',
    ],
  ],
};

const oneloginSaml: IdpGuide = {
  key: 'onelogin-saml',
  name: 'OneLogin',
  summary: 'SAML Custom Connector (Advanced)',
  protocol: 'saml',
  connectionType: 'OneLoginSAML',
  steps: [
    {
      title: 'Add the SAML Custom Connector',
      text: [
        [
          'In OneLogin ',
          { ui: 'Administration' },
          ', go to ',
          { ui: 'Applications' },
          ' › ',
          { ui: 'Applications' },
          ' and choose ',
          { ui: 'Add App' },
          '. Search for ',
          { code: 'SAML Custom Connector' },
          ' and pick ',
          { ui: 'SAML Custom Connector (Advanced)' },
          '.',
        ],
        ['Enter a ', { ui: 'Display Name' }, ' your users will recognise and choose ', { ui: 'Save' }, '.'],
      ],
    },
    {
      title: 'Fill in the Configuration tab',
      text: [
        ['On the ', { ui: 'Configuration' }, ' tab:'],
        [{ ui: 'Audience (EntityID)' }, ': the service provider entity ID.'],
        [{ ui: 'Recipient' }, ' and ', { ui: 'ACS (Consumer) URL' }, ': the ACS URL.'],
        [
          { ui: 'ACS (Consumer) URL Validator' },
          ': the regular expression below; it matches the ACS URL and nothing else.',
        ],
        [
          { ui: 'SAML initiator' },
          ': ',
          { ui: 'Service Provider' },
          '. ',
          { ui: 'SAML signature element' },
          ': ',
          { ui: 'Assertion' },
          ' (Gatehouse accepts a signed assertion or a signed response). Leave the login URL, the logout URL and the RelayState empty, and the name ID format as it is. Choose ',
          { ui: 'Save' },
          '.',
        ],
      ],
      values: ['sp_entity_id', 'acs_url', 'acs_url_regex'],
    },
    {
      title: 'Add the parameters',
      text: [
        [
          'On the ',
          { ui: 'Parameters' },
          ' tab, add one parameter per row below: add a field, enter its ',
          { ui: 'Field name' },
          ', tick ',
          { ui: 'Include in SAML assertion' },
          ', choose ',
          { ui: 'Save' },
          ', then pick its ',
          { ui: 'Value' },
          ' and choose ',
          { ui: 'Save' },
          '.',
        ],
        [
          'For groups, also tick ',
          { ui: 'Multi-value parameter' },
          ' and pick the value that holds the user’s groups, for example ',
          { ui: 'MemberOf' },
          '.',
        ],
      ],
      attributes: [
        { name: 'User.email', source: 'Email' },
        { name: 'User.FirstName', source: 'First Name' },
        { name: 'User.LastName', source: 'Last Name' },
        { name: 'memberOf', source: 'MemberOf (optional)' },
      ],
    },
  ],
  idpSide: [
    [
      'On the ',
      { ui: 'SSO' },
      ' tab, copy the ',
      { ui: 'Issuer URL' },
      ': it is the metadata URL. Or choose ',
      { ui: 'More Actions' },
      ' › ',
      { ui: 'SAML Metadata' },
      ' to download the metadata file.',
    ],
  ],
  afterwards: [
    [
      'On the app’s ',
      { ui: 'Access' },
      ' tab, tick the roles whose users may sign in and choose ',
      { ui: 'Save' },
      ', or give the app to single users from their own page. OneLogin lets only those users sign in.',
    ],
    [
      'If OneLogin refuses the sign-in request itself, compare the ',
      { ui: 'ACS (Consumer) URL Validator' },
      ' with the value above and check that ',
      { ui: 'SAML initiator' },
      ' is ',
      { ui: 'Service Provider' },
      '.',
    ],
  ],
};

const jumpcloudSaml: IdpGuide = {
  key: 'jumpcloud-saml',
  name: 'JumpCloud',
  summary: 'Custom SAML application',
  protocol: 'saml',
  connectionType: 'JumpCloudSAML',
  steps: [
    {
      title: 'Create a custom SAML application',
      text: [
        [
          'In the JumpCloud Admin Portal, open ',
          { ui: 'SSO Applications' },
          ' and choose ',
          { ui: '+ Add New Application' },
          '. Pick ',
          { ui: 'Custom Application' },
          ' (',
          { ui: 'Custom SAML App' },
          ' in older consoles) and choose ',
          { ui: 'Next' },
          '.',
        ],
        [
          'Select ',
          { ui: 'Manage Single Sign-On (SSO)' },
          ' and ',
          { ui: 'Configure SSO with SAML' },
          ', choose ',
          { ui: 'Next' },
          ', enter a ',
          { ui: 'Display Label' },
          ', then choose ',
          { ui: 'Save Application' },
          ' and ',
          { ui: 'Configure Application' },
          '.',
        ],
      ],
    },
    {
      title: 'Fill in the SSO tab',
      text: [
        ['On the ', { ui: 'SSO' }, ' tab:'],
        [
          { ui: 'IdP Entity ID' },
          ': JumpCloud asks you to make one up. Enter the service provider entity ID here too: it is unique to this connection, and Gatehouse reads whatever you enter from JumpCloud’s metadata.',
        ],
        [{ ui: 'SP Entity ID' }, ': the service provider entity ID.'],
        [{ ui: 'ACS URLs' }, ': the ACS URL, as the default URL.'],
        [
          { ui: 'Sign' },
          ': ',
          { ui: 'Assertion' },
          ' (Gatehouse accepts a signed assertion or a signed response); ',
          { ui: 'Signature Algorithm' },
          ': ',
          { ui: 'RSA-SHA256' },
          '. Leave ',
          { ui: 'SAMLSubject NameID' },
          ' on the email address.',
        ],
        [
          'Tick ',
          { ui: 'Declare Redirect Endpoint' },
          ' before you export the metadata: it changes the metadata.',
        ],
      ],
      values: ['sp_entity_id', 'acs_url'],
    },
    {
      title: 'Add the attributes',
      text: [
        [
          'Under ',
          { ui: 'User Attributes' },
          ', add one row per line below: the ',
          { ui: 'Service Provider Attribute Name' },
          ', then the ',
          { ui: 'JumpCloud Attribute Name' },
          ' it comes from.',
        ],
        [
          'To send groups, under ',
          { ui: 'Group Attributes' },
          ' tick ',
          { ui: 'include group attribute' },
          ' and name it ',
          { code: 'memberOf' },
          '. Then choose ',
          { ui: 'Activate' },
          ' (or ',
          { ui: 'Save' },
          ').',
        ],
      ],
      attributes: [
        { name: 'email', source: 'email' },
        { name: 'firstname', source: 'firstname' },
        { name: 'lastname', source: 'lastname' },
        { name: 'memberOf', source: 'the group attribute (optional)' },
      ],
    },
  ],
  idpSide: [
    [
      'On the ',
      { ui: 'SSO' },
      ' tab, under ',
      { ui: 'JumpCloud Metadata' },
      ', choose ',
      { ui: 'Copy Metadata URL' },
      ', or ',
      { ui: 'Export Metadata' },
      ' to download the file.',
    ],
  ],
  afterwards: [
    [
      'On the app’s ',
      { ui: 'User Groups' },
      ' tab, tick the groups whose members may sign in (for example All Users) and choose ',
      { ui: 'Save' },
      '. JumpCloud lets only members of those groups use the app: a refused test user is usually in none of them.',
    ],
    [
      'A user’s ID in the app is the name ID JumpCloud sends (the email address unless you changed it): changing a user’s email makes them a new user in the app.',
    ],
  ],
};

const pingFederateSaml: IdpGuide = {
  key: 'pingfederate-saml',
  name: 'PingFederate',
  summary: 'SP connection imported from metadata',
  protocol: 'saml',
  connectionType: 'PingFederateSAML',
  steps: [
    {
      title: 'Create an SP connection from the metadata',
      text: [
        [
          'In the PingFederate administrative console, open ',
          { ui: 'SP Connections' },
          ' (under ',
          { ui: 'Applications' },
          ') and create a connection.',
        ],
        [
          'Connection type: ',
          { ui: 'Browser SSO Profiles' },
          ' with the SAML 2.0 protocol. Connection options: ',
          { ui: 'Browser SSO' },
          '.',
        ],
        [
          'On ',
          { ui: 'Import Metadata' },
          ', give the service provider metadata URL (or upload the file saved from it). PingFederate fills in the partner’s entity ID and the ACS URL from it: check them against the values below.',
        ],
      ],
      values: ['sp_metadata_url', 'sp_entity_id', 'acs_url'],
    },
    {
      title: 'Configure Browser SSO',
      text: [
        [
          'Under ',
          { ui: 'SAML Profiles' },
          ', enable ',
          { ui: 'SP-Initiated SSO' },
          ' (and ',
          { ui: 'IdP-Initiated SSO' },
          ' if users should also start from PingFederate).',
        ],
        [
          'Under ',
          { ui: 'Protocol Settings' },
          ', the assertion consumer service must be the ACS URL with the ',
          { ui: 'POST' },
          ' binding. Allow the Redirect and POST bindings: Gatehouse sends its requests with one of them.',
        ],
        [
          'Sign the assertion (or the whole response) with RSA SHA-256: Gatehouse refuses SHA-1. No encryption is needed.',
        ],
      ],
      values: ['acs_url'],
    },
    {
      title: 'Build the attribute contract',
      text: [
        [
          'Under ',
          { ui: 'Assertion Creation' },
          ', extend the ',
          { ui: 'Attribute Contract' },
          ' with the names below. In ',
          { ui: 'Attribute Contract Fulfillment' },
          ', fill each of them, and ',
          { code: 'SAML_SUBJECT' },
          ' (the user’s ID in the app), from your adapter, authentication policy contract or LDAP data store.',
        ],
        [
          'Finish on ',
          { ui: 'Activation & Summary' },
          ': make the connection active and choose ',
          { ui: 'Save' },
          '.',
        ],
      ],
      attributes: [
        { name: 'email', source: 'the user’s email address (for example mail)' },
        { name: 'firstName', source: 'the user’s first name (for example givenName)' },
        { name: 'lastName', source: 'the user’s last name (for example sn)' },
        { name: 'memberOf', source: 'the user’s groups (optional, for example isMemberOf)' },
      ],
    },
  ],
  idpSide: [
    [
      'In ',
      { ui: 'SP Connections' },
      ', open this connection’s ',
      { ui: 'Select Action' },
      ' menu and choose ',
      { ui: 'Export Metadata' },
      ', then upload the file. A metadata URL from PingFederate must name this connection (',
      { code: '/pf/federation_metadata.ping?PartnerSpId=' },
      ' and the service provider entity ID, URL-encoded): without it the metadata may carry another signing certificate.',
    ],
  ],
  afterwards: [
    [
      'Who may sign in is decided by the adapter or authentication policy this connection uses: limit it there if only some people should use the app.',
    ],
    [
      'A test sign-in that reaches the app without an email address or a name means the attribute contract uses other names: use the names listed above.',
    ],
  ],
};

const oktaOidc: IdpGuide = {
  key: 'okta-oidc',
  name: 'Okta (OpenID Connect)',
  summary: 'OIDC web app integration',
  protocol: 'oidc',
  connectionType: 'OktaOIDC',
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
          { ui: 'OIDC - OpenID Connect' },
          ' and ',
          { ui: 'Web Application' },
          ', then choose ',
          { ui: 'Next' },
          '.',
        ],
        [
          'Enter an ',
          { ui: 'App integration name' },
          '. Under ',
          { ui: 'Grant type' },
          ', keep ',
          { ui: 'Authorization Code' },
          '.',
        ],
      ],
    },
    {
      title: 'Add the sign-in redirect URI',
      text: [
        [
          { ui: 'Sign-in redirect URIs' },
          ': the redirect URI below, exactly as shown, in place of any URI already there. Leave ',
          { ui: 'Sign-out redirect URIs' },
          ' empty.',
        ],
        [
          'Under ',
          { ui: 'Assignments' },
          ', choose who may sign in (',
          { ui: 'Limit access to selected groups' },
          ' or ',
          { ui: 'Allow everyone in your organization to access' },
          '), then choose ',
          { ui: 'Save' },
          '.',
        ],
        [
          'Gatehouse asks for the scopes ',
          { code: 'openid' },
          ', ',
          { code: 'email' },
          ' and ',
          { code: 'profile' },
          ', which Okta allows by default.',
        ],
      ],
      values: ['redirect_uri'],
    },
    {
      title: 'Send groups (optional)',
      text: [
        [
          'On the app’s ',
          { ui: 'Sign On' },
          ' tab, edit the groups claim (in some orgs under ',
          { ui: 'Show legacy configuration' },
          '): ',
          { ui: 'Groups claim type' },
          ' ',
          { ui: 'Filter' },
          ', named ',
          { code: 'groups' },
          ', ',
          { ui: 'Matches regex' },
          ' ',
          { code: '.*' },
          '.',
        ],
      ],
    },
  ],
  idpSide: [
    [
      'On the app’s ',
      { ui: 'General' },
      ' tab, under ',
      { ui: 'Client Credentials' },
      ', copy the ',
      { ui: 'Client ID' },
      ' and the ',
      { ui: 'Client secret' },
      '.',
    ],
    [
      'The issuer is your Okta domain as an https address with no path and no trailing slash, for example ',
      { code: 'https://acme.okta.com' },
      ' (shown in the user menu at the top right of the Admin Console). Do not give the Admin Console’s own address, the one with ',
      { code: '-admin' },
      ' in it.',
    ],
  ],
  afterwards: [
    [
      'On the app’s ',
      { ui: 'Assignments' },
      ' tab, assign the people or groups who should sign in. An unassigned user is refused with “User is not assigned to the client application.”',
    ],
    [
      'If Okta shows “400 Bad Request” saying the ',
      { code: 'redirect_uri' },
      ' parameter must be a Login redirect URI, the sign-in redirect URI differs from the one above.',
    ],
  ],
};

const entraOidc: IdpGuide = {
  key: 'entra-oidc',
  name: 'Microsoft Entra ID (OpenID Connect)',
  summary: 'App registration',
  protocol: 'oidc',
  connectionType: 'EntraIdOIDC',
  steps: [
    {
      title: 'Register the application',
      text: [
        [
          'In the Microsoft Entra admin center, open ',
          { ui: 'App registrations' },
          ' and choose ',
          { ui: 'New registration' },
          '.',
        ],
        [
          'Enter a ',
          { ui: 'Name' },
          '. Under ',
          { ui: 'Supported account types' },
          ', keep accounts in this organizational directory only (single tenant).',
        ],
        [
          'Under ',
          { ui: 'Redirect URI' },
          ', select the platform ',
          { ui: 'Web' },
          ' (not single-page application) and enter the redirect URI below, exactly as shown. Choose ',
          { ui: 'Register' },
          '.',
        ],
      ],
      values: ['redirect_uri'],
    },
    {
      title: 'Create a client secret',
      text: [
        [
          'Open ',
          { ui: 'Certificates & secrets' },
          ', choose ',
          { ui: 'New client secret' },
          ', enter a description and an expiry, and choose ',
          { ui: 'Add' },
          '.',
        ],
        [
          'Copy the secret’s ',
          { ui: 'Value' },
          ' now: Entra ID shows it only once. The ',
          { ui: 'Secret ID' },
          ' next to it is not the secret. Sign-ins stop when the secret expires: note the date.',
        ],
      ],
    },
    {
      title: 'Add the optional claims',
      text: [
        [
          'Open ',
          { ui: 'Token configuration' },
          ', choose ',
          { ui: 'Add optional claim' },
          ', select the token type ',
          { ui: 'ID' },
          ', tick ',
          { code: 'email' },
          ', ',
          { code: 'family_name' },
          ' and ',
          { code: 'given_name' },
          ', and choose ',
          { ui: 'Add' },
          '. Accept the Microsoft Graph email and profile permission when asked.',
        ],
        [
          'Gatehouse asks for the scopes ',
          { code: 'openid' },
          ', ',
          { code: 'email' },
          ' and ',
          { code: 'profile' },
          '. A user without a mailbox has no ',
          { code: 'email' },
          ' claim: Gatehouse then uses ',
          { code: 'preferred_username' },
          ' (the user principal name).',
        ],
        [
          'To send groups, choose ',
          { ui: 'Add groups claim' },
          ' and select ',
          { ui: 'Groups assigned to the application' },
          ' (Entra ID sends the groups’ object IDs).',
        ],
      ],
      attributes: [
        { name: 'email', source: 'optional claim, ID token' },
        { name: 'given_name', source: 'optional claim, ID token' },
        { name: 'family_name', source: 'optional claim, ID token' },
        { name: 'groups', source: 'groups claim (optional)' },
      ],
    },
  ],
  idpSide: [
    [
      'On the app’s ',
      { ui: 'Overview' },
      ', copy the ',
      { ui: 'Application (client) ID' },
      '. The client secret is the ',
      { ui: 'Value' },
      ' you copied.',
    ],
    [
      'For the issuer, choose ',
      { ui: 'Endpoints' },
      ' on the ',
      { ui: 'Overview' },
      ' and copy the ',
      { ui: 'OpenID Connect metadata document' },
      ' address: the issuer is that address without ',
      { code: '/.well-known/openid-configuration' },
      ' (it ends in ',
      { code: '/v2.0' },
      ').',
    ],
  ],
  afterwards: [
    [
      'Open the app under the enterprise applications (',
      { ui: 'Enterprise apps' },
      ' or ',
      { ui: 'Enterprise applications' },
      '), choose ',
      { ui: 'Users and groups' },
      ' › ',
      { ui: 'Add user/group' },
      ', pick the people or groups who should sign in, and choose ',
      { ui: 'Assign' },
      '. With ',
      { ui: 'Assignment required?' },
      ' set to Yes (under ',
      { ui: 'Properties' },
      '), an unassigned user gets ',
      { code: 'AADSTS50105' },
      ' on Microsoft’s page.',
    ],
    [
      'Errors: ',
      { code: 'AADSTS50011' },
      ' on Microsoft’s page means the redirect URI differs (or was added under another platform than ',
      { ui: 'Web' },
      '). A test sign-in that fails with an invalid client (',
      { code: 'AADSTS7000215' },
      ' or ',
      { code: 'AADSTS7000222' },
      ') means the secret’s ID was given instead of its value, or the secret expired: create a new one.',
    ],
  ],
};

/**
 * The picker's order: the SAML providers most customers use, generic SAML, then OpenID Connect. The first guide
 * of a connection type is the one `guideForType` returns.
 */
export const GUIDES: IdpGuide[] = [
  oktaSaml,
  entraSaml,
  googleSaml,
  adfsSaml,
  oneloginSaml,
  jumpcloudSaml,
  pingFederateSaml,
  genericSaml,
  oktaOidc,
  entraOidc,
  genericOidc,
];

export function guideByKey(key: string | undefined): IdpGuide | undefined {
  return GUIDES.find((g) => g.key === key);
}

/**
 * The guide for a connection type, for connections made elsewhere: its own guide, else the generic guide of its
 * protocol (KeycloakSAML and the other SAML flavours get the generic SAML guide). OAuth providers have none.
 */
export function guideForType(connectionType: string): IdpGuide | undefined {
  const own = GUIDES.find((g) => g.connectionType === connectionType);
  if (own) return own;
  const protocol = connectorFor(connectionType)?.protocol;
  if (protocol === 'saml') return guideByKey('generic-saml');
  if (protocol === 'oidc') return guideByKey('generic-oidc');
  return undefined;
}

/**
 * OneLogin's "ACS (Consumer) URL Validator": a regular expression that matches the ACS URL and nothing else,
 * its `/` and the other regular-expression characters escaped (WorkOS's form: `^https:\/\/host\/sso\/…$`).
 */
export function acsUrlRegex(acsUrl: string): string {
  return `^${acsUrl.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')}$`;
}
