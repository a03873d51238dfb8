import { matchRedirectUri, parseRedirectUri, type RedirectUriRule } from '../lib/redirect-uri.ts';
import type { ConfigReader } from './config-cache.ts';

/**
 * The redirect URI allowlist as the flow reads it: entries through the configuration cache (see
 * config-cache.ts for how fast changes apply), compiled matchers memoised per URI.
 */
export class RedirectUriAllowlist {
  readonly #store: ConfigReader;
  readonly #compiled = new Map<string, RedirectUriRule | null>();

  constructor(store: ConfigReader) {
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
