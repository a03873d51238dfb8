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
