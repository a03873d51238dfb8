/** What the HTTP layer does with the result of a browser-facing step of the flow. */
export type FlowOutcome =
  | {
      kind: 'redirect';
      location: string;
      /** 302, or 303 after a POST (RFC 9700 §4.12: never 307). */
      status: 302 | 303;
      /** Set (or refresh) the browser binding cookie to this value. */
      bindingCookie?: string;
      /** Also set it for cross-site POSTs (the connection's IdP posts back, as SAML does). */
      crossSite?: boolean;
    }
  | {
      kind: 'page';
      status: number;
      /** Catalog code, for the page and the log. */
      code: string;
      message: string;
      requestId: string;
      /** Rate limits: sent as `Retry-After`. */
      retryAfterSeconds?: number;
    }
  | {
      kind: 'consent';
      view: ConsentView;
      /** Set the browser binding cookie (a sign-in that started at the IdP has none yet). */
      bindingCookie?: string;
      crossSite?: boolean;
    }
  | {
      /** An HTML form the browser posts to the IdP (SAML HTTP-POST binding); auto-submitted when scripts run. */
      kind: 'form_post';
      action: string;
      fields: Record<string, string>;
      bindingCookie?: string;
      crossSite?: boolean;
    };

/** What the sign-in consent screen shows (all plain text; the page escapes it). */
export interface ConsentView {
  /** One-time form token (CSRF); only its hash is stored. */
  token: string;
  email: string;
  /** The connection's name, e.g. "Acme Okta". */
  connectionName: string;
  /** Where the identity provider lives (its host), for the user to recognise it. */
  identityProvider: string;
  /** The app the user is about to be signed in to (its origin). */
  appOrigin: string;
  requestId: string;
}
