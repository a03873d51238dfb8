/**
 * An origin as Content-Security-Policy source syntax allows it (`scheme://host[:port]`). A policy is built from
 * origins that come from configuration (redirect URIs, `success_url`); anything else is left out of it, since
 * URL parsing lets through characters (`;`, `,`) that would end a directive or a policy.
 */
export const CSP_ORIGIN = /^https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
