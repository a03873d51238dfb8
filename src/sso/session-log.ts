import { isBrokerError } from '../errors/broker-error.ts';
import { type CatalogEntry, catalog, type ErrorCode, redirectWire } from '../errors/catalog.ts';
import { type Browser, NO_BROWSER, outcomeEvents } from '../events/build.ts';
import type { SessionPatch, SsoSessionRecord, Store } from '../storage/store.ts';

/**
 * The session log: one record per login attempt that passed the redirect URI check, updated at each stage.
 * It is what an operator reads to learn why a sign-in failed: the stage, the catalog reason, the wire code the
 * app saw, the IdP's own error and the expected-vs-received detail. It never holds tokens, codes or secrets.
 * Writing it must never break a sign-in: failures to write are logged and swallowed by the callers.
 */

export type Stage =
  | 'preflight'
  | 'upstream_redirect'
  | 'callback_binding'
  | 'upstream_error'
  | 'token_exchange'
  | 'id_token'
  | 'userinfo'
  | 'saml_validation'
  | 'profile_mapping'
  | 'consent'
  | 'internal';

/** The fields of a new session record that only a later stage fills in. */
export const NOTHING_RECORDED = {
  failedStage: null,
  reason: null,
  wireCode: null,
  upstreamError: null,
  detail: null,
  profileId: null,
  idpId: null,
  email: null,
} as const;

/** Which stage a catalog error belongs to, when the thrower did not say. */
const STAGE_OF: Partial<Record<ErrorCode, Stage>> = {
  upstream_unavailable: 'upstream_redirect',
  upstream_misconfigured: 'upstream_redirect',
  authorize_internal: 'internal',
  callback_internal: 'internal',
  transaction_expired: 'callback_binding',
  issuer_mismatch: 'upstream_error',
  code_exchange_failed: 'token_exchange',
  upstream_client_rejected: 'token_exchange',
  id_token_invalid: 'id_token',
  id_token_expired: 'id_token',
  nonce_mismatch: 'id_token',
  userinfo_failed: 'userinfo',
  profile_incomplete: 'profile_mapping',
  email_domain_not_allowed: 'profile_mapping',
  provider_email_unverified: 'profile_mapping',
  provider_tenant_not_allowed: 'id_token',
  provider_domain_mismatch: 'id_token',
  consent_denied: 'consent',
};

const STAGES = new Set<string>([
  'preflight',
  'upstream_redirect',
  'callback_binding',
  'upstream_error',
  'token_exchange',
  'id_token',
  'userinfo',
  'saml_validation',
  'profile_mapping',
  'consent',
  'internal',
]);

/** The stage a failure belongs to: the one the thrower named in `detail.stage`, else the code's, else `fallback`. */
export function failureStage(err: unknown, fallback: Stage): Stage {
  if (!isBrokerError(err)) return 'internal';
  const named = typeof err.detail === 'object' ? (err.detail as { stage?: unknown }).stage : undefined;
  if (typeof named === 'string' && STAGES.has(named)) return named as Stage;
  return STAGE_OF[err.code] ?? fallback;
}

/** The patch that records a failure: reason, wire code, upstream error and detail from the error. */
export function failurePatch(err: unknown, stage: Stage, now: Date, oauthProvider = false): SessionPatch {
  const known = isBrokerError(err) ? err : null;
  const entry: CatalogEntry = known?.entry ?? catalog.authorize_internal;
  const detail =
    known?.detail === undefined
      ? known
        ? null
        : { error: (err as Error)?.message ?? String(err) }
      : typeof known.detail === 'string'
        ? { message: known.detail }
        : known.detail;
  return {
    outcome: 'failed',
    failedStage: stage,
    reason: known?.code ?? 'internal',
    wireCode: entry.transport === 'redirect' ? redirectWire(entry, oauthProvider) : null,
    upstreamError: known?.upstream ?? null,
    detail,
    stages: { failed: now.toISOString() },
  };
}

/**
 * Updates a session, logging instead of throwing: the log must not break the sign-in it describes. A patch that
 * ends the sign-in (`succeeded`, `failed`) writes its `authentication.sso_*` event with it, reporting `browser`.
 */
export async function updateSessionSafely(
  store: Store,
  id: string,
  patch: SessionPatch,
  log: { error(obj: Record<string, unknown>, msg: string): void },
  browser: Browser = NO_BROWSER,
): Promise<SsoSessionRecord | null> {
  try {
    return await store.updateSession(id, patch, outcomeEvents(patch.outcome, browser));
  } catch (err) {
    log.error({ err, session: id }, 'could not update the session log');
    return null;
  }
}

/**
 * The session log changes of one request, merged as they come (`stages` by key, other fields last wins) and
 * written in one update by `flush`: one write per request instead of one per stage. The caller flushes before
 * it answers, on every path; a write that fails is logged, as with `updateSessionSafely`.
 */
export class SessionNotes {
  readonly #store: Store;
  readonly #id: string;
  readonly #log: { error(obj: Record<string, unknown>, msg: string): void };
  readonly #browser: Browser;
  #patch: SessionPatch | null = null;

  constructor(
    store: Store,
    id: string,
    log: { error(obj: Record<string, unknown>, msg: string): void },
    browser: Browser = NO_BROWSER,
  ) {
    this.#store = store;
    this.#id = id;
    this.#log = log;
    this.#browser = browser;
  }

  add(patch: SessionPatch): void {
    const before = this.#patch;
    this.#patch = before
      ? { ...before, ...patch, stages: { ...before.stages, ...patch.stages } }
      : { ...patch, stages: { ...patch.stages } };
  }

  async flush(): Promise<void> {
    const patch = this.#patch;
    if (!patch) return;
    this.#patch = null;
    await updateSessionSafely(this.#store, this.#id, patch, this.#log, this.#browser);
  }
}
