/**
 * Loopback stand-ins for the OAuth providers behind Gatehouse's "Sign in with X" connections, each reached through
 * the connection's `oauth_options.base_url`:
 *
 * - `startGoogle()`: accounts.google.com (oidc-provider; issuer = base URL);
 * - `startMicrosoft()`: Entra ID v2.0 with the `common` authority and per-tenant issuers;
 * - `startGitHub()`: github.com's OAuth app endpoints and the REST API (or GitHub Enterprise Server's layout).
 *
 * All bind 127.0.0.1 on free ports and close with their keep-alive sockets. Tests sign in through their pages with
 * `TestBrowser.signInAtIdp(url, login, standIn.baseUrl, stopAt)` (the typed login picks the user) and cancel with
 * `declineAtProvider(browser, url, { origin: standIn.baseUrl, stopAt, login? })`. Gatehouse's callback URL is
 * known only once the connection exists: register it with `standIn.allowRedirectUri(callbackUrl)`.
 * Google and Microsoft remember a signed-in browser (oidc-provider sessions and grants): use a fresh TestBrowser
 * per sign-in to see the login and consent pages again.
 */

export type { AuthorizeError } from './providers/common.ts';
export { declineAtProvider } from './providers/common.ts';
export {
  defaultGitHubUser,
  GITHUB_ERRORS,
  type GitHubEmail,
  type GitHubError,
  type GitHubStandIn,
  type GitHubUser,
  startGitHub,
} from './providers/github.ts';
export { defaultGoogleUser, type GoogleStandIn, type GoogleUser, startGoogle } from './providers/google.ts';
export {
  CONTOSO_TID,
  defaultMicrosoftUser,
  FABRIKAM_TID,
  MICROSOFT_ERRORS,
  type MicrosoftError,
  type MicrosoftStandIn,
  type MicrosoftUser,
  MSA_TID,
  startMicrosoft,
} from './providers/microsoft.ts';
