import { type CatalogEntry, catalog, type ErrorCode } from './catalog.ts';

/**
 * A field-level validation problem, rendered as WorkOS `errors: [{ field, code }]`. The SDK builds its
 * exception message from the `code`s alone, so `code` is the readable requirement
 * (`"oidc_options.issuer must be an https URL"`).
 */
export interface FieldError {
  field: string;
  code: string;
}

export interface BrokerErrorOptions {
  /**
   * Private detail for operators: goes to the log line carrying the request ID (and later the session log).
   * Never rendered into a response.
   */
  detail?: string | Record<string, unknown>;
  cause?: unknown;
  /**
   * Public message for `api` and `page` transports, written by our code from values the caller sent
   * (an ID, a field name). Ignored for `redirect` and `oauth` transports, whose descriptions are fixed.
   */
  message?: string;
  /** Field errors for `validation_failed`. */
  fields?: FieldError[];
  /**
   * The identity provider's own error, verbatim (`error`, `error_description`, `error_uri`, trace IDs, SAML
   * status). Kept in the session log for the people who debug the connection; never rendered.
   */
  upstream?: Record<string, unknown>;
  /** Rate limits: seconds until the client may try again, sent as `Retry-After` where there is a response. */
  retryAfterSeconds?: number;
}

/**
 * The one error type the flow throws. `code` is a catalog key; the catalog decides status, wire code,
 * public text and transport. Anything else thrown is an internal error and is rendered as such.
 */
export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly entry: CatalogEntry;
  readonly detail: string | Record<string, unknown> | undefined;
  readonly publicMessage: string | undefined;
  readonly fields: FieldError[] | undefined;
  readonly upstream: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, options: BrokerErrorOptions = {}) {
    super(options.message ?? catalog[code].description, { cause: options.cause });
    this.name = 'BrokerError';
    this.code = code;
    this.entry = catalog[code];
    this.detail = options.detail;
    this.publicMessage = options.message;
    this.fields = options.fields;
    this.upstream = options.upstream;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isBrokerError(err: unknown): err is BrokerError {
  return err instanceof BrokerError;
}
