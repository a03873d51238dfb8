import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configurationDoc, errorsDoc } from '../scripts/docs.ts';
import { variables } from '../src/config/schema.ts';
import { type CatalogEntry, catalog } from '../src/errors/catalog.ts';

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
