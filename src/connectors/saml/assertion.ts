import { BrokerError } from '../../errors/broker-error.ts';
import type { ErrorCode } from '../../errors/catalog.ts';
import { childrenNamed } from './xml.ts';

/**
 * What the ACS reads from a SAML assertion whose signature the gate (signature.ts) has verified, and the checks
 * on it: one pass over the already-parsed document, no XPath, no second parse.
 *
 * Only what the signature covers is read: fixed paths of direct children from the verified `Assertion` element
 * (`Assertion/Subject/NameID`, `Assertion/Conditions/AudienceRestriction/Audience`, …), never a search of its
 * descendants, which would also find elements an attacker put inside its `Signature` (`ds:Object`, `KeyInfo`: not
 * covered by the digest). Every element read must be in the SAML assertion namespace. Text is read as the
 * canonical form has it: all of an element's text, comments left out (`user@evil.com<!---->.example.com` is
 * `user@evil.com.example.com`, never the text before the comment).
 *
 * The Response's own attributes (`InResponseTo`, `Destination`) are read from the Response, which the signature
 * covers when the IdP signed it; when only the assertion is signed they are checked against what the assertion
 * says (its `SubjectConfirmationData` `InResponseTo` and `Recipient`) as well.
 *
 * The checks, their order and their codes and reasons are those the ACS had with @node-saml/node-saml (the
 * session log and the attack tests keep them), with the assertion's structure held to the schema where
 * node-saml took the first of several (Subject, NameID, Issuer, Conditions) and bearer confirmations only
 * (SAML profiles §4.1.4.2).
 */

export const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

export interface AssertionExpectations {
  /** Our AuthnRequest's ID; null for an unsolicited (IdP-initiated) response. */
  requestId: string | null;
  /** This connection's ACS URL: every Recipient, and the Response's Destination when it has one. */
  acsUrl: string;
  /** Our SP entity ID: what every AudienceRestriction must name. */
  audience: string;
  /** The IdP's entity ID: the assertion's Issuer. */
  idpEntityId: string;
  clockSkewSeconds: number;
}

export interface AssertionContents {
  id: string;
  issuer: string;
  nameId: string | null;
  nameIdFormat: string | null;
  sessionIndex: string | null;
  /** Attribute name → its value (one AttributeValue) or values (several), as text. */
  attributes: Record<string, string | string[]>;
  /** The latest NotOnOrAfter of the assertion (Conditions, confirmations): how long its ID must be remembered. */
  validUntil: number | null;
}

/** The direct children of `parent` named `localName` in the SAML assertion namespace. */
function samlChildren(parent: Element, localName: string): Element[] {
  return childrenNamed(parent, localName).filter((e) => e.namespaceURI === SAML_NS);
}

function malformed(reason: string): BrokerError {
  return new BrokerError('saml_malformed', { detail: { stage: 'saml_validation', reason } });
}

/** The one child `localName` of `parent`, or undefined; more than one is refused (the schema allows one). */
function optionalChild(parent: Element, localName: string): Element | undefined {
  const found = samlChildren(parent, localName);
  if (found.length > 1)
    throw malformed(`the ${parent.localName} has ${found.length} ${localName} elements, not one`);
  return found[0];
}

/** An element's text as its canonical form has it (comments and processing instructions are not text). */
const text = (element: Element): string => element.textContent ?? '';

/** The value of an attribute that is present, else null. */
const attribute = (element: Element, name: string): string | null =>
  element.hasAttribute(name) ? element.getAttribute(name) : null;

/** A time attribute: ms since the epoch, or the error an unreadable (or missing) one is reported with. */
function timeOf(
  value: string | null,
  label: string,
  code: ErrorCode,
  detail: Record<string, unknown>,
): number {
  const ms = value === null ? Number.NaN : Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new BrokerError(code, {
      detail: { ...detail, reason: `Error parsing ${label}: '${value ?? 'undefined'}' is not a valid date` },
    });
  }
  return ms;
}

/**
 * Which side of its window a SubjectConfirmationData is on (with the skew), reading only the times it has:
 * `null` when inside it.
 */
function confirmationSide(data: Element, skewMs: number, now: number): ErrorCode | null {
  const notOnOrAfter = Date.parse(data.getAttribute('NotOnOrAfter') ?? '');
  if (Number.isFinite(notOnOrAfter) && now - skewMs >= notOnOrAfter) return 'saml_expired';
  const notBefore = Date.parse(data.getAttribute('NotBefore') ?? '');
  if (Number.isFinite(notBefore) && now + skewMs < notBefore) return 'saml_not_yet_valid';
  return null;
}

/**
 * Checks the verified `assertion` (a child of `response`, or the root of its decrypted document) against what
 * this sign-in expects, and reads it. Throws the BrokerError of the first check that fails, with the expected and
 * received values in its detail.
 */
export function checkAssertion(
  response: Element,
  assertion: Element,
  expected: AssertionExpectations,
  now = Date.now(),
): AssertionContents {
  const { requestId, acsUrl, clockSkewSeconds } = expected;
  const skewMs = clockSkewSeconds * 1000;
  const stage = { stage: 'saml_validation' };
  const conditions = samlChildren(assertion, 'Conditions');
  if (conditions.length > 1) throw malformed('Unable to process multiple conditions in SAML assertion');
  const condition = conditions[0];
  /** The detail of a failure of time: the Conditions' window, now and the skew. */
  const timeDetail = () => ({
    ...stage,
    not_before: condition ? attribute(condition, 'NotBefore') : null,
    not_on_or_after: condition ? attribute(condition, 'NotOnOrAfter') : null,
    now: new Date(now).toISOString(),
    clock_skew_seconds: clockSkewSeconds,
  });
  const inResponseToFailure = (reason: string, received: string | null) =>
    new BrokerError('saml_in_response_to_mismatch', {
      detail: { ...stage, reason, expected: requestId, received },
    });

  // 1. The Response's InResponseTo: our request's ID when we sent one, none otherwise.
  const inResponseTo = attribute(response, 'InResponseTo');
  if (inResponseTo !== null && inResponseTo !== requestId)
    throw inResponseToFailure('InResponseTo is not valid', inResponseTo);
  if (requestId !== null && inResponseTo === null)
    throw inResponseToFailure('InResponseTo is missing from response', null);

  timeOf(attribute(assertion, 'IssueInstant'), 'IssueInstant', 'saml_malformed', stage);
  const id = attribute(assertion, 'ID') ?? '';

  // 2. The subject and its bearer confirmations: the first within its window is the one that counts.
  const subject = optionalChild(assertion, 'Subject');
  const confirmations = subject ? samlChildren(subject, 'SubjectConfirmation') : [];
  const bearers = confirmations.filter((c) => c.getAttribute('Method') === BEARER);
  if (confirmations.length > 0 && bearers.length === 0) {
    throw new BrokerError('saml_recipient_mismatch', {
      detail: {
        ...stage,
        field: 'SubjectConfirmation Method',
        expected: BEARER,
        received: confirmations.map((c) => attribute(c, 'Method')),
      },
    });
  }
  const allData = confirmations.flatMap((c) => samlChildren(c, 'SubjectConfirmationData'));
  const bearerData = bearers.map((c) => optionalChild(c, 'SubjectConfirmationData'));
  const valid = bearerData.find((data) => {
    if (!data || data.attributes.length === 0) return false;
    const notOnOrAfter = timeOf(
      attribute(data, 'NotOnOrAfter'),
      'NotOnOrAfter',
      'saml_expired',
      timeDetail(),
    );
    const notBefore = attribute(data, 'NotBefore');
    if (
      notBefore !== null &&
      now + skewMs < timeOf(notBefore, 'NotBefore', 'saml_not_yet_valid', timeDetail())
    )
      return false;
    return now - skewMs < notOnOrAfter;
  });
  if (requestId !== null) {
    if (valid) {
      const named = attribute(valid, 'InResponseTo');
      if (named !== null && named !== '' && named !== inResponseTo)
        throw inResponseToFailure('InResponseTo does not match subjectInResponseTo', inResponseTo);
    } else if (bearers.length > 0) {
      // Every bearer confirmation is outside its window (or has none): which side, when one says.
      const sides = bearerData.flatMap((d) => (d ? [confirmationSide(d, skewMs, now)] : []));
      const code = sides.includes('saml_expired')
        ? 'saml_expired'
        : sides.includes('saml_not_yet_valid')
          ? 'saml_not_yet_valid'
          : 'saml_malformed';
      throw new BrokerError(code, {
        detail: {
          ...(code === 'saml_malformed' ? stage : timeDetail()),
          reason: 'No valid subject confirmation found among those available in the SAML assertion',
        },
      });
    }
  }

  // 3. The Conditions: their window, then the audience.
  if (condition && condition.attributes.length > 0) {
    const notOnOrAfter = timeOf(
      attribute(condition, 'NotOnOrAfter'),
      'NotOnOrAfter',
      'saml_expired',
      timeDetail(),
    );
    const notBefore = attribute(condition, 'NotBefore');
    if (
      notBefore !== null &&
      now + skewMs < timeOf(notBefore, 'NotBefore', 'saml_not_yet_valid', timeDetail())
    )
      throw new BrokerError('saml_not_yet_valid', {
        detail: { ...timeDetail(), reason: 'SAML assertion not yet valid' },
      });
    if (now - skewMs >= notOnOrAfter)
      throw new BrokerError('saml_expired', {
        detail: { ...timeDetail(), reason: 'SAML assertion expired: clocks skewed too much' },
      });
  }
  const restrictions = condition ? samlChildren(condition, 'AudienceRestriction') : [];
  const audiences = restrictions.map((r) => samlChildren(r, 'Audience').map(text));
  const audienceFailure = (reason: string) =>
    new BrokerError('saml_audience_mismatch', {
      detail: { ...stage, reason, expected: expected.audience, received: audiences.flat() },
    });
  if (restrictions.length === 0) throw audienceFailure('SAML assertion has no AudienceRestriction');
  for (const names of audiences) {
    if (!names[0]) throw audienceFailure('SAML assertion AudienceRestriction has no Audience value');
    if (!names.includes(expected.audience)) {
      throw audienceFailure(
        `SAML assertion audience mismatch. Expected: ${expected.audience} Received: ${names.join(', ')}`,
      );
    }
  }

  // 4. Who issued it, and where it was sent.
  const issuerElement = optionalChild(assertion, 'Issuer');
  const issuer = issuerElement ? text(issuerElement).trim() : null;
  if (issuer !== expected.idpEntityId) {
    throw new BrokerError('saml_issuer_mismatch', {
      detail: { ...stage, expected: expected.idpEntityId, received: issuer },
    });
  }
  const recipients = allData.flatMap((d) => {
    const recipient = attribute(d, 'Recipient');
    return recipient === null ? [] : [recipient];
  });
  if (recipients.length === 0 || recipients.some((r) => r !== acsUrl)) {
    throw new BrokerError('saml_recipient_mismatch', {
      detail: { ...stage, field: 'Recipient', expected: acsUrl, received: recipients },
    });
  }
  const destination = attribute(response, 'Destination');
  if (destination !== null && destination !== acsUrl) {
    throw new BrokerError('saml_recipient_mismatch', {
      detail: { ...stage, field: 'Destination', expected: acsUrl, received: destination },
    });
  }

  // 5. InResponseTo and the window in the signed confirmations. A response without a request of ours must not
  // name one anywhere (Profiles §4.1.5): otherwise a solicited assertion, which only the browser that asked may
  // use, could be posted as IdP-initiated once the Response's attribute is removed. Its confirmation must be
  // within its window all the same (Profiles §4.1.4.3).
  const named = allData.map((d) => d.getAttribute('InResponseTo') ?? '').filter((v) => v !== '');
  if (named.some((v) => v !== requestId)) {
    throw new BrokerError('saml_in_response_to_mismatch', {
      detail: {
        ...stage,
        field: 'SubjectConfirmationData InResponseTo',
        expected: requestId,
        received: named,
      },
    });
  }
  const sides = allData.map((d) => confirmationSide(d, skewMs, now));
  if (requestId === null && sides.length > 0 && !sides.includes(null)) {
    throw new BrokerError(sides.includes('saml_expired') ? 'saml_expired' : 'saml_not_yet_valid', {
      detail: {
        ...stage,
        field: 'SubjectConfirmationData',
        not_before: allData.map((d) => d.getAttribute('NotBefore') || null),
        not_on_or_after: allData.map((d) => d.getAttribute('NotOnOrAfter') || null),
        now: new Date(now).toISOString(),
        clock_skew_seconds: clockSkewSeconds,
      },
    });
  }

  // 6. What the assertion says about the user.
  const nameIdElement = subject ? optionalChild(subject, 'NameID') : undefined;
  const nameId = nameIdElement ? text(nameIdElement) : '';
  const sessionIndex = samlChildren(assertion, 'AuthnStatement')[0]?.getAttribute('SessionIndex') || null;
  const attributes = new Map<string, string | string[]>();
  for (const statement of samlChildren(assertion, 'AttributeStatement')) {
    for (const element of samlChildren(statement, 'Attribute')) {
      const name = attribute(element, 'Name');
      const values = samlChildren(element, 'AttributeValue').map(text);
      if (name === null || values.length === 0) continue;
      attributes.set(name, values.length === 1 ? (values[0] as string) : values);
    }
  }
  const ends = [...allData, ...(condition ? [condition] : [])]
    .map((e) => Date.parse(e.getAttribute('NotOnOrAfter') ?? ''))
    .filter((t) => Number.isFinite(t));
  return {
    id,
    issuer: issuer as string,
    nameId: nameId.trim() === '' ? null : nameId,
    nameIdFormat: nameIdElement ? attribute(nameIdElement, 'Format') : null,
    sessionIndex,
    // fromEntries defines own properties: a `__proto__` attribute name is a name, not a prototype.
    attributes: Object.fromEntries(attributes),
    validUntil: ends.length > 0 ? Math.max(...ends) : null,
  };
}
