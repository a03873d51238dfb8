import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AssertionExpectations, checkAssertion } from '../../src/connectors/saml/assertion.ts';
import { parseXml } from '../../src/connectors/saml/xml.ts';
import { BrokerError } from '../../src/errors/broker-error.ts';

/**
 * The reader of a verified assertion (src/connectors/saml/assertion.ts) on hand-made responses: what it reads and
 * the edges of its checks that a real IdP's response does not reach (the attack suite, test/e2e/saml-attacks,
 * covers the rest end to end, with signatures). Signatures are not its job: the gate checked them before.
 */

const ACS = 'https://sso.example.test/sso/saml/acs/k';
const SP = 'https://sso.example.test/sso/saml/sp/k';
const IDP = 'https://idp.example.test';
const NOW = Date.parse('2026-12-08T12:00:00Z');
const at = (seconds: number) => new Date(NOW + seconds * 1000).toISOString();

const EXPECT: AssertionExpectations = {
  requestId: '_req',
  acsUrl: ACS,
  audience: SP,
  idpEntityId: IDP,
  clockSkewSeconds: 180,
};

interface Parts {
  conditions?: string;
  confirmation?: string;
  nameId?: string;
  statements?: string;
  issueInstant?: string;
}

function response(parts: Parts = {}, inResponseTo: string | null = '_req'): string {
  const conditions =
    parts.conditions ??
    `<saml:Conditions NotBefore="${at(-60)}" NotOnOrAfter="${at(300)}"><saml:AudienceRestriction><saml:Audience>${SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`;
  const confirmation =
    parts.confirmation ??
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="${ACS}" NotOnOrAfter="${at(300)}"${inResponseTo ? ` InResponseTo="${inResponseTo}"` : ''}/></saml:SubjectConfirmation>`;
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" Destination="${ACS}"${inResponseTo ? ` InResponseTo="${inResponseTo}"` : ''}><saml:Issuer>${IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a" Version="2.0" IssueInstant="${parts.issueInstant ?? at(0)}"><saml:Issuer>${IDP}</saml:Issuer><saml:Subject>${parts.nameId ?? '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">ada@acme.com</saml:NameID>'}${confirmation}</saml:Subject>${conditions}${parts.statements ?? ''}</saml:Assertion></samlp:Response>`;
}

function check(xml: string, expected: Partial<AssertionExpectations> = {}) {
  const doc = parseXml(xml);
  const root = doc.documentElement as unknown as Element;
  const assertion = [...root.childNodes].find((n) => (n as Element).localName === 'Assertion') as Element;
  return checkAssertion(root, assertion, { ...EXPECT, ...expected }, NOW);
}

/** Runs `fn`, expecting a BrokerError with `code`; returns its detail. */
function refused(fn: () => unknown, code: string): Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BrokerError, String(err));
    assert.equal(err.code, code, JSON.stringify(err.detail));
    return err.detail as Record<string, unknown>;
  }
  assert.fail(`expected ${code}`);
}

describe('checkAssertion: reading a verified assertion', () => {
  it('reads the NameID, its format, the session index and the attributes (one value: text; several: a list)', () => {
    const read = check(
      response({
        statements:
          '<saml:AuthnStatement SessionIndex="_s1"/><saml:AttributeStatement>' +
          '<saml:Attribute Name="email"><saml:AttributeValue>ada@acme.com</saml:AttributeValue></saml:Attribute>' +
          '<saml:Attribute Name="groups"><saml:AttributeValue>a</saml:AttributeValue><saml:AttributeValue><![CDATA[b & c]]></saml:AttributeValue></saml:Attribute>' +
          '<saml:Attribute Name="novalue"/></saml:AttributeStatement>',
      }),
    );
    assert.deepEqual(read, {
      id: '_a',
      issuer: IDP,
      nameId: 'ada@acme.com',
      nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
      sessionIndex: '_s1',
      attributes: { email: 'ada@acme.com', groups: ['a', 'b & c'] },
      validUntil: NOW + 300_000,
    });
  });

  it('reads text as the canonical form has it: comments are not text, nothing is cut at them', () => {
    const read = check(
      response({
        nameId: '<saml:NameID>ceo@acme.com<!---->.evil.test</saml:NameID>',
        statements:
          '<saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>ceo@acme.com<!-- x -->.evil.test</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>',
      }),
    );
    assert.equal(read.nameId, 'ceo@acme.com.evil.test');
    assert.equal(read.attributes.email, 'ceo@acme.com.evil.test');
    assert.equal(read.nameIdFormat, null);
  });

  it('an attribute named __proto__ is a name like any other, not a prototype', () => {
    const read = check(
      response({
        statements:
          '<saml:AttributeStatement><saml:Attribute Name="__proto__"><saml:AttributeValue>x</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>',
      }),
    );
    assert.equal(Object.getPrototypeOf(read.attributes), Object.prototype);
    assert.deepEqual(Object.keys(read.attributes), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('elements of another namespace are not SAML elements: a Conditions in urn:other is no Conditions', () => {
    const detail = refused(
      () =>
        check(
          response({
            conditions: `<x:Conditions xmlns:x="urn:other"><x:AudienceRestriction><x:Audience>${SP}</x:Audience></x:AudienceRestriction></x:Conditions>`,
          }),
        ),
      'saml_audience_mismatch',
    );
    assert.equal(detail.reason, 'SAML assertion has no AudienceRestriction');
  });

  it('every AudienceRestriction must name our SP; an empty one is refused', () => {
    const restriction = (audience: string) =>
      `<saml:AudienceRestriction><saml:Audience>${audience}</saml:Audience></saml:AudienceRestriction>`;
    const conditions = (inner: string) =>
      `<saml:Conditions NotOnOrAfter="${at(300)}">${inner}</saml:Conditions>`;
    assert.equal(check(response({ conditions: conditions(restriction(SP) + restriction(SP)) })).id, '_a');
    assert.deepEqual(
      refused(
        () => check(response({ conditions: conditions(restriction(SP) + restriction('https://other')) })),
        'saml_audience_mismatch',
      ),
      {
        stage: 'saml_validation',
        reason: `SAML assertion audience mismatch. Expected: ${SP} Received: https://other`,
        expected: SP,
        received: [SP, 'https://other'],
      },
    );
    assert.equal(
      refused(() => check(response({ conditions: conditions(restriction('')) })), 'saml_audience_mismatch')
        .reason,
      'SAML assertion AudienceRestriction has no Audience value',
    );
  });

  it('times it cannot read: a Conditions NotOnOrAfter missing (saml_expired), an IssueInstant unreadable (saml_malformed)', () => {
    const detail = refused(
      () =>
        check(
          response({
            conditions: `<saml:Conditions NotBefore="${at(-60)}"><saml:AudienceRestriction><saml:Audience>${SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`,
          }),
        ),
      'saml_expired',
    );
    assert.equal(detail.reason, "Error parsing NotOnOrAfter: 'undefined' is not a valid date");
    assert.equal(
      refused(() => check(response({ issueInstant: 'yesterday' })), 'saml_malformed').reason,
      "Error parsing IssueInstant: 'yesterday' is not a valid date",
    );
  });

  it('the window: within the skew on either side is accepted, past it refused by the side it is on', () => {
    const window = (notBefore: number, notOnOrAfter: number) =>
      response({
        conditions: `<saml:Conditions NotBefore="${at(notBefore)}" NotOnOrAfter="${at(notOnOrAfter)}"><saml:AudienceRestriction><saml:Audience>${SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`,
      });
    assert.equal(check(window(170, 600)).id, '_a');
    assert.equal(check(window(-600, -170)).id, '_a');
    assert.equal(
      refused(() => check(window(190, 600)), 'saml_not_yet_valid').reason,
      'SAML assertion not yet valid',
    );
    assert.equal(
      refused(() => check(window(-600, -180)), 'saml_expired').reason,
      'SAML assertion expired: clocks skewed too much',
    );
  });

  it('unsolicited: no InResponseTo anywhere; with one in the confirmation, refused', () => {
    assert.equal(check(response({}, null), { requestId: null }).id, '_a');
    const named = response(
      {
        confirmation: `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="${ACS}" NotOnOrAfter="${at(300)}" InResponseTo="_other"/></saml:SubjectConfirmation>`,
      },
      null,
    );
    assert.deepEqual(
      refused(() => check(named, { requestId: null }), 'saml_in_response_to_mismatch'),
      {
        stage: 'saml_validation',
        field: 'SubjectConfirmationData InResponseTo',
        expected: null,
        received: ['_other'],
      },
    );
  });

  it('no Issuer, or a whitespace-only NameID', () => {
    const noIssuer = response().replace(`<saml:Issuer>${IDP}</saml:Issuer><saml:Subject>`, '<saml:Subject>');
    assert.deepEqual(
      refused(() => check(noIssuer), 'saml_issuer_mismatch'),
      {
        stage: 'saml_validation',
        expected: IDP,
        received: null,
      },
    );
    assert.equal(check(response({ nameId: '<saml:NameID>  </saml:NameID>' })).nameId, null);
  });
});
