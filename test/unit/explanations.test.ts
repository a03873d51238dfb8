import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upstreamAuthorizationError } from '../../src/connectors/upstream-errors.ts';
import { type CatalogEntry, catalog } from '../../src/errors/catalog.ts';
import {
  AUDIENCES,
  type ExplanationRow,
  explain,
  type IdpVariant,
  REASONS,
  renderRow,
  SIGNALS,
  signalsOf,
  TEXT_SIGNALS,
  UNKNOWN_REASON,
} from '../../src/errors/explanations.ts';

/**
 * The explanation table (src/errors/explanations.ts) as data: complete against the catalog, every row's text
 * resolved for every IdP it names, the lookup's precedence and fallbacks, and the agreement between each vendor
 * signal's row and what connectors/upstream-errors.ts maps that signal to on the wire. The real flows that produce
 * each signal are in test/e2e/explanations.test.ts.
 */

const entries = Object.entries(catalog as Record<string, CatalogEntry>);
/** The catalog codes a sign-in can end with: the flow's pages and redirects, the token and profile endpoints. */
const SIGN_IN_CODES = entries
  .filter(([code, e]) => ['redirect', 'page', 'oauth'].includes(e.transport) || code.startsWith('bearer_'))
  .map(([code]) => code);
/** Reasons of the session log that are not catalog codes. */
const PSEUDO_REASONS = ['internal', 'timed_out', 'timed_out_at_consent'];

/** Every placeholder `explain` fills; any other `{…}` left in a text is a typo (API paths' `{id}` aside). */
const UNFILLED = /\{(?!id\})[A-Za-z_]+(\|[^}]*)?\}/;

function allRows(): [string, ExplanationRow][] {
  return [...Object.entries(REASONS), ...Object.entries(SIGNALS)];
}

describe('the explanation table', () => {
  it('has a row for every catalog code a sign-in can fail with, and no row for anything else', () => {
    const keys = Object.keys(REASONS);
    assert.deepEqual(
      SIGN_IN_CODES.filter((c) => !keys.includes(c)),
      [],
      'catalog codes without an explanation',
    );
    assert.deepEqual(
      keys.filter((k) => !SIGN_IN_CODES.includes(k) && !PSEUDO_REASONS.includes(k)),
      [],
      'rows for unknown reasons',
    );
  });

  it('every signal maps to a catalog code; every text signal has a row', () => {
    for (const [key, row] of Object.entries(SIGNALS)) assert.ok(Object.hasOwn(catalog, row.reason), key);
    for (const [, key] of TEXT_SIGNALS) assert.ok(Object.hasOwn(SIGNALS, key), key);
  });

  it('every row, and every IdP variant of it, reads complete: an audience, non-empty text, no placeholder left', () => {
    for (const [key, row] of allRows()) {
      for (const variant of [undefined, ...Object.keys(row.variants ?? {})] as (IdpVariant | undefined)[]) {
        const r = renderRow(row, key, variant);
        const where = `${key}${variant ? ` (${variant})` : ''}`;
        assert.ok(Object.hasOwn(AUDIENCES, r.audience), where);
        assert.equal(typeof r.retryable, 'boolean', where);
        assert.ok(r.explanation.length >= 20, `${where}: explanation`);
        assert.ok(r.fix.length >= 10, `${where}: fix`);
        assert.doesNotMatch(r.explanation, UNFILLED, where);
        assert.doesNotMatch(r.fix, UNFILLED, where);
      }
    }
  });

  it('IT-admin rows name a console setting for the IdP, in every IdP variant', () => {
    for (const [key, row] of allRows()) {
      for (const [variant, v] of Object.entries(row.variants ?? {})) {
        if ((v.audience ?? row.audience) !== 'it_admin' || !v.fix) continue;
        assert.match(v.fix, / > /, `${key} (${variant}): a path in the console`);
      }
    }
  });
});

describe('explain()', () => {
  it("a reason's row, in the connection's IdP words", () => {
    const okta = explain('upstream_user_not_assigned', null, null, 'OktaSAML');
    assert.equal(okta.key, 'upstream_user_not_assigned');
    assert.equal(okta.audience, 'it_admin');
    assert.equal(okta.retryable, false);
    assert.match(okta.explanation, /^Okta has not assigned this user/);
    assert.match(okta.fix, /Applications > Applications > \(this app\) > Assignments/);
    const entra = explain('upstream_user_not_assigned', null, null, 'AzureSAML');
    assert.match(entra.fix, /Enterprise applications > \(this app\) > Users and groups/);
    const generic = explain('upstream_user_not_assigned', null, null, 'GenericOIDC');
    assert.match(generic.explanation, /^The identity provider has not assigned/);
    assert.match(generic.fix, /the identity provider's admin console/);
  });

  it('an OAuth provider connection: the operator owns the OAuth app', () => {
    const google = explain('upstream_client_rejected', null, null, 'GoogleOAuth');
    assert.equal(google.audience, 'operator');
    assert.match(google.fix, /Google Cloud console, open APIs & Services > Credentials/);
    assert.equal(explain('upstream_client_rejected', null, null, 'OktaOIDC').audience, 'it_admin');
  });

  it("a vendor signal wins over the reason's row: AADSTS in the description, in error_codes, or parsed", () => {
    for (const upstream of [
      { error: 'access_denied', error_description: 'AADSTS50105: The signed in user is not assigned.' },
      { error: 'access_denied', error_codes: [50105] },
      { error: 'access_denied', error_codes: '[50105]' },
      { error: 'access_denied', aadsts: 50105 },
    ]) {
      const r = explain('upstream_user_not_assigned', upstream, null, 'EntraIdOIDC');
      assert.equal(r.key, 'AADSTS50105', JSON.stringify(upstream));
      assert.match(r.fix, /Assignment required\? to No/);
    }
  });

  it('a SAML StatusMessage carrying an AADSTS number (Entra) is more precise than the status code', () => {
    const r = explain('upstream_request_rejected', {
      status: 'Requester',
      sub_status: 'RequestUnsupported',
      status_message: 'AADSTS75011: Authentication method by which the user authenticated does not match.',
      signed: true,
    });
    assert.equal(r.key, 'AADSTS75011');
    assert.deepEqual(
      signalsOf({ sub_status: 'RequestUnsupported', status_message: 'AADSTS75011: x' }, null),
      ['AADSTS75011', 'saml:RequestUnsupported'],
    );
  });

  it('an unknown AADSTS number, error or status falls back to the reason row', () => {
    const r = explain('upstream_access_denied', {
      error: 'access_denied',
      error_description: 'AADSTS99999999: something new.',
    });
    assert.equal(r.key, 'upstream_access_denied');
    assert.equal(
      explain('upstream_error_unknown', { error: 'weird_vendor_error' }).key,
      'upstream_error_unknown',
    );
    assert.equal(
      explain('upstream_error_unknown', { status: 'Responder', sub_status: 'SomethingNew' }).key,
      'upstream_error_unknown',
    );
  });

  it('an unknown reason falls back safely to the generic row, naming the reason', () => {
    for (const reason of ['some_future_code', '__proto__', 'constructor', 'toString', '', null]) {
      const r = explain(reason, null, null, null);
      assert.equal(r.key, 'unknown', String(reason));
      assert.equal(r.audience, UNKNOWN_REASON.audience);
      assert.equal(r.retryable, true);
      assert.ok(r.explanation.includes(reason || 'none recorded'), r.explanation);
    }
  });

  it('hostile or odd upstream records never throw and never match by accident', () => {
    const odd: Record<string, unknown>[] = [
      { error: 42, error_description: { nested: 'AADSTS50105' }, error_codes: { length: 3 } },
      { error: '__proto__', sub_status: 'constructor' },
      { error: 'hasOwnProperty' },
      { status_message: null, message: ['User is not assigned to the client application'] },
      { error_description: `${'AADSTS'.repeat(10_000)}` },
    ];
    for (const upstream of odd) {
      const r = explain('upstream_access_denied', upstream, { expected: { a: 1 } }, 'OktaOIDC');
      assert.equal(r.key, 'upstream_access_denied', JSON.stringify(upstream).slice(0, 80));
    }
  });

  it('a row restricted to some reasons does not apply to others (saml:certificate_expired)', () => {
    const detail = { expected_certificates_expired: true, expected_certificates: ['AB:CD'] };
    assert.equal(explain('saml_signature_invalid', null, detail, 'OktaSAML').key, 'saml:certificate_expired');
    assert.equal(explain('saml_malformed', null, detail, 'OktaSAML').key, 'saml_malformed');
  });

  it('expected and received values from detail fill the text, capped; other detail never does', () => {
    const r = explain(
      'saml_audience_mismatch',
      null,
      { expected: 'https://gh.example/sso/saml/sp/abc', received: ['urn:wrong', 'x'.repeat(500)], id: 'X' },
      'OktaSAML',
    );
    assert.match(r.explanation, /audience urn:wrong, x{100}/);
    assert.ok(r.explanation.includes('…'));
    assert.ok(r.explanation.length < 500);
    assert.match(r.fix, /Audience URI \(SP Entity ID\) to https:\/\/gh\.example\/sso\/saml\/sp\/abc\./);
    // Without detail: the fallback words.
    const bare = explain('saml_audience_mismatch', null, null, 'OktaSAML');
    assert.match(bare.fix, /to the connection's saml_options\.sp_entity_id\./);
    // `{id}` in an API path is text, not a placeholder, whatever detail holds.
    assert.match(
      explain('upstream_client_rejected', null, { id: 'X' }, 'OktaOIDC').fix,
      /\/connections\/\{id\}/,
    );
  });
});

describe('each vendor signal maps on the wire to the reason its row names (connectors/upstream-errors.ts)', () => {
  /** An OAuth callback error carrying each signal that can arrive there, as the IdP sends it. */
  const samples: Record<string, Record<string, string>> = {
    'okta:user_not_assigned': {
      error: 'access_denied',
      error_description: 'User is not assigned to the client application.',
    },
    'okta:policy_evaluation_failed': {
      error: 'access_denied',
      error_description: 'Policy evaluation failed for this request, please check the policy configurations.',
    },
    'okta:scopes_not_configured': {
      error: 'invalid_scope',
      error_description: 'One or more scopes are not configured for the authorization server resource.',
    },
    'salesforce:app_not_installed': {
      error: 'invalid_client',
      error_description: 'app must be installed into org',
    },
    'keycloak:authentication_expired': {
      error: 'temporarily_unavailable',
      error_description: 'authentication_expired',
    },
    'auth0:user_blocked': { error: 'unauthorized', error_description: 'user is blocked' },
  };
  for (const [key, row] of Object.entries(SIGNALS)) {
    if (key.startsWith('saml:')) continue; // the SAML connector's mapping: test/e2e/explanations.test.ts
    it(`${key} → ${row.reason}`, () => {
      const aadsts = /^AADSTS(\d+)$/.exec(key)?.[1];
      const error = /^error=(.+)$/.exec(key)?.[1];
      const params = aadsts
        ? { error: 'invalid_request', error_description: `AADSTS${aadsts}: a message.\r\nTrace ID: x` }
        : error
          ? { error }
          : samples[key];
      assert.ok(params, `a sample for ${key}`);
      const err = upstreamAuthorizationError(new URLSearchParams(params));
      assert.equal(err.code, row.reason);
      assert.equal(explain(err.code, err.upstream, null).key, key);
    });
  }
});
