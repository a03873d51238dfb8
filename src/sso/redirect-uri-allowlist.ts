import { matchRedirectUri, parseRedirectUri, type RedirectUriRule } from '../lib/redirect-uri.ts';
import type { Store } from '../storage/store.ts';

/**
 * The redirect URI allowlist as the authorize flow reads it. Entries are read from the store on every check
 * (so a URI added on one node is honoured by all nodes at once); compiled matchers are memoised per URI.
 */
export class RedirectUriAllowlist {
  readonly #store: Store;
  readonly #compiled = new Map<string, RedirectUriRule | null>();

  constructor(store: Store) {
    this.#store = store;
  }

  #rule(uri: string): RedirectUriRule | null {
    let rule = this.#compiled.get(uri);
    if (rule === undefined) {
      const parsed = parseRedirectUri(uri);
      // An entry that no longer passes validation (rules tightened since it was stored) never matches.
      rule = parsed.ok ? parsed.rule : null;
      if (this.#compiled.size > 10_000) this.#compiled.clear();
      this.#compiled.set(uri, rule);
    }
    return rule;
  }

  /** The allowlist entry `candidate` matches, or null. */
  async match(candidate: string): Promise<RedirectUriRule | null> {
    const entries = await this.#store.listRedirectUris();
    const rules: RedirectUriRule[] = [];
    for (const e of entries) {
      const rule = this.#rule(e.uri);
      if (rule) rules.push(rule);
    }
    return matchRedirectUri(candidate, rules);
  }
}
