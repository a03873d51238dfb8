import type { ErrorCode } from './catalog.ts';

/**
 * Why a sign-in failed, for the person who can fix it (error-taxonomy.md §5): one table, as data.
 *
 * - `REASONS`: one row per internal reason a sign-in can end with: every catalog code of the sign-in endpoints
 *   (pages, redirects to the app, the token and profile endpoints), `internal` (an unexpected exception),
 *   `timed_out` (the user never came back from the IdP before the login expired) and `timed_out_at_consent`.
 * - `SIGNALS`: rows for what an identity provider itself said, found in the session log's `upstream_error` (Entra
 *   AADSTS numbers, Okta's texts, Google's, Salesforce's and GitHub's `error` values, SAML second-level status
 *   codes) or in its `detail` (a saved signing certificate that expired). A signal is more precise than the
 *   reason it maps to (`reason`, the catalog code `connectors/upstream-errors.ts` or the SAML connector gives it),
 *   so its row wins.
 *
 * Each row names its audience (the end user, the customer's IT admin, the app's developer, the operator of this
 * Gatehouse), whether the same sign-in can succeed if retried (now or once the user acts), and an explanation and
 * a fix written for that audience. IT-admin fixes name the IdP console's setting; `variants` give the text for a
 * given IdP (chosen from the connection type) or for OAuth provider connections, whose OAuth app belongs to the
 * operator. `{idp}`, `{console}`, `{expected}`, … are filled by `explain` (`{name|fallback}` when absent).
 *
 * None of this ever reaches a browser or the app's redirect: it is served by the management API (session log) and
 * docs/errors.md, which is generated from this file (`npm run docs`).
 */

export type Audience = 'end_user' | 'it_admin' | 'app_developer' | 'operator';

export const AUDIENCES: Record<Audience, string> = {
  end_user: 'the user signing in',
  it_admin: "the customer's IT admin, who configures the identity provider",
  app_developer: "the application's developer, who integrates it with Gatehouse",
  operator: "this Gatehouse's operator: its configuration, network and clock, and identity provider outages",
};

export interface Explanation {
  audience: Audience;
  /** Whether trying the same sign-in again can succeed (at once, or once the user did what the fix says). */
  retryable: boolean;
  /** What happened, in the audience's words. */
  explanation: string;
  /** What to change or do, and where. */
  fix: string;
}

/** IdPs with their own console wording; `oauth_provider` is any OAuth provider connection (the operator's app). */
export type IdpVariant =
  | 'okta'
  | 'entra'
  | 'google'
  | 'adfs'
  | 'onelogin'
  | 'jumpcloud'
  | 'ping'
  | 'keycloak'
  | 'auth0'
  | 'salesforce'
  | 'google_oauth'
  | 'microsoft_oauth'
  | 'github'
  | 'oauth_provider';

export interface ExplanationRow extends Explanation {
  variants?: Partial<Record<IdpVariant, Partial<Explanation>>>;
}

export interface SignalRow extends ExplanationRow {
  /** Who sends it. */
  vendor: string;
  /** The catalog code the signal maps to (what the app gets on the wire). */
  reason: ErrorCode;
  /** The row applies only when the session's reason is one of these. */
  onlyFor?: ErrorCode[];
}

const IDP_OF: Record<string, Exclude<IdpVariant, 'oauth_provider'>> = {
  OktaSAML: 'okta',
  OktaOIDC: 'okta',
  AzureSAML: 'entra',
  EntraIdOIDC: 'entra',
  GoogleSAML: 'google',
  ADFSSAML: 'adfs',
  OneLoginSAML: 'onelogin',
  JumpCloudSAML: 'jumpcloud',
  PingFederateSAML: 'ping',
  PingOneSAML: 'ping',
  KeycloakSAML: 'keycloak',
  Auth0SAML: 'auth0',
  SalesforceSAML: 'salesforce',
  GoogleOAuth: 'google_oauth',
  MicrosoftOAuth: 'microsoft_oauth',
  GitHubOAuth: 'github',
};

const OAUTH_PROVIDERS = new Set(['GoogleOAuth', 'MicrosoftOAuth', 'GitHubOAuth']);

/** The IdP's name and where its administrators configure it. */
const IDP_NAMES: Record<IdpVariant | 'other', { idp: string; console: string }> = {
  okta: { idp: 'Okta', console: 'the Okta Admin Console' },
  entra: { idp: 'Microsoft Entra ID', console: 'the Microsoft Entra admin center' },
  google: { idp: 'Google Workspace', console: 'the Google Admin console' },
  adfs: { idp: 'AD FS', console: 'AD FS Management' },
  onelogin: { idp: 'OneLogin', console: 'the OneLogin admin portal' },
  jumpcloud: { idp: 'JumpCloud', console: 'the JumpCloud Admin Portal' },
  ping: { idp: 'PingFederate', console: 'the PingFederate administrative console' },
  keycloak: { idp: 'Keycloak', console: 'the Keycloak Admin Console' },
  auth0: { idp: 'Auth0', console: 'the Auth0 Dashboard' },
  salesforce: { idp: 'Salesforce', console: 'Salesforce Setup' },
  google_oauth: { idp: 'Google', console: 'the Google Cloud console' },
  microsoft_oauth: { idp: 'Microsoft', console: 'the Microsoft Entra admin center (App registrations)' },
  github: { idp: 'GitHub', console: "GitHub's Settings > Developer settings > OAuth Apps" },
  oauth_provider: { idp: 'the OAuth provider', console: "the provider's developer console" },
  other: { idp: 'the identity provider', console: "the identity provider's admin console" },
};

const row = (
  audience: Audience,
  retryable: boolean,
  explanation: string,
  fix: string,
  variants?: ExplanationRow['variants'],
): ExplanationRow => ({ audience, retryable, explanation, fix, ...(variants ? { variants } : {}) });

// Fixes shared by several rows (one text each).
const START_AGAIN = 'Start the sign-in again from the application.';
const OPERATOR_LOGS =
  "Look up the request ID in Gatehouse's logs: the line there has the exception. The user can try again; if it repeats, report it with that log line.";
const CLOCKS =
  'Synchronise the clock of every Gatehouse host with NTP (`timedatectl` shows whether it is); if the IdP runs on premises (AD FS, Keycloak), its clock must be synchronised too.';

/** Where an IdP's console assigns users to an application. */
const ASSIGN: ExplanationRow['variants'] = {
  okta: {
    fix: 'In the Okta Admin Console, open Applications > Applications > (this app) > Assignments > Assign, and assign the user or a group they belong to.',
  },
  entra: {
    fix: 'In the Microsoft Entra admin center, open Identity > Applications > Enterprise applications > (this app) > Users and groups > Add user/group, and assign the user or a group they belong to; or, if every user of the tenant may use it, set Properties > Assignment required? to No.',
  },
  google: {
    fix: 'In the Google Admin console, open Apps > Web and mobile apps > (this app) > User access, and turn the app ON for the organizational unit or group of the user.',
  },
  onelogin: {
    fix: 'In the OneLogin admin portal, open Users > (the user) > Applications (or a Role that includes the app) and add this app.',
  },
  jumpcloud: {
    fix: 'In the JumpCloud Admin Portal, open SSO Applications > (this app) > User Groups, and bind a group the user belongs to.',
  },
  adfs: {
    fix: "In AD FS Management, open Relying Party Trusts > (this trust) > Edit Access Control Policy, and permit the user's group.",
  },
  ping: {
    fix: "In the PingFederate administrative console, open Applications > Integration > SP Connections > (this connection) > Browser SSO > Assertion Creation > Authentication Source Mapping, and check its Issuance Criteria for the user's group.",
  },
};

/** Where an IdP's console sets the application's redirect URI (OIDC) or ACS URL (SAML). */
const CALLBACK_URL: ExplanationRow['variants'] = {
  okta: {
    fix: "In the Okta Admin Console, open Applications > Applications > (this app) > General: set Sign-in redirect URIs (OIDC) to this connection's oidc_options.redirect_uri, or SAML Settings > Single sign-on URL to its saml_options.acs_url, exactly.",
  },
  entra: {
    fix: "In the Microsoft Entra admin center, open App registrations > (this app) > Authentication > Redirect URIs (platform Web) and add this connection's oidc_options.redirect_uri exactly; for SAML, Enterprise applications > (this app) > Single sign-on > Basic SAML Configuration > Reply URL (Assertion Consumer Service URL) = saml_options.acs_url.",
  },
  google: {
    fix: "In the Google Admin console, open Apps > Web and mobile apps > (this app) > Service provider details, and set ACS URL to this connection's saml_options.acs_url.",
  },
  google_oauth: {
    audience: 'operator',
    fix: "In the Google Cloud console, open APIs & Services > Credentials > (the OAuth 2.0 client) > Authorized redirect URIs, and add the connection's oauth_options.redirect_uri exactly.",
  },
  microsoft_oauth: {
    audience: 'operator',
    fix: "In the Microsoft Entra admin center, open App registrations > (the app) > Authentication > Redirect URIs (platform Web), and add the connection's oauth_options.redirect_uri exactly.",
  },
  github: {
    audience: 'operator',
    fix: "In GitHub, open Settings > Developer settings > OAuth Apps > (the app), and set Authorization callback URL to the connection's oauth_options.redirect_uri.",
  },
  salesforce: {
    fix: "In Salesforce Setup, open App Manager > (the connected app) > Edit > API (Enable OAuth Settings) > Callback URL, and add this connection's oidc_options.redirect_uri.",
  },
  adfs: {
    fix: "In AD FS Management, open Relying Party Trusts > (this trust) > Properties > Endpoints, and set the SAML Assertion Consumer Endpoint (POST) to this connection's saml_options.acs_url.",
  },
  onelogin: {
    fix: "In the OneLogin admin portal, open Applications > (this app) > Configuration, and set ACS (Consumer) URL and Recipient to this connection's saml_options.acs_url (and the ACS URL Validator to match it).",
  },
  jumpcloud: {
    fix: "In the JumpCloud Admin Portal, open SSO Applications > (this app) > SSO, and set ACS URL to this connection's saml_options.acs_url.",
  },
};

/** Where an IdP's console holds the OAuth client's ID and secret. */
const CLIENT_SECRET: ExplanationRow['variants'] = {
  okta: {
    fix: 'In the Okta Admin Console, open Applications > Applications > (this app) > General > Client Credentials: copy the Client ID and a current Client secret into the connection (PUT /connections/{id}, oidc_options).',
  },
  entra: {
    fix: 'In the Microsoft Entra admin center, open App registrations > (this app) > Certificates & secrets > Client secrets > New client secret, and save its Value (not the Secret ID) as oidc_options.client_secret; check oidc_options.client_id against Overview > Application (client) ID.',
  },
  oauth_provider: { audience: 'operator' },
  google_oauth: {
    audience: 'operator',
    fix: "In the Google Cloud console, open APIs & Services > Credentials > (the OAuth 2.0 client): copy its Client ID and a current client secret into the connection's oauth_options.",
  },
  microsoft_oauth: {
    audience: 'operator',
    fix: "In the Microsoft Entra admin center, open App registrations > (the app) > Certificates & secrets > New client secret, and save its Value (not the Secret ID) as the connection's oauth_options.client_secret.",
  },
  github: {
    audience: 'operator',
    fix: "In GitHub, open Settings > Developer settings > OAuth Apps > (the app) > Generate a new client secret, and save it as the connection's oauth_options.client_secret.",
  },
};

/** Where an IdP's console sets the SAML signing certificate. */
const SIGNING_CERTIFICATE: ExplanationRow['variants'] = {
  okta: {
    fix: 'In the Okta Admin Console, open Applications > Applications > (this app) > Sign On > SAML Signing Certificates: check which certificate is Active, then View IdP metadata and give that metadata to this connection again (or use the metadata URL, which is re-read by itself).',
  },
  entra: {
    fix: 'In the Microsoft Entra admin center, open Enterprise applications > (this app) > Single sign-on > SAML Certificates: check the Active token signing certificate and its Signing Option (sign the SAML assertion or the response), then download Federation Metadata XML (or copy the App Federation Metadata Url) and give it to this connection again.',
  },
  google: {
    fix: 'In the Google Admin console, open Apps > Web and mobile apps > (this app) > Download metadata, and give that metadata to this connection again.',
  },
  adfs: {
    fix: 'In AD FS Management, open Service > Certificates: check the Token-signing certificate (primary), then give https://<your AD FS host>/FederationMetadata/2007-06/FederationMetadata.xml to this connection again.',
  },
  onelogin: {
    fix: 'In the OneLogin admin portal, open Applications > (this app) > SSO: check the X.509 certificate, then More Actions > SAML Metadata, and give that metadata to this connection again.',
  },
  jumpcloud: {
    fix: 'In the JumpCloud Admin Portal, open SSO Applications > (this app) > SSO > IdP Certificate, then Export Metadata, and give that metadata to this connection again.',
  },
};

const AUDIENCE_URI: ExplanationRow['variants'] = {
  okta: {
    fix: "In the Okta Admin Console, open Applications > Applications > (this app) > General > SAML Settings > Edit, and set Audience URI (SP Entity ID) to {expected|the connection's saml_options.sp_entity_id}.",
  },
  entra: {
    fix: "In the Microsoft Entra admin center, open Enterprise applications > (this app) > Single sign-on > Basic SAML Configuration, and set Identifier (Entity ID) to {expected|the connection's saml_options.sp_entity_id} (mark it Default).",
  },
  google: {
    fix: "In the Google Admin console, open Apps > Web and mobile apps > (this app) > Service provider details, and set Entity ID to {expected|the connection's saml_options.sp_entity_id}.",
  },
  adfs: {
    fix: "In AD FS Management, open Relying Party Trusts > (this trust) > Properties > Identifiers, and add {expected|the connection's saml_options.sp_entity_id} as Relying party identifier.",
  },
  onelogin: {
    fix: "In the OneLogin admin portal, open Applications > (this app) > Configuration, and set Audience (EntityID) to {expected|the connection's saml_options.sp_entity_id}.",
  },
  jumpcloud: {
    fix: "In the JumpCloud Admin Portal, open SSO Applications > (this app) > SSO, and set SP Entity ID to {expected|the connection's saml_options.sp_entity_id}.",
  },
  ping: {
    fix: "In the PingFederate administrative console, open Applications > Integration > SP Connections > (this connection) > General Info, and set Partner's Entity ID (Connection ID) to {expected|the connection's saml_options.sp_entity_id}.",
  },
};

const ACS_URL: ExplanationRow['variants'] = {
  okta: {
    fix: 'In the Okta Admin Console, open Applications > Applications > (this app) > General > SAML Settings > Edit, and set Single sign-on URL to {expected|the connection\'s saml_options.acs_url} (with "Use this for Recipient URL and Destination URL" checked).',
  },
  entra: {
    fix: "In the Microsoft Entra admin center, open Enterprise applications > (this app) > Single sign-on > Basic SAML Configuration, and set Reply URL (Assertion Consumer Service URL) to {expected|the connection's saml_options.acs_url} (mark it Default).",
  },
  google: {
    fix: "In the Google Admin console, open Apps > Web and mobile apps > (this app) > Service provider details, and set ACS URL to {expected|the connection's saml_options.acs_url}.",
  },
  adfs: {
    fix: "In AD FS Management, open Relying Party Trusts > (this trust) > Properties > Endpoints, and set the SAML Assertion Consumer Endpoint (binding POST, default) to {expected|the connection's saml_options.acs_url}.",
  },
  onelogin: {
    fix: "In the OneLogin admin portal, open Applications > (this app) > Configuration, and set Recipient and ACS (Consumer) URL to {expected|the connection's saml_options.acs_url}.",
  },
  jumpcloud: {
    fix: "In the JumpCloud Admin Portal, open SSO Applications > (this app) > SSO, and set ACS URL to {expected|the connection's saml_options.acs_url}.",
  },
  ping: {
    fix: "In the PingFederate administrative console, open Applications > Integration > SP Connections > (this connection) > Browser SSO > Protocol Settings > Assertion Consumer Service URL, and set it to {expected|the connection's saml_options.acs_url}.",
  },
};

const POLICY: ExplanationRow['variants'] = {
  okta: {
    fix: "In the Okta Admin Console, check Security > Authentication Policies (the policy applied to this app, or the app's Sign On tab) and, for OIDC, Security > API > Authorization Servers > (the server) > Access Policies: a rule must allow this user, this client and the Authorization Code grant. Reports > System Log shows which rule denied the sign-in.",
  },
  entra: {
    fix: 'In the Microsoft Entra admin center, open Identity > Monitoring & health > Sign-in logs, find the sign-in (the correlation ID is in upstream_error) and read its Conditional Access tab: it names the policy that blocked it. Change that policy or its assignments under Protection > Conditional Access > Policies.',
  },
  google: {
    fix: "In the Google Admin console, check Security > Access and data control > Context-Aware Access and the app's User access settings for the user's organizational unit.",
  },
  adfs: {
    fix: 'In AD FS Management, open Relying Party Trusts > (this trust) > Edit Access Control Policy (or its issuance authorization rules) and permit the user; the AD FS Admin event log (event 325) names the denial.',
  },
};

const PROFILE_ATTRIBUTES: ExplanationRow['variants'] = {
  okta: {
    fix: 'In the Okta Admin Console, open Applications > Applications > (this app) > General > SAML Settings > Edit > Attribute Statements, and add email = user.email (for OIDC, grant the email scope on the Okta API Scopes tab).',
  },
  entra: {
    fix: "In the Microsoft Entra admin center, open Enterprise applications > (this app) > Single sign-on > Attributes & Claims: keep the emailaddress claim (user.mail), and make sure the user's Mail is set (Users > (the user) > Properties).",
  },
  google: {
    fix: 'In the Google Admin console, open Apps > Web and mobile apps > (this app) > SAML attribute mapping, and map Primary email to email.',
  },
  adfs: {
    fix: 'In AD FS Management, open Relying Party Trusts > (this trust) > Edit Claim Issuance Policy, and add a "Send LDAP Attributes as Claims" rule: E-Mail-Addresses → E-Mail Address, User-Principal-Name → Name ID.',
  },
  onelogin: {
    fix: 'In the OneLogin admin portal, open Applications > (this app) > Parameters, and add email (value: Email, included in the SAML assertion).',
  },
  jumpcloud: {
    fix: 'In the JumpCloud Admin Portal, open SSO Applications > (this app) > SSO > User Attributes, and add email = email.',
  },
};

/**
 * Every internal reason a sign-in can end with. Keys are catalog codes (those of the sign-in endpoints), plus
 * `internal` and `timed_out`; a test checks that the two lists agree.
 */
export const REASONS: Record<string, ExplanationRow> = {
  // ---- /sso/authorize before the application is known: an HTML page ----
  client_id_missing: row(
    'app_developer',
    false,
    'The sign-in link reached Gatehouse without a client_id, so Gatehouse cannot tell which application sent the user.',
    "Build the link with the SDK's sso.getAuthorizationUrl({ clientId, ... }), or add client_id=<the client ID Gatehouse printed on first start> to the /sso/authorize URL.",
  ),
  client_id_unknown: row(
    'app_developer',
    false,
    "The client_id in the sign-in link is not this Gatehouse environment's client ID.",
    "Configure the application with this Gatehouse's client ID (GATEHOUSE_CLIENT_ID, printed on first start), and check that its SDK points at this Gatehouse (apiHostname).",
  ),
  client_id_repeated: row(
    'app_developer',
    false,
    'The sign-in link carries client_id more than once.',
    'Send client_id exactly once: check the code that appends parameters to the authorization URL.',
  ),
  authorize_rate_limited_page: row(
    'operator',
    true,
    'More sign-in requests came from this network (or for this connection) within the window than the rate limits allow: GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP, GATEHOUSE_RATE_LIMIT_CALLBACK_IP or GATEHOUSE_RATE_LIMIT_CALLBACK_CONNECTION.',
    'The user can try again after Retry-After seconds. If many users share one address (an office NAT, a proxy), raise the limit, or set GATEHOUSE_TRUST_PROXY so that Gatehouse counts each client address behind your load balancer.',
  ),
  redirect_uri_missing: row(
    'app_developer',
    false,
    'The sign-in link has no redirect_uri, so Gatehouse has nowhere safe to send the user back to.',
    'Pass redirectUri to getAuthorizationUrl: one of the URIs on the allowlist (GET /redirect_uris).',
  ),
  redirect_uri_repeated: row(
    'app_developer',
    false,
    'The sign-in link carries redirect_uri more than once.',
    'Send redirect_uri exactly once.',
  ),
  redirect_uri_not_allowed: row(
    'app_developer',
    false,
    'The redirect_uri is not on the allowlist (matching is exact apart from the documented wildcards), so Gatehouse will not send the user there. At the callback or consent step it means the URI was removed from the allowlist during the sign-in.',
    'Add the exact URI with POST /redirect_uris (or GATEHOUSE_REDIRECT_URIS), or correct the URI the application sends: scheme, host, port, path and trailing slash must all match.',
  ),

  // ---- /sso/authorize, redirected to the app ----
  parameter_repeated: row(
    'app_developer',
    false,
    'A parameter of the authorization request that may appear once appeared several times.',
    'Send each parameter once; detail names it.',
  ),
  response_type_missing: row(
    'app_developer',
    false,
    'The authorization request has no response_type.',
    'Send response_type=code (the SDK does).',
  ),
  response_type_unsupported: row(
    'app_developer',
    false,
    'The authorization request asked for a response_type other than code; Gatehouse supports the authorization code flow only.',
    'Send response_type=code and exchange the code at POST /sso/token.',
  ),
  pkce_method_unsupported: row(
    'app_developer',
    false,
    'The authorization request used a code_challenge_method other than S256 (plain is refused).',
    'Send code_challenge_method=S256 with code_challenge = base64url(SHA-256(code_verifier)).',
  ),
  pkce_challenge_missing: row(
    'app_developer',
    false,
    'The authorization request sent code_challenge_method without a code_challenge.',
    'Send both code_challenge and code_challenge_method=S256, or neither.',
  ),
  pkce_method_missing: row(
    'app_developer',
    false,
    'The authorization request sent a code_challenge without code_challenge_method=S256.',
    'Add code_challenge_method=S256.',
  ),
  pkce_challenge_malformed: row(
    'app_developer',
    false,
    'The code_challenge is not a base64url SHA-256 digest (43 characters).',
    'Compute code_challenge as base64url(SHA-256(code_verifier)) without padding.',
  ),
  parameter_malformed: row(
    'app_developer',
    false,
    'A parameter of the authorization request is malformed or longer than Gatehouse accepts; detail names it.',
    "Send the parameter named in detail within its limits; keep the application's state short (for example a random key to a server-side record).",
  ),
  domain_selector_not_allowed: row(
    'app_developer',
    false,
    'The application selected the connection with the legacy domain parameter, which this Gatehouse does not accept.',
    'Select the connection with organization=org_… or connection=conn_… (or turn GATEHOUSE_LEGACY_DOMAIN_SELECTOR on).',
  ),
  selector_missing: row(
    'app_developer',
    false,
    'The authorization request names no connection: it needs one of connection, organization or provider.',
    "Pass organization (the user's organization ID), connection or provider to getAuthorizationUrl.",
  ),
  selector_multiple: row(
    'app_developer',
    false,
    'The authorization request names more than one of connection, organization and provider.',
    'Pass exactly one of them.',
  ),
  provider_not_configured: row(
    'operator',
    false,
    'The application asked for provider=… and this environment has no connection of that type.',
    'Create the provider connection (POST /connections with the connection_type and oauth_options), or stop offering that sign-in button.',
  ),
  provider_ambiguous: row(
    'operator',
    false,
    'The application asked for provider=… and this environment has several connections of that type.',
    'Delete the extra connection, or select one with connection=conn_….',
  ),
  organization_not_found: row(
    'app_developer',
    false,
    'The organization ID in the authorization request matches no organization.',
    'Send the ID of an existing organization (GET /organizations), as stored by the application.',
  ),
  organization_without_connection: row(
    'it_admin',
    false,
    'The organization has no active connection: its single sign-on was never set up, or its connection is a draft, inactive or deleted.',
    "Finish the organization's setup (send its IT admin an Admin Portal link: POST /portal/generate_link) and activate the connection; until then, let these users sign in another way.",
  ),
  organization_ambiguous: row(
    'app_developer',
    false,
    'The organization has more than one active connection, so organization= cannot choose.',
    'Select the connection with connection=conn_…, or deactivate the connections that should not be used.',
  ),
  connection_not_found: row(
    'app_developer',
    false,
    'The connection ID in the authorization request matches no connection.',
    'Send the ID of an existing connection (GET /connections).',
  ),
  connection_unlinked: row(
    'it_admin',
    false,
    'The connection is not active: its setup is not complete (a draft), it was deactivated, or (IdP-initiated) it is not live yet.',
    "Complete the connection's IdP side (SAML metadata or OIDC issuer and client) and activate it, in the Admin Portal or with POST /connections/{id}/activate.",
  ),
  domain_without_connection: row(
    'app_developer',
    false,
    'No connection belongs to the domain the application gave.',
    'Select the connection by organization or connection instead.',
  ),
  upstream_unavailable: row(
    'operator',
    true,
    'Gatehouse could not reach {idp} to start the sign-in: its discovery document or metadata did not load (DNS, connection refused, timeout, or an HTTP error); detail names the host and the reason.',
    "Check that {idp} is up and reachable from Gatehouse's hosts (egress firewall, proxy, DNS); sign-ins work again once it is. Private addresses are refused unless GATEHOUSE_ALLOW_PRIVATE_URLS is on.",
  ),
  upstream_misconfigured: row(
    'it_admin',
    false,
    "The connection's settings cannot start a sign-in: the issuer's discovery document is invalid or names another issuer, the SAML metadata has no usable single sign-on URL, or a URL is refused by the SSRF guard (detail says which).",
    'Check the issuer URL (it must serve /.well-known/openid-configuration with exactly that issuer), or give the connection the current SAML metadata of the application configured in {idp}.',
  ),
  authorize_internal: row(
    'operator',
    true,
    'An unexpected error in Gatehouse while starting the sign-in.',
    OPERATOR_LOGS,
  ),
  authorize_rate_limited: row(
    'operator',
    true,
    'More sign-ins were started for this connection, or from this address, than GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION or GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP allow.',
    'The user can try again in a minute. If this is legitimate traffic, raise the limit; if it is a flood, it is working as intended.',
  ),

  // ---- the IdP's answer, before it is tied to a sign-in: an HTML page ----
  callback_state_missing: row(
    'end_user',
    true,
    "The browser arrived at Gatehouse's callback without the state of a sign-in: a bookmarked or shared callback URL, or a sign-in started from the IdP's app tile on an OIDC connection.",
    `${START_AGAIN} If users start from an app tile at {idp}, point that tile at the application's sign-in page instead of Gatehouse's callback URL.`,
  ),
  callback_state_unknown: row(
    'end_user',
    true,
    'The state in the callback matches no sign-in in progress: the sign-in was completed already, or it expired long ago, or the link came from history or another device.',
    START_AGAIN,
  ),
  callback_browser_mismatch: row(
    'end_user',
    true,
    'The IdP sent the user back in a browser that does not hold the cookie of the browser that started this sign-in: the sign-in was started in one browser (or an in-app browser) and finished in another, or cookies for Gatehouse were blocked or cleared.',
    'Start and finish the sign-in in one browser, with cookies allowed for Gatehouse.',
  ),
  callback_connection_mismatch: row(
    'it_admin',
    false,
    'The IdP sent the user back to the callback URL of another connection than the one the sign-in started with: the redirect URI (or ACS URL) registered at {idp} belongs to another Gatehouse connection.',
    "In {console}, register exactly this connection's redirect URI (oidc_options.redirect_uri) or ACS URL (saml_options.acs_url), as GET /connections/{id} shows it.",
    CALLBACK_URL,
  ),
  saml_response_unbound: row(
    'it_admin',
    false,
    'A SAML response was posted to an ACS URL that belongs to no SAML connection (deleted, or of another type), so it cannot be used.',
    "If users start from an app tile at {idp}, give that application the current connection's ACS URL and entity ID; a single occurrence can also be a stale bookmark or a forged post (nothing was accepted).",
  ),
  saml_unsolicited_unverified: row(
    'it_admin',
    false,
    'An IdP-initiated SAML response failed a check before its signature was verified (unsigned, signed with a key not saved for this connection, or malformed), so nothing in it was used or kept; detail.failed_check names the check.',
    'Make sure {idp} signs the response or the assertion with the certificate saved for this connection (give the connection its current metadata again). A single occurrence can also be a forged post: nothing was accepted.',
    SIGNING_CERTIFICATE,
  ),
  default_redirect_uri_missing: row(
    'app_developer',
    false,
    'An IdP-initiated SAML sign-in has nowhere to go: its RelayState names no allowlisted redirect_uri and no default redirect URI is set.',
    'Set a default redirect URI (POST /redirect_uris/{id}/default), or have the IdP send RelayState=redirect_uri=<an allowlisted URI>.',
  ),
  consent_invalid: row(
    'end_user',
    true,
    "The answer to Gatehouse's sign-in confirmation was not used: the screen was answered already, it expired, or it was answered from another browser or site.",
    `${START_AGAIN} Answer the confirmation once, in the browser that started the sign-in.`,
  ),

  // ---- the IdP's answer, tied to a sign-in: redirected to the app ----
  transaction_expired: row(
    'end_user',
    true,
    "The user came back from {idp} after the sign-in's 10 minutes were over, or came back a second time (back button, refresh) after the sign-in had ended.",
    'Sign in again and finish within 10 minutes. The application should start a new sign-in when it receives this error.',
  ),
  issuer_mismatch: row(
    'it_admin',
    false,
    "The IdP's answer named another issuer than this connection's (RFC 9207 iss): the connection's issuer URL differs from what {idp} says it is, or an answer from another IdP was injected (a mix-up attack).",
    "Check that oidc_options.issuer is exactly the issuer of {idp}'s discovery document (trailing slash included). If it is, treat this as an attack on the user's sign-in: detail has the issuer received.",
  ),
  upstream_user_cancelled: row(
    'end_user',
    true,
    'The user cancelled at {idp}: closed or declined its login or consent prompt.',
    'Nothing to fix: the user can sign in again. upstream_error holds what {idp} said, if a user reports that they did not cancel.',
  ),
  upstream_user_not_assigned: row(
    'it_admin',
    false,
    '{Idp} has not assigned this user to the application, so it will not sign them in to it.',
    'In {console}, assign the user (or a group they belong to) to the application that this connection uses.',
    ASSIGN,
  ),
  upstream_policy_denied: row(
    'it_admin',
    false,
    'An access policy at {idp} refused this user or this sign-in: a sign-on or conditional access policy, device or network rules, or a second factor the user could not complete.',
    "In {console}, find the sign-in in the IdP's sign-in log and the policy that denied it; change the policy or its assignments for this application, or have the user meet it (MFA registration, a compliant device).",
    POLICY,
  ),
  upstream_access_denied: row(
    'it_admin',
    false,
    "{Idp} denied the user access to the application without a more precise reason Gatehouse recognises; upstream_error holds {idp}'s own message.",
    "In {console}'s sign-in log, find this sign-in (the time, the user, or the trace ID in upstream_error): check the user's assignment to the application, the access policies, admin consent, and that the account is enabled.",
  ),
  upstream_temporarily_unavailable: row(
    'operator',
    true,
    '{Idp} reported a temporary failure, did not answer in time (GATEHOUSE_UPSTREAM_TIMEOUT_MS), could not be reached, or answered with an HTTP 5xx or 429.',
    "Try again later. If it persists, check {idp}'s status page and the network path from Gatehouse's hosts to it.",
  ),
  upstream_client_rejected: row(
    'it_admin',
    false,
    "{Idp} does not accept the connection's client ID or secret: the secret is wrong, expired or rotated, or the application was deleted or suspended at {idp}.",
    "In {console}, copy the application's client ID and a current client secret into the connection (PUT /connections/{id}).",
    CLIENT_SECRET,
  ),
  upstream_config_rejected: row(
    'it_admin',
    false,
    "{Idp} rejected the connection's settings: the redirect URI is not registered for the application, a scope or response type is not allowed, or (SAML) the requested NameID format or attributes are not supported.",
    "In {console}, register this connection's redirect URI exactly (oidc_options.redirect_uri, or saml_options.acs_url), and allow the scopes in oidc_options.scopes; upstream_error says which setting {idp} refused.",
    CALLBACK_URL,
  ),
  upstream_request_rejected: row(
    'it_admin',
    false,
    "{Idp} rejected Gatehouse's sign-in request as malformed or unsupported (SAML: RequestUnsupported, UnsupportedBinding, a version mismatch, or a request signature it requires).",
    'Check upstream_error. For SAML, set saml_options.idp_sso_binding to the binding {idp} accepts (redirect or post) and make the AuthnRequest signature match what {idp} requires (saml_options.sign_authn_requests). If the settings agree, report the request ID as a Gatehouse bug.',
  ),
  upstream_interaction_required: row(
    'end_user',
    true,
    '{Idp} needed the user to interact (sign in again, choose an account, re-authenticate) but answered without prompting, or its own login session expired in the middle of the sign-in.',
    'Sign in again. If every user gets this, check that {idp} does not treat the application as silent-only (prompt=none or IsPassive).',
  ),
  upstream_error_unknown: row(
    'it_admin',
    true,
    '{Idp} answered with an error that Gatehouse does not classify; upstream_error holds its code and message verbatim.',
    "Look the code up in {idp}'s documentation, and the sign-in in {console}'s sign-in log (the trace or correlation ID in upstream_error finds it). The user can try again.",
  ),
  code_exchange_failed: row(
    'operator',
    true,
    "Gatehouse could not exchange the authorization code at {idp}'s token endpoint: the code expired (Okta's live 60 seconds), was already used, or {idp} refused the PKCE verifier or redirect URI.",
    "The user can try again. If it keeps failing, check the latency and clock of Gatehouse's hosts, and the token endpoint's answer in upstream_error.",
  ),
  id_token_invalid: row(
    'it_admin',
    false,
    "The ID token did not verify: it is signed with a key that is not in {idp}'s published keys (JWKS) or with an algorithm that is not allowed, or it was issued for another client (aud) or issuer.",
    'Check that oidc_options.issuer and client_id are those of the application at {idp}, and that it signs ID tokens with RS256 or ES256. A signing key rotation at {idp} is picked up by itself.',
  ),
  id_token_expired: row(
    'operator',
    true,
    "The ID token's validity (exp, iat, nbf) was outside the allowed window when it arrived: the clocks of Gatehouse and {idp} differ.",
    CLOCKS,
  ),
  nonce_mismatch: row(
    'operator',
    true,
    'The ID token was issued for another sign-in (its nonce differs): a replayed or injected token, or an IdP that returns a cached ID token.',
    'The user can sign in again. Repeated occurrences for one connection point at an attack or a misbehaving IdP: detail has what was received.',
  ),
  userinfo_failed: row(
    'it_admin',
    false,
    "{Idp}'s userinfo endpoint (GitHub: its REST API) refused the access token or returned no profile.",
    'In {console}, grant the application the openid, email and profile scopes (the connection asks for oidc_options.scopes), and check the answer in upstream_error.',
  ),
  profile_incomplete: row(
    'it_admin',
    false,
    '{Idp} signed the user in but sent no user ID or no email address, so Gatehouse cannot build a profile.',
    'In {console}, send the email address: the SAML attribute email (or its mapped name), or the OIDC claim email with the email scope; and a NameID or sub.',
    PROFILE_ATTRIBUTES,
  ),
  email_domain_not_allowed: row(
    'it_admin',
    false,
    "The email address {idp} sent is not in one of the organization's verified domains, and the organization does not allow profiles outside them.",
    "Verify the domain for the organization (Admin Portal domain verification, or POST /organization_domains then verify), or set allow_profiles_outside_organization; if the user signed in with another company's account, they sign in with their own.",
  ),
  consent_denied: row(
    'end_user',
    true,
    "The user pressed Deny on Gatehouse's sign-in confirmation screen.",
    'Nothing to fix: the user can sign in again and approve. GATEHOUSE_SIGNIN_CONSENT=off removes the screen.',
  ),

  // ---- OAuth provider connections ----
  provider_email_unverified: row(
    'end_user',
    true,
    '{Idp} has not verified the email address of the account the user signed in with, so Gatehouse does not trust it.',
    'The user verifies their email address with {idp}, then signs in again.',
    {
      github: {
        fix: 'In GitHub, Settings > Emails: verify the primary email address (or make a verified address primary), then sign in again.',
      },
      microsoft_oauth: {
        fix: "Sign in with an account whose email domain the user's Microsoft organization has verified (or a personal Microsoft account), or the operator sets which email to trust in the connection's oauth_options.",
      },
    },
  ),
  provider_tenant_not_allowed: row(
    'end_user',
    true,
    "The user's Microsoft organization (tenant) is not one of the connection's oauth_options.allowed_tenants.",
    'Sign in with an account of an allowed organization; the operator can add the tenant ID to oauth_options.allowed_tenants.',
  ),
  provider_domain_mismatch: row(
    'end_user',
    true,
    'The user signed in with an account outside the domain the application asked for (domain_hint).',
    'Sign in with an account of that domain.',
  ),
  callback_internal: row(
    'operator',
    true,
    "An unexpected error in Gatehouse while handling the IdP's answer.",
    OPERATOR_LOGS,
  ),

  // ---- SAML responses at the ACS ----
  saml_response_missing: row(
    'it_admin',
    false,
    'The ACS received a POST without a SAMLResponse.',
    "Configure {idp} to send its response with the HTTP-POST binding to this connection's saml_options.acs_url.",
  ),
  saml_malformed: row(
    'it_admin',
    false,
    'The SAML response could not be read: it is not well-formed XML, carries a DTD, is larger than GATEHOUSE_SAML_MAX_BYTES or beyond the shape limits; detail says which.',
    'Check that {idp} sends a plain SAML 2.0 Response. If it is a large response (many group attributes), send fewer groups or raise GATEHOUSE_SAML_MAX_BYTES.',
  ),
  saml_signature_invalid: row(
    'it_admin',
    false,
    'The response and its assertion were not signed with a certificate saved for this connection: {idp} rotated its signing certificate, signs nothing, or the response was altered. detail lists the certificates seen and saved.',
    "Give the connection {idp}'s current metadata (or its metadata URL, which is re-read by itself), and make sure {idp} signs the assertion or the response.",
    SIGNING_CERTIFICATE,
  ),
  saml_sha1_not_allowed: row(
    'it_admin',
    false,
    '{Idp} signs its responses with SHA-1, which this connection does not accept.',
    'In {console}, set the signature algorithm to RSA-SHA256 (or, knowingly, set saml_options.allow_sha1).',
    {
      okta: {
        fix: 'In the Okta Admin Console, open Applications > Applications > (this app) > General > SAML Settings > Edit > Show Advanced Settings, and set Signature Algorithm to RSA-SHA256.',
      },
      entra: {
        fix: 'In the Microsoft Entra admin center, open Enterprise applications > (this app) > Single sign-on > SAML Certificates > Edit, and set Signing Algorithm to SHA-256.',
      },
      adfs: {
        fix: 'In AD FS Management, open Relying Party Trusts > (this trust) > Properties > Advanced, and set Secure hash algorithm to SHA-256.',
      },
    },
  ),
  saml_issuer_mismatch: row(
    'it_admin',
    false,
    "The assertion's Issuer ({received|not recorded}) is not the IdP entity ID saved for this connection ({expected|not recorded}).",
    'Give the connection the metadata of the application configured in {idp} again (or correct saml_options.idp_entity_id).',
  ),
  saml_audience_mismatch: row(
    'it_admin',
    false,
    "The response is addressed to the audience {received|not recorded}, not to this connection's SP entity ID ({expected|not recorded}).",
    "In {console}, set the application's audience (SP entity ID) to {expected|the connection's saml_options.sp_entity_id}.",
    AUDIENCE_URI,
  ),
  saml_recipient_mismatch: row(
    'it_admin',
    false,
    "The response was sent for {received|another URL} (its Recipient or Destination), not for this connection's ACS URL ({expected|not recorded}).",
    "In {console}, set the application's ACS (single sign-on) URL, recipient and destination to {expected|the connection's saml_options.acs_url}.",
    ACS_URL,
  ),
  saml_not_yet_valid: row(
    'operator',
    false,
    "The response is not valid yet by Gatehouse's clock ({now|not recorded}), even with the allowed skew of {clock_skew_seconds|180} seconds: the clocks of Gatehouse and {idp} differ.",
    `${CLOCKS} saml_options.clock_skew_seconds widens the window for one connection.`,
  ),
  saml_expired: row(
    'end_user',
    true,
    'The response had already expired when it arrived (NotOnOrAfter passed): the user took too long or came back with the back button, or the clocks of Gatehouse and {idp} differ.',
    `${START_AGAIN} If it happens on every sign-in, check the clocks: ${CLOCKS}`,
  ),
  saml_in_response_to_mismatch: row(
    'end_user',
    true,
    'The response answers another sign-in request than this one (InResponseTo): two sign-ins in two tabs, a stale tab, or a response posted again.',
    `${START_AGAIN} Use one tab.`,
  ),
  saml_replayed: row(
    'end_user',
    true,
    'This assertion was already used: a refresh or the back button after a sign-in, or a replay.',
    START_AGAIN,
  ),
  saml_decrypt_failed: row(
    'it_admin',
    false,
    "The encrypted assertion could not be decrypted with this connection's key: {idp} encrypts with another certificate, or the connection has no decryption key.",
    "In {console}, encrypt with the encryption certificate in this connection's SP metadata (saml_options.sp_metadata_url), or turn assertion encryption off.",
  ),
  saml_assertion_missing: row(
    'it_admin',
    false,
    'The response carries neither an assertion nor a failure status.',
    "Check that {idp} sends a SAML 2.0 Response with one assertion to this connection's ACS URL.",
  ),
  upstream_authn_failed: row(
    'end_user',
    true,
    '{Idp} could not authenticate the user (wrong password, failed second factor, or SAML AuthnFailed).',
    'Sign in again with the right credentials; if the user cannot, the IT admin checks the account in {console}.',
  ),
  upstream_wrong_account: row(
    'end_user',
    true,
    "The account the user signed in with is not valid for this application at {idp}: another organization's or a personal account, or one {idp} does not know (SAML UnknownPrincipal).",
    'Sign out of {idp} and sign in with the company account. If that was the company account, the IT admin checks that it exists in {console} (for Entra, as a member or an invited guest).',
  ),
  upstream_authn_requirements_unmet: row(
    'it_admin',
    false,
    '{Idp} could not meet the authentication requirements of the request (SAML NoAuthnContext, Entra AADSTS75011). Gatehouse asks for no particular method, so a policy at {idp} requires one the user cannot use.',
    "In {console}, check the application's sign-on policy and the user's authentication methods.",
  ),
  upstream_proxy_failed: row(
    'it_admin',
    false,
    '{Idp} acts as a proxy and could not route the sign-in to an identity provider (NoAvailableIDP, NoSupportedIDP, ProxyCountExceeded).',
    "In {console}, check the federation (home realm) rules that route this application's users to their identity provider.",
  ),
  idp_initiated_disabled: row(
    'app_developer',
    false,
    'The user started from an app tile at {idp} (IdP-initiated sign-in), which this connection refuses (saml_options.idp_initiated_sso_enabled is false).',
    'When the app receives idp_initiated_sso_disabled, it should start a sign-in with the connection_id it was given; or enable IdP-initiated sign-in on the connection, or hide the tile at {idp}.',
  ),

  // ---- POST /sso/token and GET /sso/profile ----
  token_rate_limited: row(
    'app_developer',
    true,
    'The application sent more token requests than GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT (or the IP limit for failed ones) allows.',
    'Retry after Retry-After seconds; exchange each code once, and do not retry rejected codes in a loop.',
  ),
  token_body_invalid: row(
    'app_developer',
    false,
    'The token request body is neither form-encoded nor JSON.',
    'POST /sso/token as application/x-www-form-urlencoded or JSON (the SDK does).',
  ),
  token_parameter_missing: row(
    'app_developer',
    false,
    'The token request lacks client_id, grant_type or code.',
    'Send client_id, grant_type=authorization_code and code, with client_secret or code_verifier.',
  ),
  token_parameter_repeated: row(
    'app_developer',
    false,
    'A parameter of the token request was repeated.',
    'Send each parameter once.',
  ),
  grant_type_unsupported: row(
    'app_developer',
    false,
    'The token request used a grant_type other than authorization_code.',
    'Send grant_type=authorization_code.',
  ),
  client_invalid: row(
    'app_developer',
    false,
    'The token request named an unknown client_id, or its client_secret is not an active API key.',
    "Send an active API key as client_secret (the SDK sends the key it was created with) and this environment's client ID.",
  ),
  client_pkce_required: row(
    'app_developer',
    false,
    'The token request has no client_secret, and the code was issued without a code_challenge: a public client must use PKCE.',
    'Send code_challenge at /sso/authorize and code_verifier at /sso/token, or authenticate with the API key.',
  ),
  code_invalid: row(
    'app_developer',
    true,
    'The code is unknown, expired (codes live 10 minutes), already used (a second use also revokes what the first one issued), or was issued to another client.',
    'Exchange each code once, right after the redirect; on this error, start a new sign-in.',
  ),
  code_verifier_mismatch: row(
    'app_developer',
    false,
    'The code_verifier does not match the code_challenge the sign-in started with.',
    'Send the code_verifier kept for this sign-in (in the same session that built the authorization URL).',
  ),
  code_verifier_missing: row(
    'app_developer',
    false,
    'The code was issued with a code_challenge and the token request has no code_verifier.',
    'Send the code_verifier of this sign-in.',
  ),
  code_verifier_unexpected: row(
    'app_developer',
    false,
    'A code_verifier was sent for a code issued without a code_challenge.',
    'Send code_challenge at /sso/authorize too, or no code_verifier.',
  ),
  token_redirect_uri_mismatch: row(
    'app_developer',
    false,
    'The token request names another redirect_uri than the authorization request did.',
    'Send the same redirect_uri to both, or none to /sso/token.',
  ),
  idempotency_key_reused: row(
    'app_developer',
    false,
    'The Idempotency-Key was used before for a different token request.',
    'Use a fresh Idempotency-Key for each new request (retries of the same request keep theirs).',
  ),
  token_internal: row(
    'operator',
    true,
    'An unexpected error in Gatehouse while exchanging the code.',
    OPERATOR_LOGS,
  ),
  bearer_token_missing: row(
    'app_developer',
    false,
    'GET /sso/profile was called without a Bearer token.',
    'Send the access token from POST /sso/token in the Authorization header: Bearer <token>.',
  ),
  bearer_token_invalid: row(
    'app_developer',
    true,
    'The access token is unknown, expired or revoked (a reused code revokes its tokens).',
    'Sign the user in again to get a new access token.',
  ),
  bearer_request_invalid: row(
    'app_developer',
    false,
    'The access token was sent elsewhere than the Authorization header (query or body), or in several places.',
    'Send it in the Authorization header only.',
  ),

  // ---- not catalog codes of the sign-in endpoints ----
  internal: row('operator', true, 'An unexpected error in Gatehouse during the sign-in.', OPERATOR_LOGS),
  timed_out: row(
    'it_admin',
    true,
    'The user went to {idp} and did not come back before the sign-in expired (10 minutes). One such sign-in is usually a closed tab; many of them for one connection mean {idp} shows users its own error page instead of sending them back: an unassigned user, a redirect URI or ACS URL that is not registered, a blocked application.',
    "Ask a user what {idp}'s page said. In {console}, check that the user is assigned to the application and that the registered redirect URI (or ACS URL) is exactly the connection's; {idp}'s sign-in log shows the refused attempts.",
    {
      entra: {
        fix: "Ask a user for the AADSTS code on Microsoft's page (AADSTS50011: the redirect URI is not registered; AADSTS50105: the user is not assigned; AADSTS700016: the app is not in the tenant). Identity > Monitoring & health > Sign-in logs lists the failed attempts with that code.",
      },
      okta: {
        fix: "Ask a user what Okta's page said (\"The 'redirect_uri' parameter must be a Login redirect URI\" means the redirect URI is not registered). Reports > System Log lists the refused attempts; check Applications > (this app) > Assignments and General > Sign-in redirect URIs.",
      },
      google_oauth: {
        audience: 'operator',
        fix: "Ask a user what Google's page said (redirect_uri_mismatch, admin_policy_enforced, org_internal). Check the OAuth client's Authorized redirect URIs in the Google Cloud console.",
      },
    },
  ),
  timed_out_at_consent: row(
    'end_user',
    true,
    "The user signed in at {idp} but did not answer Gatehouse's sign-in confirmation screen before the sign-in expired.",
    'Nothing to fix: the user can sign in again and approve. GATEHOUSE_SIGNIN_CONSENT=off removes the screen.',
  ),
};

/**
 * What identity providers say, keyed by the signal: `AADSTS<n>` (Entra, from error_description, error_codes or
 * a SAML StatusMessage), `error=<value>` (the OAuth `error`), `saml:<second-level StatusCode>`, or a named text
 * or detail signal (`okta:…`, `saml:certificate_expired`; see TEXT_SIGNALS and signalsOf).
 */
export const SIGNALS: Record<string, SignalRow> = {
  // ---- Microsoft Entra ID ----
  AADSTS50105: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_user_not_assigned',
    ...row(
      'it_admin',
      false,
      'Entra: the user is not assigned to this application, and the application requires assignment (AADSTS50105).',
      'In the Microsoft Entra admin center, open Identity > Applications > Enterprise applications > (this app) > Users and groups > Add user/group, and assign the user or a group they belong to; or set Properties > Assignment required? to No if every user of the tenant may use it.',
    ),
  },
  AADSTS50011: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      'Entra: the redirect URI in the request is not registered for the application (AADSTS50011). Usually Microsoft shows this on its own page and the user never comes back.',
      "In the Microsoft Entra admin center, open App registrations > (this app) > Authentication > Redirect URIs (platform Web), and add this connection's oidc_options.redirect_uri exactly; for SAML, Enterprise applications > (this app) > Single sign-on > Basic SAML Configuration > Reply URL = saml_options.acs_url.",
      {
        microsoft_oauth: {
          audience: 'operator',
          fix: "In the Microsoft Entra admin center, open App registrations > (the app) > Authentication > Redirect URIs (platform Web), and add the connection's oauth_options.redirect_uri exactly.",
        },
      },
    ),
  },
  AADSTS700016: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_client_rejected',
    ...row(
      'it_admin',
      false,
      "Entra: no application with the connection's client ID exists in the tenant the sign-in went to (AADSTS700016): a wrong client ID or tenant, a deleted app registration, or a single-tenant application used from another tenant.",
      'In the Microsoft Entra admin center, open App registrations > (this app) > Overview: compare Application (client) ID with oidc_options.client_id, and Directory (tenant) ID with the tenant in oidc_options.issuer; for users of other tenants, set Authentication > Supported account types to a multitenant option.',
      { oauth_provider: { audience: 'operator' } },
    ),
  },
  AADSTS50076: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_policy_denied',
    ...row(
      'end_user',
      true,
      'Entra requires multi-factor authentication for this sign-in (a Conditional Access policy, security defaults, or a new location), and it was not completed (AADSTS50076).',
      "Sign in again and complete the multi-factor prompt. If no prompt appears, the IT admin checks the user's methods in the Microsoft Entra admin center under Users > (the user) > Authentication methods.",
    ),
  },
  AADSTS50079: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_policy_denied',
    ...row(
      'end_user',
      true,
      'Entra requires multi-factor authentication and the user has not registered a method yet (AADSTS50079).',
      'Register a method at https://aka.ms/mfasetup, then sign in again.',
    ),
  },
  AADSTS53003: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_policy_denied',
    ...row(
      'it_admin',
      false,
      'Entra: a Conditional Access policy blocked this sign-in (AADSTS53003).',
      'In the Microsoft Entra admin center, open Identity > Monitoring & health > Sign-in logs, find the sign-in (the correlation ID is in upstream_error) and read its Conditional Access tab: it names the blocking policy. Change it under Protection > Conditional Access > Policies, or its assignments for this application.',
    ),
  },
  AADSTS53000: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_policy_denied',
    ...row(
      'end_user',
      true,
      'Entra: a Conditional Access policy requires a compliant (managed) device, and this device is not (AADSTS53000).',
      "Sign in from a device enrolled in the organization's device management (Intune Company Portal), or ask the IT admin which devices are allowed.",
    ),
  },
  AADSTS65001: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      'Entra: nobody has consented to the permissions the application asks for, and users may not consent themselves (AADSTS65001).',
      'In the Microsoft Entra admin center, open Enterprise applications > (this app) > Permissions > Grant admin consent for <your tenant> (or App registrations > (this app) > API permissions > Grant admin consent).',
    ),
  },
  AADSTS90094: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      "Entra: the application needs an administrator's consent (AADSTS90094).",
      'In the Microsoft Entra admin center, open Enterprise applications > (this app) > Permissions > Grant admin consent for <your tenant>, or approve the request under Enterprise applications > Admin consent requests.',
    ),
  },
  AADSTS65004: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_user_cancelled',
    ...row(
      'end_user',
      true,
      "Entra: the user declined Microsoft's consent prompt for the application (AADSTS65004).",
      'Nothing to fix: the user can sign in again and accept. If users should not be asked, an administrator grants consent for the tenant.',
    ),
  },
  AADSTS50126: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_authn_failed',
    ...row(
      'end_user',
      true,
      'Entra: the username or password was wrong (AADSTS50126).',
      'Sign in again with the right password, or reset it at https://aka.ms/sspr.',
    ),
  },
  AADSTS90072: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_wrong_account',
    ...row(
      'end_user',
      true,
      'Entra: the account belongs to another organization or identity provider and is not a guest of this tenant (AADSTS90072).',
      'Sign in with the account of the organization that uses this application. If this account should have access, the IT admin invites it in the Microsoft Entra admin center: Identity > Users > All users > New user > Invite external user.',
    ),
  },
  AADSTS50020: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_wrong_account',
    ...row(
      'end_user',
      true,
      'Entra: the account is from another tenant and is not a guest in this one (AADSTS50020).',
      'Sign in with an account of the organization that uses this application; or the IT admin invites this account as a guest (Identity > Users > Invite external user).',
    ),
  },
  AADSTS50034: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_wrong_account',
    ...row(
      'end_user',
      true,
      'Entra: the account does not exist in this tenant (AADSTS50034).',
      'Sign in with the organization account (check its spelling); if it should exist, the IT admin creates or restores it under Identity > Users.',
    ),
  },
  AADSTS50057: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      'Entra: the user account is disabled (AADSTS50057).',
      'In the Microsoft Entra admin center, open Identity > Users > All users > (the user) > Properties, and enable Account enabled, if the user should have access.',
    ),
  },
  AADSTS50053: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_access_denied',
    ...row(
      'end_user',
      true,
      'Entra: the account is locked after too many failed sign-ins (Smart Lockout), or sign-ins from this address are blocked (AADSTS50053).',
      'Wait for the lockout to end (a few minutes) and sign in with the right password, or reset it at https://aka.ms/sspr.',
    ),
  },
  AADSTS50055: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_access_denied',
    ...row(
      'end_user',
      true,
      "Entra: the user's password has expired (AADSTS50055).",
      'Change the password at https://aka.ms/sspr (or by signing in to Microsoft 365), then sign in again.',
    ),
  },
  AADSTS7000215: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_client_rejected',
    ...row(
      'it_admin',
      false,
      "Entra rejected the connection's client secret (AADSTS7000215): the Secret ID was saved instead of the secret's Value, or the secret was deleted.",
      'In the Microsoft Entra admin center, open App registrations > (this app) > Certificates & secrets > Client secrets > New client secret, and save its Value (shown once) as oidc_options.client_secret (PUT /connections/{id}).',
      {
        microsoft_oauth: {
          audience: 'operator',
          fix: "In the Microsoft Entra admin center, open App registrations > (the app) > Certificates & secrets > New client secret, and save its Value (shown once) as the connection's oauth_options.client_secret.",
        },
      },
    ),
  },
  AADSTS7000222: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_client_rejected',
    ...row(
      'it_admin',
      false,
      "Entra: the connection's client secret has expired (AADSTS7000222).",
      "In the Microsoft Entra admin center, open App registrations > (this app) > Certificates & secrets > New client secret (note its expiry), and save its Value as the connection's client secret.",
      { oauth_provider: { audience: 'operator' } },
    ),
  },
  AADSTS700027: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_client_rejected',
    ...row(
      'it_admin',
      false,
      "Entra could not validate the signature of the client's credential (AADSTS700027): the application expects a certificate credential that does not match.",
      'Gatehouse authenticates with a client secret: in the Microsoft Entra admin center, open App registrations > (this app) > Certificates & secrets, create a client secret and save its Value on the connection.',
      { oauth_provider: { audience: 'operator' } },
    ),
  },
  AADSTS75011: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_authn_requirements_unmet',
    ...row(
      'it_admin',
      false,
      'Entra: the user authenticated with a method that does not match the one required for this application (AADSTS75011).',
      'Gatehouse sends no RequestedAuthnContext; check Conditional Access authentication strengths for this application in the Microsoft Entra admin center (Protection > Conditional Access).',
    ),
  },
  AADSTS90002: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      "Entra: the tenant in the connection's issuer URL does not exist (AADSTS90002).",
      'Use https://login.microsoftonline.com/<Directory (tenant) ID>/v2.0 as oidc_options.issuer, with the ID from the Microsoft Entra admin center > Overview.',
    ),
  },
  AADSTS50089: {
    vendor: 'Microsoft Entra ID',
    reason: 'upstream_interaction_required',
    ...row(
      'end_user',
      true,
      "Entra: the sign-in took too long at Microsoft's pages and its flow expired (AADSTS50089).",
      'Sign in again, without leaving the page open.',
    ),
  },

  // ---- Okta ----
  'okta:user_not_assigned': {
    vendor: 'Okta',
    reason: 'upstream_user_not_assigned',
    ...row(
      'it_admin',
      false,
      'Okta: "User is not assigned to the client application."',
      'In the Okta Admin Console, open Applications > Applications > (this app) > Assignments > Assign > Assign to People (or Groups), and assign the user or a group they belong to.',
    ),
  },
  'okta:policy_evaluation_failed': {
    vendor: 'Okta',
    reason: 'upstream_policy_denied',
    ...row(
      'it_admin',
      false,
      'Okta: "Policy evaluation failed for this request": no rule of the authorization server\'s access policy (or the app\'s authentication policy) allows this sign-in.',
      "In the Okta Admin Console, open Security > API > Authorization Servers > (the server) > Access Policies: a policy must be assigned to this app's client and have a rule allowing the Authorization Code grant for this user; also check Security > Authentication Policies for the app.",
    ),
  },
  'okta:scopes_not_configured': {
    vendor: 'Okta',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      'Okta: "One or more scopes are not configured for the authorization server resource": the connection asks for a scope the authorization server does not have.',
      "In the Okta Admin Console, open Security > API > Authorization Servers > (the server) > Scopes and add the missing scope, or remove it from the connection's oidc_options.scopes (openid, profile and email are enough).",
    ),
  },
  'error=user_canceled_request': {
    vendor: 'Okta',
    reason: 'upstream_user_cancelled',
    ...row(
      'end_user',
      true,
      'Okta: the user cancelled the sign-in request.',
      'Nothing to fix: the user can sign in again.',
    ),
  },

  // ---- Google ----
  'error=admin_policy_enforced': {
    vendor: 'Google',
    reason: 'upstream_policy_denied',
    ...row(
      'it_admin',
      false,
      "Google: the user's Google Workspace administrator does not allow this application, or the scopes it asks for (admin_policy_enforced).",
      'In the Google Admin console, open Security > Access and data control > API controls > Manage Third-Party App Access, find the OAuth client, and set it to Trusted (or Limited, with the scopes it needs).',
    ),
  },
  'error=org_internal': {
    vendor: 'Google',
    reason: 'upstream_wrong_account',
    ...row(
      'operator',
      false,
      'Google: the OAuth client is limited to the users of one Google Cloud organization (User type Internal), and this account is outside it (org_internal).',
      'If users of other organizations should sign in: in the Google Cloud console, open APIs & Services > OAuth consent screen, set User type to External and publish the app. Otherwise the user signs in with an account of that organization.',
    ),
  },

  // ---- Salesforce ----
  'error=inactive_user': {
    vendor: 'Salesforce',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      'Salesforce: the user is inactive (inactive_user).',
      'In Salesforce Setup, open Users > Users > (the user) > Edit, and check Active, if the user should have access.',
    ),
  },
  'error=inactive_org': {
    vendor: 'Salesforce',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      'Salesforce: the org is locked, closed or suspended (inactive_org).',
      "The org's Salesforce administrator reactivates it (Setup > Company Information shows its status), or contacts Salesforce support.",
    ),
  },
  'salesforce:app_not_installed': {
    vendor: 'Salesforce',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      'Salesforce: the connected app is not installed in the org, or the user is not permitted to use it ("app must be installed into org").',
      "In Salesforce Setup, open Connected Apps OAuth Usage > (the app) > Install; then Manage Connected Apps > (the app) > Edit Policies > Permitted Users, and give the users' profiles or permission sets access.",
    ),
  },
  'error=rate_limit_exceeded': {
    vendor: 'Salesforce',
    reason: 'upstream_temporarily_unavailable',
    ...row(
      'end_user',
      true,
      'Salesforce: this user signed in too many times within an hour (rate_limit_exceeded).',
      'Wait, then sign in again (Salesforce counts logins per user per hour).',
    ),
  },

  // ---- Keycloak, Auth0 ----
  'keycloak:authentication_expired': {
    vendor: 'Keycloak',
    reason: 'upstream_temporarily_unavailable',
    ...row(
      'end_user',
      true,
      'Keycloak: the login session in this tab expired while the user had a session elsewhere (authentication_expired); Keycloak advises to retry at once.',
      'Sign in again.',
    ),
  },
  'auth0:user_blocked': {
    vendor: 'Auth0',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      'Auth0: the user is blocked ("user is blocked").',
      'In the Auth0 Dashboard, open User Management > Users > (the user) > Actions > Unblock, if the user should have access.',
    ),
  },

  // ---- GitHub, and redirect URI mismatches reported by the provider ----
  'error=application_suspended': {
    vendor: 'GitHub',
    reason: 'upstream_client_rejected',
    ...row(
      'operator',
      false,
      'GitHub: the OAuth app is suspended (application_suspended).',
      "In GitHub, open Settings > Developer settings > OAuth Apps > (the app) to see why, and contact GitHub Support to restore it; or create another OAuth app and save its client ID and secret in the connection's oauth_options.",
    ),
  },
  'error=incorrect_client_credentials': {
    vendor: 'GitHub',
    reason: 'upstream_client_rejected',
    ...row(
      'operator',
      false,
      "GitHub: the connection's client ID or secret is wrong (incorrect_client_credentials).",
      "In GitHub, open Settings > Developer settings > OAuth Apps > (the app) > Generate a new client secret, and save it as the connection's oauth_options.client_secret.",
    ),
  },
  'error=redirect_uri_mismatch': {
    vendor: 'Google, GitHub, Salesforce',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      "{Idp} does not have this connection's callback URL registered for the application (redirect_uri_mismatch).",
      "In {console}, register the connection's redirect URI exactly (oidc_options.redirect_uri or oauth_options.redirect_uri).",
      CALLBACK_URL,
    ),
  },
  'error=consent_required': {
    vendor: 'OpenID Connect',
    reason: 'upstream_access_denied',
    ...row(
      'it_admin',
      false,
      "{Idp} requires consent to the application's permissions that the user cannot give (consent_required).",
      'In {console}, grant consent to the application for the organization (admin consent), or allow users to consent.',
    ),
  },

  // ---- SAML second-level status codes (saml-core §3.2.2.2) ----
  'saml:AuthnFailed': {
    vendor: 'SAML',
    reason: 'upstream_authn_failed',
    ...row(
      'end_user',
      true,
      '{Idp} could not authenticate the user (StatusCode AuthnFailed).',
      'Sign in again with the right credentials; if the user cannot, the IT admin checks the account in {console}.',
    ),
  },
  'saml:RequestDenied': {
    vendor: 'SAML',
    reason: 'upstream_policy_denied',
    ...row(
      'it_admin',
      false,
      '{Idp} chose not to sign the user in to this application (StatusCode RequestDenied): an access policy, or the user is not assigned.',
      'In {console}, check that the user is assigned to the application and that no access policy denies it; the StatusMessage in upstream_error may say which.',
      ASSIGN,
    ),
  },
  'saml:UnknownPrincipal': {
    vendor: 'SAML',
    reason: 'upstream_wrong_account',
    ...row(
      'end_user',
      true,
      '{Idp} does not know the user it was asked to sign in (StatusCode UnknownPrincipal).',
      'Sign in with the company account; if it is the right one, the IT admin checks that it exists in {console}.',
    ),
  },
  'saml:NoPassive': {
    vendor: 'SAML',
    reason: 'upstream_interaction_required',
    ...row(
      'end_user',
      true,
      '{Idp} would have had to show the user a page, and the request asked it not to (StatusCode NoPassive).',
      'Sign in again.',
    ),
  },
  'saml:NoAuthnContext': {
    vendor: 'SAML',
    reason: 'upstream_authn_requirements_unmet',
    ...row(
      'it_admin',
      false,
      '{Idp} cannot authenticate the user in the way required (StatusCode NoAuthnContext).',
      "Gatehouse asks for no authentication context: in {console}, check the application's sign-on policy and the user's authentication methods.",
    ),
  },
  'saml:InvalidNameIDPolicy': {
    vendor: 'SAML',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} cannot issue the NameID the request asks for (StatusCode InvalidNameIDPolicy).',
      "In {console}, set the application's NameID format to EmailAddress or Unspecified (Okta: Name ID format; Entra: Attributes & Claims > Unique User Identifier; AD FS: a Name ID claim rule).",
    ),
  },
  'saml:InvalidAttrNameOrValue': {
    vendor: 'SAML',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} found an attribute name or value it cannot handle (StatusCode InvalidAttrNameOrValue).',
      "In {console}, check the application's attribute statements (names and sources).",
    ),
  },
  'saml:UnknownAttrProfile': {
    vendor: 'SAML',
    reason: 'upstream_config_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} does not support the attribute profile involved (StatusCode UnknownAttrProfile).',
      "In {console}, use the basic or URI attribute name format for the application's attributes.",
    ),
  },
  'saml:RequestUnsupported': {
    vendor: 'SAML',
    reason: 'upstream_request_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} does not support the sign-in request as sent (StatusCode RequestUnsupported); Entra adds the AADSTS reason in the StatusMessage.',
      'Read the StatusMessage in upstream_error. Check saml_options.idp_sso_binding and whether {idp} requires signed AuthnRequests (saml_options.sign_authn_requests).',
    ),
  },
  'saml:UnsupportedBinding': {
    vendor: 'SAML',
    reason: 'upstream_request_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} does not accept the binding the request used (StatusCode UnsupportedBinding).',
      "Set the connection's saml_options.idp_sso_binding to the binding {idp}'s metadata lists for its SingleSignOnService (redirect or post).",
    ),
  },
  'saml:RequestVersionDeprecated': {
    vendor: 'SAML',
    reason: 'upstream_request_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} does not accept SAML 2.0 requests at this endpoint (StatusCode RequestVersionDeprecated).',
      "Give the connection {idp}'s SAML 2.0 metadata (its SAML 2.0 single sign-on URL).",
    ),
  },
  'saml:RequestVersionTooHigh': {
    vendor: 'SAML',
    reason: 'upstream_request_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} does not support SAML 2.0 at this endpoint (StatusCode RequestVersionTooHigh).',
      "Give the connection {idp}'s SAML 2.0 metadata (its SAML 2.0 single sign-on URL).",
    ),
  },
  'saml:RequestVersionTooLow': {
    vendor: 'SAML',
    reason: 'upstream_request_rejected',
    ...row(
      'it_admin',
      false,
      '{Idp} expects a later SAML version at this endpoint (StatusCode RequestVersionTooLow).',
      "Give the connection {idp}'s SAML 2.0 metadata (its SAML 2.0 single sign-on URL).",
    ),
  },
  'saml:NoAvailableIDP': {
    vendor: 'SAML',
    reason: 'upstream_proxy_failed',
    ...row(
      'it_admin',
      false,
      '{Idp} acts as a proxy and none of the identity providers it could route to is available (StatusCode NoAvailableIDP).',
      "In {console}, check the federation routing for this application's users and the health of the identity providers behind it.",
    ),
  },
  'saml:NoSupportedIDP': {
    vendor: 'SAML',
    reason: 'upstream_proxy_failed',
    ...row(
      'it_admin',
      false,
      '{Idp} acts as a proxy and supports none of the identity providers it could route to (StatusCode NoSupportedIDP).',
      "In {console}, check the federation routing for this application's users.",
    ),
  },
  'saml:ProxyCountExceeded': {
    vendor: 'SAML',
    reason: 'upstream_proxy_failed',
    ...row(
      'it_admin',
      false,
      '{Idp} would have to proxy the sign-in further than allowed (StatusCode ProxyCountExceeded).',
      'In {console}, check for a federation loop: an identity provider that routes back to another proxy.',
    ),
  },
  'saml:TooManyResponses': {
    vendor: 'SAML',
    reason: 'upstream_temporarily_unavailable',
    ...row(
      'operator',
      true,
      '{Idp} could not answer with a single response (StatusCode TooManyResponses).',
      'Try again later; if it persists, the IT admin checks the application at {idp}.',
    ),
  },
  'saml:ResourceNotRecognized': {
    vendor: 'SAML',
    reason: 'upstream_temporarily_unavailable',
    ...row(
      'it_admin',
      false,
      '{Idp} does not recognise the resource the request is for (StatusCode ResourceNotRecognized).',
      "In {console}, check that the application's entity ID is this connection's saml_options.sp_entity_id.",
    ),
  },

  // ---- found by Gatehouse's own checks, from the session's detail ----
  'saml:certificate_expired': {
    vendor: 'SAML',
    reason: 'saml_signature_invalid',
    onlyFor: ['saml_signature_invalid'],
    ...row(
      'it_admin',
      false,
      "Every signing certificate saved for this connection has expired, and {idp} now signs with another one: the IdP's certificate was rotated and the connection was not updated.",
      "Give the connection {idp}'s current metadata (a metadata URL is re-read by itself), with the certificate {idp} now signs with.",
      SIGNING_CERTIFICATE,
    ),
  },
};

/** Texts in an IdP's error description or SAML StatusMessage that name a signal (checked in this order). */
export const TEXT_SIGNALS: ReadonlyArray<readonly [RegExp, string]> = [
  [/User is not assigned to the client application/i, 'okta:user_not_assigned'],
  [/Policy evaluation failed/i, 'okta:policy_evaluation_failed'],
  [/One or more scopes are not configured/i, 'okta:scopes_not_configured'],
  [/app must be installed into org/i, 'salesforce:app_not_installed'],
  [/^authentication_expired$/, 'keycloak:authentication_expired'],
  [/^user is blocked$/i, 'auth0:user_blocked'],
];

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Entra's AADSTS numbers in an upstream error: parsed (`aadsts`), `error_codes`, or in the texts. */
function aadstsNumbers(upstream: Record<string, unknown>, texts: string[]): string[] {
  const found: string[] = [];
  if (typeof upstream.aadsts === 'number') found.push(String(upstream.aadsts));
  const codes = upstream.error_codes;
  for (const c of Array.isArray(codes)
    ? codes
    : typeof codes === 'string'
      ? (codes.match(/\d+/g) ?? [])
      : []) {
    found.push(String(c));
  }
  for (const t of texts) for (const m of t.matchAll(/AADSTS(\d{4,8})/g)) found.push(m[1] as string);
  return [...new Set(found)];
}

/**
 * The signals a failed sign-in's record carries, most precise first: AADSTS numbers, known texts, the OAuth
 * `error`, the SAML second-level status, then what Gatehouse's own checks recorded in `detail`.
 */
export function signalsOf(
  upstream: Record<string, unknown> | null | undefined,
  detail: Record<string, unknown> | null | undefined,
): string[] {
  const out: string[] = [];
  if (upstream) {
    const texts = [upstream.error_description, upstream.status_message, upstream.message]
      .map(text)
      .filter((t): t is string => t !== null);
    out.push(...aadstsNumbers(upstream, texts).map((n) => `AADSTS${n}`));
    for (const [pattern, key] of TEXT_SIGNALS) if (texts.some((t) => pattern.test(t.trim()))) out.push(key);
    const error = text(upstream.error);
    if (error) out.push(`error=${error.replace(/-/g, '_')}`);
    const second = text(upstream.sub_status);
    if (second) out.push(`saml:${second}`);
  }
  if (detail?.expected_certificates_expired === true) out.push('saml:certificate_expired');
  return out;
}

/** The fallback for a reason this table does not know (a newer code, a record written by another version). */
export const UNKNOWN_REASON: ExplanationRow = row(
  'operator',
  true,
  'The sign-in failed for a reason this version of Gatehouse has no explanation for ({reason}).',
  "Read the record's reason, detail and upstream_error, and the logs under its request IDs.",
);

/** The table row for a failure: the first known signal that applies, else the reason's row, else the fallback. */
export function rowFor(
  reason: string | null,
  upstream: Record<string, unknown> | null | undefined,
  detail: Record<string, unknown> | null | undefined,
): { key: string; row: ExplanationRow } {
  for (const signal of signalsOf(upstream, detail)) {
    const found = Object.hasOwn(SIGNALS, signal) ? SIGNALS[signal] : undefined;
    if (found && (!found.onlyFor || (found.onlyFor as string[]).includes(reason ?? ''))) {
      return { key: signal, row: found };
    }
  }
  if (reason && Object.hasOwn(REASONS, reason))
    return { key: reason, row: REASONS[reason] as ExplanationRow };
  return { key: 'unknown', row: UNKNOWN_REASON };
}

/** The IdP variant of a connection type (undefined: no IdP-specific wording). */
export function idpVariantOf(
  connectionType: string | null | undefined,
): Exclude<IdpVariant, 'oauth_provider'> | undefined {
  return connectionType && Object.hasOwn(IDP_OF, connectionType) ? IDP_OF[connectionType] : undefined;
}

/** The row with these variants applied, later ones over earlier ones. */
function withVariants(row: ExplanationRow, variants: (IdpVariant | undefined)[]): Explanation {
  const out: Explanation = {
    audience: row.audience,
    retryable: row.retryable,
    explanation: row.explanation,
    fix: row.fix,
  };
  for (const v of variants) if (v && row.variants?.[v]) Object.assign(out, row.variants[v]);
  return out;
}

/** The row's text for this connection type: the OAuth provider variant, then the IdP's own, over the base. */
export function resolveRow(row: ExplanationRow, connectionType?: string | null): Explanation {
  const provider = connectionType && OAUTH_PROVIDERS.has(connectionType) ? 'oauth_provider' : undefined;
  return withVariants(row, [provider, idpVariantOf(connectionType)]);
}

/** The IdP's name (also capitalised, to start a sentence) and console, for `{idp}`, `{Idp}`, `{console}`. */
function idpValues(variant: IdpVariant | undefined): Record<string, string> {
  const { idp, console } = IDP_NAMES[variant ?? 'other'];
  return { idp, Idp: idp.charAt(0).toUpperCase() + idp.slice(1), console };
}

/** A row as docs/errors.md shows it: for no IdP in particular, or with one variant; no session detail. */
export function renderRow(row: ExplanationRow, key: string, variant?: IdpVariant): Explanation {
  const resolved = withVariants(row, [variant]);
  const values = { ...idpValues(variant), reason: key };
  return { ...resolved, explanation: fill(resolved.explanation, values), fix: fill(resolved.fix, values) };
}

/** The name docs use for a variant. */
export function variantName(variant: IdpVariant): string {
  return variant === 'oauth_provider' ? 'OAuth provider connections' : IDP_NAMES[variant].idp;
}

const MAX_VALUE = 200;

/** The detail values a row's text may show (expected-vs-received, the clock): nothing else of the record. */
const DETAIL_PLACEHOLDERS = ['expected', 'received', 'now', 'clock_skew_seconds'] as const;

/** A detail value as text for an explanation: arrays joined, capped, or null when absent. */
function valueText(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  const s = Array.isArray(v) ? v.map((x) => String(x)).join(', ') : typeof v === 'object' ? null : String(v);
  if (!s) return null;
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** Fills `{name}` and `{name|fallback}`: the IdP's name and console, then the detail's values. */
export function fill(template: string, values: Record<string, string | null>): string {
  return template.replace(/\{([A-Za-z_]+)(?:\|([^}]*))?\}/g, (whole, name: string, fallback?: string) => {
    const v = Object.hasOwn(values, name) ? values[name] : undefined;
    if (v !== null && v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    // Not a placeholder of ours (e.g. `{id}` in an API path): leave it.
    return whole;
  });
}

export interface ExplainResult extends Explanation {
  /** The table row used: a REASONS key, a SIGNALS key, or `unknown`. */
  key: string;
}

/**
 * Explains a failed sign-in: `reason` is the session's catalog code (or `internal`, `timed_out`), `upstream` the
 * IdP's own error as the session log keeps it, `detail` Gatehouse's expected-vs-received values, `connectionType`
 * picks the IdP's wording. Never throws; an unknown reason or signal falls back to a generic row.
 */
export function explain(
  reason: string | null,
  upstream?: Record<string, unknown> | null,
  detail?: Record<string, unknown> | null,
  connectionType?: string | null,
): ExplainResult {
  const { key, row: found } = rowFor(reason, upstream, detail);
  const resolved = resolveRow(found, connectionType);
  const values: Record<string, string | null> = {
    ...idpValues(idpVariantOf(connectionType)),
    reason: reason || 'none recorded',
  };
  for (const name of DETAIL_PLACEHOLDERS) values[name] = valueText(detail?.[name]);
  return {
    key,
    audience: resolved.audience,
    retryable: resolved.retryable,
    explanation: fill(resolved.explanation, values),
    fix: fill(resolved.fix, values),
  };
}
