import xpath from 'xpath';
import { parseCertificate } from './keys.ts';
import { childrenNamed, descendantsNamed, parseXml, XmlRejected } from './xml.ts';

/**
 * Reading an IdP's SAML metadata (EntityDescriptor → IDPSSODescriptor): its entity ID, where to send
 * AuthnRequests (HTTP-Redirect preferred, HTTP-POST otherwise) and its signing certificates (KeyDescriptor
 * use="signing" or without `use`). Several certificates are normal during a rotation; all are trusted.
 */

export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

export interface IdpMetadata {
  entityId: string;
  ssoUrl: string;
  ssoBinding: 'redirect' | 'post';
  /** PEM. */
  certificates: string[];
}

const select = (expr: string, node: unknown) => xpath.select(expr, node as Node) as unknown[];

/** @returns the metadata, or the list of problems (written for the IT admin who pasted it). */
export function parseIdpMetadata(
  text: string,
): { ok: true; metadata: IdpMetadata } | { ok: false; problems: string[] } {
  let doc: ReturnType<typeof parseXml>;
  try {
    doc = parseXml(text);
  } catch (err) {
    return { ok: false, problems: [err instanceof XmlRejected ? err.message : 'is not XML'] };
  }
  const problems: string[] = [];
  // A linear walk, not XPath `//` (see descendantsNamed): federation metadata can be large.
  const descriptors = descendantsNamed(doc, 'EntityDescriptor').filter(
    (d) => childrenNamed(d, 'IDPSSODescriptor').length > 0,
  );
  if (descriptors.length === 0)
    return { ok: false, problems: ['has no EntityDescriptor with an IDPSSODescriptor'] };
  if (descriptors.length > 1) {
    return { ok: false, problems: ['describes several identity providers; paste the metadata of one'] };
  }
  const entity = descriptors[0] as Element;
  const entityId = entity.getAttribute('entityID') ?? '';
  if (!entityId) problems.push('has no entityID');
  const idp = select("*[local-name()='IDPSSODescriptor']", entity)[0] as Element;

  const services = select("*[local-name()='SingleSignOnService']", idp) as Element[];
  const redirect = services.find((s) => s.getAttribute('Binding') === BINDING_REDIRECT);
  const post = services.find((s) => s.getAttribute('Binding') === BINDING_POST);
  const service = redirect ?? post;
  const ssoUrl = service?.getAttribute('Location') ?? '';
  if (!service) problems.push('has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding');
  else if (!/^https?:\/\//i.test(ssoUrl))
    problems.push('has a SingleSignOnService Location that is not an http(s) URL');

  const certificates: string[] = [];
  const keys = select("*[local-name()='KeyDescriptor']", idp) as Element[];
  for (const key of keys) {
    const use = key.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const node of select(".//*[local-name()='X509Certificate']", key) as Element[]) {
      const parsed = parseCertificate(node.textContent ?? '');
      if (!parsed.ok) problems.push(`has a signing certificate that ${parsed.reason}`);
      else if (!certificates.includes(parsed.pem)) certificates.push(parsed.pem);
    }
  }
  if (certificates.length === 0 && !problems.some((p) => p.includes('certificate'))) {
    problems.push('has no signing certificate (KeyDescriptor use="signing" with an X509Certificate)');
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    metadata: { entityId, ssoUrl, ssoBinding: redirect ? 'redirect' : 'post', certificates },
  };
}
