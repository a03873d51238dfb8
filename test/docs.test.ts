import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configurationDoc, errorsDoc } from '../scripts/docs.ts';
import { variables } from '../src/config/schema.ts';
import { type CatalogEntry, catalog } from '../src/errors/catalog.ts';
import { type IdpVariant, REASONS, SIGNALS, variantName } from '../src/errors/explanations.ts';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('generated docs stay in step with the code', () => {
  it('docs/configuration.md is what src/config/schema.ts generates (run `npm run docs`)', () => {
    assert.equal(read('docs/configuration.md'), configurationDoc());
  });

  it('docs/errors.md is what src/errors/catalog.ts generates (run `npm run docs`)', () => {
    assert.equal(read('docs/errors.md'), errorsDoc());
  });

  it('every variable read anywhere in src/ is documented, and every documented one is read', () => {
    const src = ['src/config/load.ts', 'src/config/schema.ts'].map(read).join('\n');
    const used = new Set([...src.matchAll(/read\(env, '([A-Z_]+)'\)/g)].map((m) => m[1]));
    assert.deepEqual([...used].sort(), Object.keys(variables).sort());
  });
});

describe('error catalog', () => {
  const entries = Object.entries(catalog as Record<string, CatalogEntry>);

  it('descriptions use only the characters RFC 6749 allows in error_description (no quote, no backslash)', () => {
    for (const [code, e] of entries) {
      assert.match(e.description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, code);
      assert.ok(e.description.length <= 200, `${code} description is longer than 200 characters`);
    }
  });

  it('redirect errors use only WorkOS authorize codes or the RFC 6749 ones', () => {
    const allowed = new Set([
      'access_denied',
      'ambiguous_connection_selector',
      'connection_domain_invalid',
      'connection_invalid',
      'connection_strategy_invalid',
      'connection_unlinked',
      'domain_connection_selector_not_allowed',
      'idp_initiated_sso_disabled',
      'invalid_connection_selector',
      'organization_invalid',
      'oauth_failed',
      'profile_not_allowed_outside_organization',
      'server_error',
      'signin_consent_denied',
      'invalid_request',
      'unsupported_response_type',
      'temporarily_unavailable', // RFC 6749 §4.1.2.1: overload (our rate limits)
    ]);
    for (const [code, e] of entries.filter(([, e]) => e.transport === 'redirect')) {
      assert.ok(allowed.has(e.wire), `${code} uses wire code ${e.wire}`);
    }
  });

  it('every catalog code is raised somewhere in src/', () => {
    const sources = execFileSync(
      'grep',
      ['-rhoE', "'[a-z0-9_]+'", 'src', '--include=*.ts', '--exclude=catalog.ts'],
      {
        encoding: 'utf8',
      },
    );
    const raised = new Set([...sources.matchAll(/'([a-z0-9_]+)'/g)].map((m) => m[1]));
    const unused = entries.map(([code]) => code).filter((code) => !raised.has(code));
    // authorize_internal is rendered by the authorize error path itself rather than thrown.
    assert.deepEqual(
      unused.filter((c) => c !== 'authorize_internal'),
      [],
    );
  });
});

describe('docs/errors.md and the explanation table (src/errors/explanations.ts), both ways', () => {
  const doc = read('docs/errors.md');
  /** The rows of the table under `### title`: first cell (the key) → the other cells. */
  function rows(title: string): Map<string, string[]> {
    const start = doc.indexOf(`\n### ${title}\n`);
    assert.ok(start >= 0, `no section "${title}"`);
    const section = doc.slice(start + 1).split('\n### ')[0] as string;
    const out = new Map<string, string[]>();
    for (const m of section.matchAll(/^\| `([^`]+)` \|(.*)\|$/gm)) {
      assert.ok(!out.has(m[1] as string), `${m[1]} documented twice`);
      out.set(
        m[1] as string,
        (m[2] as string).split(' | ').map((c) => c.trim()),
      );
    }
    return out;
  }

  it('every reason row is documented with its audience and retry, and every documented reason is a row', () => {
    const documented = rows('By reason');
    assert.deepEqual([...documented.keys()].sort(), Object.keys(REASONS).sort());
    for (const [key, row] of Object.entries(REASONS)) {
      const [audience, retry, explanation, fix] = documented.get(key) ?? [];
      assert.equal(audience, row.audience, key);
      assert.equal(retry, row.retryable ? 'yes' : 'no', key);
      assert.ok(explanation && fix, `${key}: explanation and fix`);
    }
  });

  it('every signal row is documented with its vendor, reason, audience and retry, and every documented signal is a row', () => {
    const documented = rows('By signal from the identity provider');
    assert.deepEqual([...documented.keys()].sort(), Object.keys(SIGNALS).sort());
    for (const [key, row] of Object.entries(SIGNALS)) {
      const [vendor, reason, audience, retry, explanation, fix] = documented.get(key) ?? [];
      assert.equal(vendor, row.vendor, key);
      assert.equal(reason, `\`${row.reason}\``, key);
      assert.equal(audience, row.audience, key);
      assert.equal(retry, row.retryable ? 'yes' : 'no', key);
      assert.ok(explanation && fix, `${key}: explanation and fix`);
    }
  });

  it('every IdP-specific fix is listed under its row, and every listed one exists', () => {
    const start = doc.indexOf('\n### Fixes for a given identity provider\n');
    const listed = new Set<string>();
    let key = '';
    for (const line of doc.slice(start).split('\n')) {
      const row = /^- `([^`]+)`$/.exec(line);
      if (row) key = row[1] as string;
      const variant = /^ {2}- \*\*([^*]+)\*\*/.exec(line);
      if (variant) listed.add(`${key} / ${variant[1]}`);
    }
    const expected = new Set<string>();
    for (const [k, row] of [...Object.entries(REASONS), ...Object.entries(SIGNALS)]) {
      for (const v of Object.keys(row.variants ?? {})) expected.add(`${k} / ${variantName(v as IdpVariant)}`);
    }
    assert.deepEqual([...listed].sort(), [...expected].sort());
  });
});
