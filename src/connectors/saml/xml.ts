import { DOMParser, type Document } from '@xmldom/xmldom';

/**
 * Parsing XML that comes from outside (IdP metadata, SAML responses). A DOCTYPE is refused before any parsing:
 * SAML never needs one, and refusing it closes entity expansion ("billion laughs") and external entities for
 * good, whatever the parser would do with them. Warnings and errors of the parser are errors.
 */
export class XmlRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlRejected';
  }
}

/**
 * Caps checked by a linear scan of the text before it is parsed, so that what the parser (xmldom) does with a
 * hostile document stays small whatever its shape: its cost is ~3 µs per element, more for deep ones, more again
 * for many attributes on one element (measured in test/e2e/saml-attacks.test.ts and docs/saml.md).
 * - depth: deeper than any SAML message or metadata (~12 levels); the parser's cost per element grows with it;
 * - elements: a response with 5 000 group values has ~5 100; 10 000 parse in ~30 ms;
 * - attributes on one element: SAML elements have fewer than 10 (with their namespace declarations).
 */
export const MAX_XML_DEPTH = 64;
export const MAX_XML_ELEMENTS = 10_000;
export const MAX_XML_ATTRIBUTES = 64;

export function parseXml(text: string): Document {
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text))
    throw new XmlRejected('XML with a DOCTYPE or entity declaration');
  const shape = scanXml(text);
  if (shape.depth > MAX_XML_DEPTH) throw new XmlRejected(`XML nested deeper than ${MAX_XML_DEPTH} elements`);
  if (shape.elements > MAX_XML_ELEMENTS)
    throw new XmlRejected(`XML with more than ${MAX_XML_ELEMENTS} elements`);
  if (shape.attributes > MAX_XML_ATTRIBUTES)
    throw new XmlRejected(`XML with more than ${MAX_XML_ATTRIBUTES} attributes on one element`);
  let problem: string | null = null;
  const doc = new DOMParser({
    // xmldom reports some of what makes XML not well-formed as mere warnings and recovers (an attribute value
    // without its opening quote is read as if quoted): those are refused like errors. Only U+FFFD, a character
    // like any other, passes.
    onError: (level: string, message: string) => {
      if (level === 'warning' && /replacement character/i.test(message)) return;
      problem ??= message;
    },
  }).parseFromString(text, 'text/xml');
  if (problem || !doc?.documentElement)
    throw new XmlRejected(`XML is not well-formed: ${problem ?? 'no root element'}`);
  return doc;
}

/**
 * The elements below `node`, in document order, whose local name (any namespace) is `localName` (`*`: all of
 * them): one linear walk.
 * Use it instead of XPath `//`, whose node sets the `xpath` package sorts into document order at a cost that grows
 * much faster than the document (a 700 KB response posted to an ACS took 15 s of CPU).
 */
export function descendantsNamed(node: unknown, localName: string): Element[] {
  const found: Element[] = [];
  const stack: Node[] = [];
  const root = node as Node;
  for (let child = root.lastChild; child; child = child.previousSibling) stack.push(child);
  while (stack.length > 0) {
    const current = stack.pop() as Node;
    if (current.nodeType !== 1) continue;
    if (localName === '*' || (current as Element).localName === localName) found.push(current as Element);
    for (let child = current.lastChild; child; child = child.previousSibling) stack.push(child);
  }
  return found;
}

/** The child elements of `node` whose local name (any namespace) is `localName`. */
export function childrenNamed(node: unknown, localName: string): Element[] {
  const found: Element[] = [];
  for (let child = (node as Node).firstChild; child; child = child.nextSibling) {
    if (child.nodeType === 1 && (child as Element).localName === localName) found.push(child as Element);
  }
  return found;
}

/** How deep the elements of `text` nest (see `scanXml`). */
export function nestingDepth(text: string): number {
  return scanXml(text).depth;
}

/**
 * The shape of `text` counted by one linear scan of its tags before any parsing (comments, CDATA sections and
 * processing instructions skipped, quoted attribute values respected): how deep its elements nest, how many
 * there are, and the most attributes (namespace declarations included) on one of them. Malformed input gives
 * some numbers; the parser refuses it afterwards anyway.
 */
export function scanXml(text: string): { depth: number; elements: number; attributes: number } {
  let depth = 0;
  let deepest = 0;
  let elements = 0;
  let mostAttributes = 0;
  let i = text.indexOf('<');
  while (i !== -1 && i < text.length) {
    if (text.startsWith('<!--', i)) {
      i = text.indexOf('-->', i + 4);
      if (i === -1) break;
      i += 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      i = text.indexOf(']]>', i + 9);
      if (i === -1) break;
      i += 3;
    } else if (text.startsWith('<?', i) || text.startsWith('<!', i)) {
      i = text.indexOf('>', i + 2);
      if (i === -1) break;
      i += 1;
    } else if (text.startsWith('</', i)) {
      depth -= 1;
      i = text.indexOf('>', i + 2);
      if (i === -1) break;
      i += 1;
    } else {
      // A start tag: to its `>`, past quoted attribute values (which may hold `>`).
      let j = i + 1;
      let quote = '';
      let attributes = 0;
      for (; j < text.length; j++) {
        const c = text[j];
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === '"' || c === "'") {
          quote = c;
        } else if (c === '=') {
          attributes += 1;
        } else if (c === '>') {
          break;
        }
      }
      elements += 1;
      if (attributes > mostAttributes) mostAttributes = attributes;
      if (text[j - 1] !== '/') {
        depth += 1;
        if (depth > deepest) deepest = depth;
      }
      i = j + 1;
    }
    i = text.indexOf('<', i);
  }
  return { depth: deepest, elements, attributes: mostAttributes };
}

// ---------- Writing XML (our AuthnRequest and SP metadata: fixed templates with escaped values) ----------

/** Characters XML 1.0 cannot carry, even escaped (§2.2), lone surrogates included. */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};
const entity = (c: string) => ENTITIES[c] ?? c;

function xmlChars(value: string, name: string): string {
  if (NOT_XML_CHAR.test(value)) throw new TypeError(`${name} has a character XML cannot carry`);
  return value;
}

/**
 * `value` for a double-quoted attribute, with whitespace as character references (attribute-value normalization
 * would turn a literal tab or newline into a space). `name` is for the error when XML cannot carry it at all.
 */
export function xmlAttribute(value: string, name: string): string {
  return xmlChars(value, name).replace(/[&<>"\t\n\r]/g, entity);
}

/** `value` as element text (a literal CR would be read as a newline). */
export function xmlText(value: string, name: string): string {
  return xmlChars(value, name).replace(/[&<>\r]/g, entity);
}
