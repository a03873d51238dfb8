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

export function parseXml(text: string): Document {
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text))
    throw new XmlRejected('XML with a DOCTYPE or entity declaration');
  let problem: string | null = null;
  const doc = new DOMParser({
    onError: (level: string, message: string) => {
      if (level !== 'warning') problem ??= message;
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
