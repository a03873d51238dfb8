import type { Document, Element, Node } from '@xmldom/xmldom';
import { XMLSerializer } from '@xmldom/xmldom';
import fc from 'fast-check';
import { childElements, DSIG_NS, parseStrict, SAML_NS, SAMLP_NS } from './acs-oracle.ts';

/**
 * Structural mutations of a valid signed SAML response, for the ACS fuzzer (issue 15). Each mutation is plain
 * JSON (saved as is in test/fuzz/regressions/acs.json and replayed), and picks its targets by index modulo the
 * candidates of the response at hand, so any mutation applies to any response. `neutral` mutations change nothing
 * a signature protects nor anything Gatehouse checks: a response with only those must still sign in.
 */

/** The identity every forged element claims (the fuzzer checks no profile ever has it). */
export const FORGED = 'ceo.forged@acme.com';

/** Elements whose text is identity or a check: where a comment cut the value in SAML libraries of the past. */
export type IdentityField = 'NameID' | 'AttributeValue' | 'Issuer' | 'Audience';

export type Container = 'Extensions' | 'Object' | 'Advice' | 'Assertion' | 'Evidence' | 'Status';

export type Mutation =
  // the signature-wrapping family
  | { op: 'wrap'; into: Container; forged: boolean }
  | { op: 'extra-assertion'; where: 'before' | 'after' | 'extensions' | 'object' | 'end' }
  | { op: 'move-signature'; sig: number; to: 'forged' | 'extensions' | 'end' | 'other' | 'object' }
  | { op: 'duplicate'; el: number }
  | { op: 'remove'; el: number }
  | { op: 'move'; el: number; to: number }
  // comments and text
  | { op: 'comment-text'; el: number; at: number }
  | { op: 'comment-field'; field: IdentityField; nth: number; at: number; how: 'comment' | 'cdata' | 'pi' }
  | { op: 'comment-child'; el: number; at: number }
  | { op: 'whitespace'; el: number; at: number; ws: string }
  | { op: 'set-text'; el: number }
  | { op: 'charref'; text: number; at: number }
  | { op: 'doctype-entity'; text: number }
  // namespaces
  | { op: 'ns-decl'; el: number; prefix: string }
  | { op: 'ns-default'; el: number }
  | { op: 'ns-prefix'; el: number; prefix: string }
  | { op: 'ns-swap'; el: number }
  | { op: 'ns-rebind'; tag: number }
  | { op: 'other-ns-twin'; el: number }
  // IDs and References
  | { op: 'id'; el: number; how: 'case' | 'Id' | 'id' | 'fresh' | 'swap' }
  | { op: 'dup-id'; el: number; attr: 'ID' | 'Id' | 'id'; of: number }
  | { op: 'ref-uri'; sig: number; how: 'empty' | 'other' | 'case' | 'xpointer' | 'extra' }
  | { op: 'set-attr'; el: number; attr: number; value: number }
  // serialization of the same content
  | { op: 'attr-reorder'; el: number }
  | { op: 'attr-quote'; tag: number }
  | { op: 'unquote'; tag: number; attr: number; which: 'open' | 'close' | 'both' | 'equals' }
  | { op: 'tag-space'; tag: number; ws: string }
  | { op: 'xml-decl' }
  | { op: 'outer-comment'; after: boolean }
  | { op: 'keyinfo-remove'; sig: number }
  | { op: 'extensions-padding'; n: number }
  | { op: 'response-id' }
  // damage
  | { op: 'truncate'; frac: number }
  | { op: 'bitflip'; at: number; bit: number }
  | { op: 'cipher-flip'; value: number; at: number; bit: number }
  | { op: 'status'; code: string; message: boolean };

export const NEUTRAL = new Set<Mutation['op']>([
  'attr-reorder',
  'attr-quote',
  'tag-space',
  'xml-decl',
  'outer-comment',
  'keyinfo-remove',
  'extensions-padding',
  'response-id',
  'ns-decl',
]);

/** The IdP's status message planted by `status` mutations: it must never reach a browser. */
export const STATUS_CANARY = 'idp-says-zorblax-7731';

/** What a mutation needs to know about the sign-in to forge convincingly. */
export interface ForgeContext {
  acsUrl: string;
  spEntityId: string;
  idpEntityId: string;
  inResponseTo: string | null;
}

const idx = fc.nat(1_000);
const WS = fc.constantFrom(' ', '\n', '\t', '\r\n', '  ');

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('wrap' as const),
      into: fc.constantFrom<Container>('Extensions', 'Object', 'Advice', 'Assertion', 'Evidence', 'Status'),
      forged: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('extra-assertion' as const),
      where: fc.constantFrom('before', 'after', 'extensions', 'object', 'end'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('move-signature' as const),
      sig: idx,
      to: fc.constantFrom('forged', 'extensions', 'end', 'other', 'object'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate' as const), el: idx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), el: idx }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('move' as const), el: idx, to: idx }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('comment-text' as const), el: idx, at: idx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('comment-child' as const), el: idx, at: idx }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('comment-field' as const),
      field: fc.constantFrom<IdentityField>('NameID', 'AttributeValue', 'Issuer', 'Audience'),
      nth: idx,
      at: idx,
      how: fc.constantFrom('comment', 'cdata', 'pi'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('whitespace' as const), el: idx, at: idx, ws: WS }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set-text' as const), el: idx }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('charref' as const), text: idx, at: idx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('doctype-entity' as const), text: idx }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('ns-decl' as const),
      el: idx,
      prefix: fc.constantFrom('fz', 'x', 'evil'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ns-default' as const), el: idx }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('ns-prefix' as const),
      el: idx,
      prefix: fc.constantFrom('x', 'saml2', 'samlp', 'ds', 'saml'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ns-swap' as const), el: idx }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ns-rebind' as const), tag: idx }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('other-ns-twin' as const), el: idx }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('id' as const),
      el: idx,
      how: fc.constantFrom('case', 'Id', 'id', 'fresh', 'swap'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('dup-id' as const),
      el: idx,
      attr: fc.constantFrom('ID', 'Id', 'id'),
      of: idx,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('ref-uri' as const),
      sig: idx,
      how: fc.constantFrom('empty', 'other', 'case', 'xpointer', 'extra'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('set-attr' as const), el: idx, attr: idx, value: idx }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('attr-reorder' as const), el: idx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('attr-quote' as const), tag: idx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tag-space' as const), tag: idx, ws: WS }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('unquote' as const),
      tag: idx,
      attr: idx,
      which: fc.constantFrom('open', 'close', 'both', 'equals'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('xml-decl' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('outer-comment' as const), after: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('keyinfo-remove' as const), sig: idx }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('extensions-padding' as const),
      n: fc.integer({ min: 1, max: 300 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('response-id' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('truncate' as const),
      frac: fc.double({ min: 0, max: 0.9999, noNaN: true }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('bitflip' as const), at: fc.nat(100_000), bit: fc.nat(7) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('cipher-flip' as const),
      value: idx,
      at: fc.nat(100_000),
      bit: fc.nat(7),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('status' as const),
      code: fc.constantFrom('Requester', 'Responder', 'AuthnFailed', 'RequestDenied', 'Success'),
      message: fc.boolean(),
    }),
  },
);

// ---------- helpers on the DOM ----------

function serialize(doc: Document): string {
  return new XMLSerializer().serializeToString(doc);
}

function parse(xml: string): Document {
  // Mutations are applied one after the other; an earlier one may leave XML that does not parse (truncation):
  // the later ones then see no document and leave the text as it is.
  const doc = parseStrict(xml);
  if (!doc) throw new NotXml();
  return doc;
}

class NotXml extends Error {}

function allElements(doc: Document): Element[] {
  return Array.from(doc.getElementsByTagName('*'));
}

function pick<T>(list: readonly T[], n: number): T | undefined {
  return list.length ? list[n % list.length] : undefined;
}

function root(doc: Document): Element {
  return doc.documentElement as Element;
}

/** The Response's (possibly encrypted) assertion: the one the IdP signed or encrypted. */
function signedAssertion(doc: Document): Element | undefined {
  return childElements(root(doc)).find(
    (c) =>
      c.namespaceURI === SAML_NS && (c.localName === 'Assertion' || c.localName === 'EncryptedAssertion'),
  );
}

function afterIssuer(parent: Element): Node | null {
  const issuer = childElements(parent).find((c) => c.localName === 'Issuer');
  return issuer ? issuer.nextSibling : parent.firstChild;
}

function extensions(doc: Document): Element {
  const r = root(doc);
  const found = childElements(r).find((c) => c.namespaceURI === SAMLP_NS && c.localName === 'Extensions');
  if (found) return found;
  const ext = doc.createElementNS(SAMLP_NS, 'samlp:Extensions');
  r.insertBefore(ext, afterIssuer(r));
  return ext;
}

/** A ds:Object in the Response's Signature (one is made, in a Signature of its own, if the Response has none). */
function dsObject(doc: Document): Element {
  const r = root(doc);
  let sig = childElements(r).find((c) => c.namespaceURI === DSIG_NS && c.localName === 'Signature');
  if (!sig) {
    sig = doc.createElementNS(DSIG_NS, 'ds:Signature');
    r.insertBefore(sig, afterIssuer(r));
  }
  const object = doc.createElementNS(DSIG_NS, 'ds:Object');
  sig.appendChild(object);
  return object;
}

function setText(el: Element, value: string): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  el.appendChild((el.ownerDocument as Document).createTextNode(value));
}

let forgeCounter = 0;

/** An unsigned assertion claiming FORGED: a copy of the genuine one when it is in clear, else made up. */
function forgedAssertion(doc: Document, ctx: ForgeContext): Element {
  const id = `_forged${++forgeCounter}`;
  const genuine = signedAssertion(doc);
  if (genuine && genuine.localName === 'Assertion') {
    const copy = genuine.cloneNode(true) as Element;
    copy.setAttribute('ID', id);
    for (const c of childElements(copy)) if (c.localName === 'Signature') copy.removeChild(c);
    for (const el of Array.from(copy.getElementsByTagNameNS(SAML_NS, 'NameID'))) setText(el, FORGED);
    for (const el of Array.from(copy.getElementsByTagNameNS(SAML_NS, 'AttributeValue')))
      if ((el.textContent ?? '').includes('@')) setText(el, FORGED);
    return copy;
  }
  const now = new Date().toISOString();
  const later = new Date(Date.now() + 300_000).toISOString();
  const irt = ctx.inResponseTo ? ` InResponseTo="${ctx.inResponseTo}"` : '';
  const xml = `<saml:Assertion xmlns:saml="${SAML_NS}" ID="${id}" Version="2.0" IssueInstant="${now}"><saml:Issuer>${ctx.idpEntityId}</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${FORGED}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${later}" Recipient="${ctx.acsUrl}"${irt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="${now}" NotOnOrAfter="${later}"><saml:AudienceRestriction><saml:Audience>${ctx.spEntityId}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>${FORGED}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>`;
  return doc.importNode(parse(xml).documentElement as Element, true) as Element;
}

function isAncestorOrSelf(a: Node, b: Node): boolean {
  for (let n: Node | null = b; n; n = n.parentNode) if (n === a) return true;
  return false;
}

function signatures(doc: Document): Element[] {
  return Array.from(doc.getElementsByTagNameNS(DSIG_NS, 'Signature'));
}

function ids(doc: Document): string[] {
  return allElements(doc)
    .map((e) => e.getAttribute('ID'))
    .filter((v): v is string => !!v);
}

function toggleCase(s: string): string {
  const i = s.search(/[a-zA-Z]/);
  if (i < 0) return `${s}A`;
  const c = s.charAt(i);
  return s.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(i + 1);
}

const ATTR_VALUES = (ctx: ForgeContext, doc: Document): string[] => [
  FORGED,
  '',
  toggleCase(ctx.acsUrl),
  `${ctx.spEntityId}.evil`,
  'https://idp.rogue.test/saml/metadata',
  'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key',
  '2001-01-01T00:00:00Z',
  '2999-01-01T00:00:00Z',
  'not a date',
  ...ids(doc),
];

// ---------- string-level helpers ----------

const START_TAG = /<([A-Za-z_][\w.:-]*)((?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
const TEXT = />([^<]+)</g;

function nthMatch(re: RegExp, s: string, n: number): RegExpExecArray | undefined {
  const all = [...s.matchAll(re)];
  return pick(all, n) as RegExpExecArray | undefined;
}

// ---------- applying ----------

type Apply = (xml: string, ctx: ForgeContext) => string;

function onDom(change: (doc: Document) => void): Apply {
  return (xml) => {
    const doc = parse(xml);
    change(doc);
    return serialize(doc);
  };
}

function domMutation(m: Mutation, ctx: ForgeContext): Apply | undefined {
  switch (m.op) {
    case 'wrap':
      return onDom((doc) => {
        const target = signedAssertion(doc);
        if (!target) return;
        const r = root(doc);
        const forged = forgedAssertion(doc, ctx);
        const place = target.nextSibling;
        r.removeChild(target);
        if (m.into === 'Extensions') extensions(doc).appendChild(target);
        else if (m.into === 'Object') dsObject(doc).appendChild(target);
        else if (m.into === 'Status') {
          const status = childElements(r).find((c) => c.localName === 'Status');
          (status ?? r).appendChild(target);
        } else {
          // Inside the forged assertion, which takes the genuine one's place.
          const holder = m.into === 'Assertion' ? forged : doc.createElementNS(SAML_NS, `saml:${m.into}`);
          if (holder !== forged) forged.appendChild(holder);
          holder.appendChild(target);
          r.insertBefore(forged, place);
          return;
        }
        if (m.forged) r.insertBefore(forged, place);
      });
    case 'extra-assertion':
      return onDom((doc) => {
        const target = signedAssertion(doc);
        const r = root(doc);
        const forged = forgedAssertion(doc, ctx);
        if (m.where === 'before' && target) r.insertBefore(forged, target);
        else if (m.where === 'after' && target) r.insertBefore(forged, target.nextSibling);
        else if (m.where === 'extensions') extensions(doc).appendChild(forged);
        else if (m.where === 'object') dsObject(doc).appendChild(forged);
        else r.appendChild(forged);
      });
    case 'move-signature':
      return onDom((doc) => {
        const sig = pick(
          signatures(doc).filter((s) => s.parentNode?.localName !== 'Object'),
          m.sig,
        );
        if (!sig) return;
        const from = sig.parentNode as Element;
        from.removeChild(sig);
        const r = root(doc);
        if (m.to === 'forged') {
          const forged = forgedAssertion(doc, ctx);
          forged.insertBefore(sig, afterIssuer(forged));
          const target = signedAssertion(doc);
          r.insertBefore(forged, target ?? null);
        } else if (m.to === 'extensions') extensions(doc).appendChild(sig);
        else if (m.to === 'end') r.appendChild(sig);
        else if (m.to === 'object') dsObject(doc).appendChild(sig);
        else {
          const other = from === r ? signedAssertion(doc) : r;
          if (other) other.insertBefore(sig, afterIssuer(other));
        }
      });
    case 'duplicate':
      return onDom((doc) => {
        const el = pick(allElements(doc).slice(1), m.el);
        el?.parentNode?.insertBefore(el.cloneNode(true), el.nextSibling);
      });
    case 'remove':
      return onDom((doc) => {
        const el = pick(allElements(doc).slice(1), m.el);
        el?.parentNode?.removeChild(el);
      });
    case 'move':
      return onDom((doc) => {
        const list = allElements(doc);
        const el = pick(list.slice(1), m.el);
        const to = pick(list, m.to);
        if (!el || !to || isAncestorOrSelf(el, to)) return;
        el.parentNode?.removeChild(el);
        to.appendChild(el);
      });
    case 'comment-text':
    case 'whitespace':
    case 'comment-child':
      return onDom((doc) => {
        const withText = allElements(doc).filter((e) =>
          m.op === 'comment-text' ? childElements(e).length === 0 && (e.textContent ?? '') !== '' : true,
        );
        const el = pick(withText, m.el);
        if (!el) return;
        if (m.op === 'comment-text') {
          const text = el.textContent ?? '';
          const cut = m.at % (text.length + 1);
          setText(el, text.slice(0, cut));
          el.appendChild(doc.createComment('fz'));
          el.appendChild(doc.createTextNode(text.slice(cut)));
          return;
        }
        const node = m.op === 'whitespace' ? doc.createTextNode(m.ws) : doc.createComment('fz');
        const kids = Array.from({ length: el.childNodes.length }, (_, i) => el.childNodes.item(i));
        el.insertBefore(node, pick([...kids, null], m.at) ?? null);
      });
    case 'comment-field':
      // The text of an identity field split around a comment or a CDATA section (the canonical text stays the
      // same) or a processing instruction (which canonical XML keeps: signed content changed).
      return onDom((doc) => {
        const el = pick(Array.from(doc.getElementsByTagNameNS(SAML_NS, m.field)), m.nth);
        const text = el?.textContent ?? '';
        if (!el || !text) return;
        const cut = m.at % (text.length + 1);
        setText(el, text.slice(0, cut));
        if (m.how === 'comment') el.appendChild(doc.createComment('fz'));
        if (m.how === 'cdata') {
          el.appendChild(doc.createCDATASection(text.slice(cut, cut + 1)));
          el.appendChild(doc.createTextNode(text.slice(cut + 1)));
          return;
        }
        if (m.how === 'pi') el.appendChild(doc.createProcessingInstruction('fz', 'x'));
        el.appendChild(doc.createTextNode(text.slice(cut)));
      });
    case 'set-text':
      return onDom((doc) => {
        const leaves = allElements(doc).filter((e) => childElements(e).length === 0 && e.textContent);
        const el = pick(leaves, m.el);
        if (el) setText(el, FORGED);
      });
    case 'ns-decl':
      return onDom((doc) => {
        pick(allElements(doc), m.el)?.setAttribute(`xmlns:${m.prefix}`, `urn:fuzz:${m.prefix}`);
      });
    case 'ns-default':
      return onDom((doc) => {
        pick(allElements(doc), m.el)?.setAttribute('xmlns', 'urn:fuzz:default');
      });
    case 'ns-prefix':
    case 'ns-swap':
    case 'other-ns-twin':
      return onDom((doc) => {
        const el = pick(allElements(doc), m.el);
        if (!el?.parentNode) return;
        const ns = m.op === 'ns-prefix' ? el.namespaceURI : 'urn:fuzz:other';
        const prefix = m.op === 'ns-prefix' ? m.prefix : (el.prefix ?? 'o');
        const copy = doc.createElementNS(ns, `${prefix}:${el.localName}`);
        for (const a of Array.from(el.attributes)) copy.setAttributeNS(a.namespaceURI, a.name, a.value);
        if (m.op === 'other-ns-twin') {
          // A look-alike in another namespace, claiming the forged identity, placed before the original (a
          // document has one root: none before the Response).
          if (el === root(doc)) return;
          copy.appendChild(doc.createTextNode(FORGED));
          el.parentNode.insertBefore(copy, el);
          return;
        }
        while (el.firstChild) copy.appendChild(el.firstChild);
        el.parentNode.replaceChild(copy, el);
      });
    case 'id':
      return onDom((doc) => {
        const withId = allElements(doc).filter((e) => e.hasAttribute('ID'));
        const el = pick(withId, m.el);
        if (!el) return;
        const value = el.getAttribute('ID') ?? '';
        if (m.how === 'case') el.setAttribute('ID', toggleCase(value));
        else if (m.how === 'fresh') el.setAttribute('ID', `_fresh${++forgeCounter}`);
        else if (m.how === 'swap') {
          const other = withId.find((e) => e !== el);
          if (!other) return;
          el.setAttribute('ID', other.getAttribute('ID') ?? '');
          other.setAttribute('ID', value);
        } else {
          el.removeAttribute('ID');
          el.setAttribute(m.how, value);
        }
      });
    case 'dup-id':
      return onDom((doc) => {
        const el = pick(allElements(doc), m.el);
        const value = pick(ids(doc), m.of);
        if (el && value) el.setAttribute(m.attr, value);
      });
    case 'ref-uri':
      return onDom((doc) => {
        const sig = pick(signatures(doc), m.sig);
        const ref = sig ? Array.from(sig.getElementsByTagNameNS(DSIG_NS, 'Reference'))[0] : undefined;
        if (!ref) return;
        const uri = ref.getAttribute('URI') ?? '';
        const other = ids(doc).find((v) => `#${v}` !== uri);
        if (m.how === 'empty') ref.setAttribute('URI', '');
        else if (m.how === 'other' && other) ref.setAttribute('URI', `#${other}`);
        else if (m.how === 'case') ref.setAttribute('URI', toggleCase(uri));
        else if (m.how === 'xpointer') ref.setAttribute('URI', `#xpointer(id('${uri.slice(1)}'))`);
        else if (m.how === 'extra') {
          const twin = ref.cloneNode(true) as Element;
          if (other) twin.setAttribute('URI', `#${other}`);
          ref.parentNode?.insertBefore(twin, ref.nextSibling);
        }
      });
    case 'set-attr':
      return onDom((doc) => {
        const withAttrs = allElements(doc).filter((e) => e.attributes.length > 0);
        const el = pick(withAttrs, m.el);
        const attr = el ? pick(Array.from(el.attributes), m.attr) : undefined;
        const value = pick(ATTR_VALUES(ctx, doc), m.value);
        if (el && attr && value !== undefined && !attr.name.startsWith('xmlns'))
          el.setAttribute(attr.name, value);
      });
    case 'attr-reorder':
      return onDom((doc) => {
        const el = pick(
          allElements(doc).filter((e) => e.attributes.length > 1),
          m.el,
        );
        if (!el) return;
        const attrs = Array.from(el.attributes).filter((a) => !a.name.startsWith('xmlns'));
        for (const a of attrs) el.removeAttribute(a.name);
        for (const a of attrs.reverse()) el.setAttributeNS(a.namespaceURI, a.name, a.value);
      });
    case 'keyinfo-remove':
      return onDom((doc) => {
        const sig = pick(signatures(doc), m.sig);
        const keyInfo = sig ? childElements(sig).find((c) => c.localName === 'KeyInfo') : undefined;
        if (sig && keyInfo) sig.removeChild(keyInfo);
      });
    case 'extensions-padding':
      return onDom((doc) => {
        const ext = extensions(doc);
        for (let i = 0; i < m.n; i++) {
          const pad = doc.createElementNS('urn:fuzz:pad', 'pad:p');
          pad.setAttribute('n', String(i));
          ext.appendChild(pad);
        }
      });
    case 'response-id':
      return onDom((doc) => root(doc).setAttribute('ID', `_response${++forgeCounter}`));
    case 'cipher-flip':
      // One bit of a ciphertext (the encrypted key's or the data's; AES-CBC garbles one block and flips a bit of
      // the next); nothing to flip in a response in clear.
      return onDom((doc) => {
        const el = pick(
          Array.from(doc.getElementsByTagName('*')).filter((e) => e.localName === 'CipherValue'),
          m.value,
        );
        if (!el) return;
        const bytes = Buffer.from((el.textContent ?? '').replace(/\s+/g, ''), 'base64');
        const i = m.at % bytes.length;
        bytes[i] = (bytes[i] ?? 0) ^ (1 << m.bit);
        setText(el, bytes.toString('base64'));
      });
    case 'status':
      return onDom((doc) => {
        const status = childElements(root(doc)).find((c) => c.localName === 'Status');
        const code = status ? childElements(status).find((c) => c.localName === 'StatusCode') : undefined;
        if (!status || !code) return;
        const top = m.code === 'AuthnFailed' || m.code === 'RequestDenied' ? 'Responder' : m.code;
        code.setAttribute('Value', `urn:oasis:names:tc:SAML:2.0:status:${top}`);
        if (top !== m.code) {
          const second = doc.createElementNS(SAMLP_NS, 'samlp:StatusCode');
          second.setAttribute('Value', `urn:oasis:names:tc:SAML:2.0:status:${m.code}`);
          code.appendChild(second);
        }
        if (m.message) {
          const message = doc.createElementNS(SAMLP_NS, 'samlp:StatusMessage');
          message.appendChild(doc.createTextNode(`${STATUS_CANARY} <b>${FORGED}</b>`));
          status.appendChild(message);
        }
      });
    default:
      return undefined;
  }
}

function textMutation(m: Mutation): Apply | undefined {
  switch (m.op) {
    case 'charref':
      return (xml) => {
        const found = nthMatch(TEXT, xml, m.text);
        if (!found) return xml;
        const text = found[1] ?? '';
        const i = m.at % text.length;
        const ch = text.charAt(i);
        if (ch === '&') return xml;
        const ref = `&#x${ch.charCodeAt(0).toString(16)};`;
        const start = found.index + 1 + i;
        return xml.slice(0, start) + ref + xml.slice(start + 1);
      };
    case 'doctype-entity':
      return (xml) => {
        const found = nthMatch(TEXT, xml, m.text);
        const rootName = /<([A-Za-z_][\w.:-]*)/.exec(xml.replace(/^<\?[^>]*\?>/, ''))?.[1] ?? 'x';
        let out = xml;
        if (found)
          out = `${xml.slice(0, found.index + 1)}&fz;${xml.slice(found.index + 1 + (found[1] ?? '').length)}`;
        const decl = /^<\?xml[^>]*\?>/.exec(out)?.[0] ?? '';
        return `${decl}<!DOCTYPE ${rootName} [<!ENTITY fz "${FORGED}">]>${out.slice(decl.length)}`;
      };
    case 'ns-rebind':
      // Rebinds the tag's own prefix to another namespace (string-level: a DOM cannot hold the conflict).
      return (xml) => {
        const found = nthMatch(START_TAG, xml, m.tag);
        if (!found) return xml;
        const name = found[1] ?? '';
        const prefix = name.includes(':') ? `xmlns:${name.split(':')[0]}` : 'xmlns';
        const end = found.index + 1 + name.length;
        return `${xml.slice(0, end)} ${prefix}="urn:fuzz:rebound"${xml.slice(end)}`;
      };
    case 'attr-quote':
      return (xml) => {
        const found = nthMatch(START_TAG, xml, m.tag);
        if (!found) return xml;
        const attrs = (found[2] ?? '').replace(/="([^"']*)"/g, "='$1'");
        const start = found.index + 1 + (found[1] ?? '').length;
        return xml.slice(0, start) + attrs + xml.slice(start + (found[2] ?? '').length);
      };
    case 'unquote':
      // Not well-formed: an attribute's quote or equals sign dropped (xmldom recovers some of these with a
      // mere warning: the fuzzer found such a response signing in).
      return (xml) => {
        const found = pick(
          [...xml.matchAll(START_TAG)].filter((t) => (t[2] ?? '').includes('"')),
          m.tag,
        );
        const attrs = found ? [...(found[2] ?? '').matchAll(/=\s*"([^"]*)"/g)] : [];
        const attr = pick(attrs, m.attr);
        if (!found || !attr) return xml;
        const start = found.index + 1 + (found[1] ?? '').length + attr.index;
        const value = attr[1] ?? '';
        const replaced =
          m.which === 'open'
            ? `= ${value}"`
            : m.which === 'close'
              ? `="${value} `
              : m.which === 'both'
                ? `=${value} `
                : ` "${value}"`;
        return xml.slice(0, start) + replaced + xml.slice(start + attr[0].length);
      };
    case 'tag-space':
      return (xml) => {
        const found = nthMatch(START_TAG, xml, m.tag);
        if (!found) return xml;
        const attrs = (found[2] ?? '').replace(/\s+(?=[^\s=]+=)/g, `${m.ws} `);
        const start = found.index + 1 + (found[1] ?? '').length;
        return `${xml.slice(0, start)}${attrs}${m.ws}${xml.slice(start + (found[2] ?? '').length)}`;
      };
    case 'xml-decl':
      return (xml) => (xml.startsWith('<?xml') ? xml : `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
    case 'outer-comment':
      return (xml) => (m.after ? `${xml}\n<!-- fz -->\n` : `<!-- fz -->\n${xml}`);
    case 'truncate':
      return (xml) => xml.slice(0, Math.floor(m.frac * xml.length));
    case 'bitflip':
      return (xml) => {
        const bytes = Buffer.from(xml, 'utf8');
        const i = m.at % bytes.length;
        bytes[i] = (bytes[i] ?? 0) ^ (1 << m.bit);
        return new TextDecoder().decode(bytes);
      };
    default:
      return undefined;
  }
}

/** Applies the mutations in order to the XML of a response. */
export function mutate(xml: string, mutations: readonly Mutation[], ctx: ForgeContext): string {
  let out = xml;
  for (const m of mutations) {
    const apply = domMutation(m, ctx) ?? textMutation(m);
    if (!apply) throw new Error(`unknown mutation ${JSON.stringify(m)}`);
    try {
      out = apply(out, ctx);
    } catch (err) {
      if (!(err instanceof NotXml)) throw err;
    }
  }
  return out;
}
