import { randomBytes } from 'node:crypto';
import { certificateBody } from './keys.ts';
import { xmlAttribute, xmlText } from './xml.ts';

/**
 * Our SP metadata (SAML metadata §2.4.4), for the customer's IT admin to give their IdP: the entity ID, the ACS
 * (HTTP-POST), that we want assertions signed, whether we sign AuthnRequests, and the certificates the IdP needs:
 * our signing certificate when we sign AuthnRequests, our encryption certificate (with the content algorithms
 * xml-encryption decrypts) when we ask for encrypted assertions. One fixed template with escaped values: the
 * document @node-saml/node-saml wrote for these options, certificates on one line.
 */

const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const ENCRYPTION_METHODS = [
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
];

export interface SpMetadataFields {
  entityId: string;
  acsUrl: string;
  /** PEM; present when we sign AuthnRequests. */
  signingCertificate?: string | undefined;
  /** PEM; present when we ask for encrypted assertions. */
  encryptionCertificate?: string | undefined;
}

function keyDescriptor(use: 'signing' | 'encryption', pem: string, extra: string[]): string[] {
  return [
    `    <KeyDescriptor use="${use}">`,
    '      <ds:KeyInfo>',
    '        <ds:X509Data>',
    `          <ds:X509Certificate>${xmlText(certificateBody(pem), `the SP ${use} certificate`)}</ds:X509Certificate>`,
    '        </ds:X509Data>',
    '      </ds:KeyInfo>',
    ...extra,
    '    </KeyDescriptor>',
  ];
}

export function spMetadataXml(f: SpMetadataFields): string {
  return [
    '<?xml version="1.0"?>',
    `<EntityDescriptor xmlns="${MD_NS}" xmlns:ds="${DSIG_NS}" entityID="${xmlAttribute(f.entityId, 'the SP entity ID')}" ID="_${randomBytes(20).toString('hex')}">`,
    `  <SPSSODescriptor protocolSupportEnumeration="${PROTOCOL_NS}" AuthnRequestsSigned="${f.signingCertificate ? 'true' : 'false'}" WantAssertionsSigned="true">`,
    ...(f.signingCertificate ? keyDescriptor('signing', f.signingCertificate, []) : []),
    ...(f.encryptionCertificate
      ? keyDescriptor(
          'encryption',
          f.encryptionCertificate,
          ENCRYPTION_METHODS.map((m) => `      <EncryptionMethod Algorithm="${m}"/>`),
        )
      : []),
    `    <NameIDFormat>${NAMEID_UNSPECIFIED}</NameIDFormat>`,
    `    <AssertionConsumerService index="1" isDefault="true" Binding="${BINDING_POST}" Location="${xmlAttribute(f.acsUrl, 'the ACS URL')}"/>`,
    '  </SPSSODescriptor>',
    '</EntityDescriptor>',
  ].join('\n');
}
