import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  childrenNamed,
  descendantsNamed,
  MAX_XML_ATTRIBUTES,
  MAX_XML_DEPTH,
  MAX_XML_ELEMENTS,
  nestingDepth,
  parseXml,
  scanXml,
  XmlRejected,
} from '../../src/connectors/saml/xml.ts';

describe('nestingDepth: the pre-parse scan of how deep elements nest', () => {
  it('counts start tags, not self-closing ones, comments, CDATA, processing instructions or quoted `>`', () => {
    assert.equal(nestingDepth('<a><b/><c><d>x</d></c></a>'), 3);
    assert.equal(nestingDepth('<?xml version="1.0"?><a><!-- <b><c><d> --><e/></a>'), 1);
    assert.equal(nestingDepth('<a><![CDATA[<b><c><d>]]></a>'), 1);
    assert.equal(nestingDepth('<a x="1 > 0" y=\'<b>\'><b z="/>"></b></a>'), 2);
    assert.equal(nestingDepth('<a><b></b><b><c/></b></a>'), 2);
    assert.equal(nestingDepth('no tags at all'), 0);
  });

  it('a real SAML-shaped document is far below the limit; one nested past it is refused before parsing', () => {
    // SAML responses and metadata nest ~12 deep.
    assert.ok(MAX_XML_DEPTH >= 32);
    const deep = `<r>${'<a>'.repeat(MAX_XML_DEPTH)}${'</a>'.repeat(MAX_XML_DEPTH)}</r>`;
    assert.throws(
      () => parseXml(deep),
      (err: unknown) => err instanceof XmlRejected && /nested deeper/.test(String(err)),
    );
    const ok = `<r>${'<a>'.repeat(MAX_XML_DEPTH - 1)}${'</a>'.repeat(MAX_XML_DEPTH - 1)}</r>`;
    assert.equal(parseXml(ok).documentElement?.localName, 'r');
  });
});

describe('scanXml: elements and attributes counted before parsing', () => {
  it('counts every element (self-closing too) and the most attributes on one, namespace declarations included', () => {
    assert.deepEqual(scanXml('<a xmlns:p="u" b="1"><p:c d="x=y"/><!-- <e f="1" g="2" h="3"/> --><e/></a>'), {
      depth: 1,
      elements: 3,
      attributes: 2,
    });
  });

  it('refuses more elements, or more attributes on one element, than the caps, before parsing', () => {
    assert.throws(
      () => parseXml(`<r>${'<a/>'.repeat(MAX_XML_ELEMENTS)}</r>`),
      (err: unknown) => err instanceof XmlRejected && /more than 10000 elements/.test(String(err)),
    );
    assert.equal(parseXml(`<r>${'<a/>'.repeat(MAX_XML_ELEMENTS - 1)}</r>`).documentElement?.localName, 'r');
    const attributes = (n: number) => Array.from({ length: n }, (_, i) => `a${i}="1"`).join(' ');
    assert.throws(
      () => parseXml(`<r ${attributes(MAX_XML_ATTRIBUTES + 1)}/>`),
      (err: unknown) => err instanceof XmlRejected && /attributes on one element/.test(String(err)),
    );
    assert.equal(parseXml(`<r ${attributes(MAX_XML_ATTRIBUTES)}/>`).documentElement?.localName, 'r');
  });
});

describe('descendantsNamed / childrenNamed: linear walks by local name, any namespace', () => {
  it('finds elements in document order at any depth, and children only one level down', () => {
    const doc = parseXml(
      '<p:R xmlns:p="urn:p" xmlns:d="urn:d"><d:Signature id="1"><d:X><d:Signature id="2"/></d:X></d:Signature><Signature id="3"/></p:R>',
    );
    assert.deepEqual(
      descendantsNamed(doc, 'Signature').map((e) => e.getAttribute('id')),
      ['1', '2', '3'],
    );
    const root = doc.documentElement as unknown as Element;
    assert.deepEqual(
      childrenNamed(root, 'Signature').map((e) => e.getAttribute('id')),
      ['1', '3'],
    );
    assert.equal(descendantsNamed(doc, '*').length, 5);
  });
});
