import { X509Certificate } from 'node:crypto';
import { isBrokerError } from '../errors/broker-error.ts';
import { callbackUrl, openConnector } from '../sso/connections.ts';
import type { ConnectionRecord } from '../storage/store.ts';
import { guideForType } from './guides.ts';
import type { PortalDeps } from './portal.ts';

/**
 * The connection doctor: checks a saved connection and says, in the IT admin's words, each problem found and its
 * fix. It reads the saved configuration (certificates and their expiry, URLs), tries to start a sign-in the way
 * `/sso/authorize` would (which for OIDC reads the IdP's discovery document), and explains the connection's last
 * failed sign-in from the session log.
 */

export interface Problem {
  severity: 'error' | 'warning';
  title: string;
  fix: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const WARN_EXPIRY_DAYS = 90;

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function certificateProblems(pems: string[], idp: string, now: Date): Problem[] {
  const problems: Problem[] = [];
  const parsed = pems.flatMap((pem) => {
    try {
      return [new X509Certificate(pem)];
    } catch {
      return [];
    }
  });
  const live = parsed.filter((c) => new Date(c.validTo).getTime() > now.getTime());
  if (parsed.length > 0 && live.length === 0) {
    const last = parsed.map((c) => new Date(c.validTo)).sort((a, b) => b.getTime() - a.getTime())[0] as Date;
    problems.push({
      severity: 'error',
      title: `${idp}'s signing certificate expired on ${day(last)}.`,
      fix: `Sign-ins will fail until ${idp} signs with a valid certificate. Create or activate a new signing certificate in ${idp}, then upload its new metadata here (a metadata URL is re-read by itself).`,
    });
  } else {
    const soonest = live.map((c) => new Date(c.validTo)).sort((a, b) => b.getTime() - a.getTime())[0];
    if (soonest && soonest.getTime() - now.getTime() < WARN_EXPIRY_DAYS * DAY_MS) {
      const days = Math.ceil((soonest.getTime() - now.getTime()) / DAY_MS);
      problems.push({
        severity: 'warning',
        title: `${idp}'s signing certificate expires in ${days} day${days === 1 ? '' : 's'} (${day(soonest)}).`,
        fix: `Before then, create a new signing certificate in ${idp} and give us its metadata again, or use a metadata URL so that the new certificate is picked up by itself.`,
      });
    }
  }
  return problems;
}

export async function diagnoseConnection(deps: PortalDeps, c: ConnectionRecord): Promise<Problem[]> {
  const idp = guideForType(c.connectionType)?.name ?? 'Your identity provider';
  const now = deps.now();
  const config = c.config as {
    idpCertificates?: string[];
    idpSsoUrl?: string;
    metadataUrl?: string;
    metadataFetchedAt?: string;
  };
  const problems: Problem[] = [];
  if (Array.isArray(config.idpCertificates))
    problems.push(...certificateProblems(config.idpCertificates, idp, now));
  if (config.metadataUrl && config.metadataFetchedAt) {
    const age = now.getTime() - Date.parse(config.metadataFetchedAt);
    if (age > 2 * DAY_MS) {
      problems.push({
        severity: 'warning',
        title: `The metadata URL has not been read since ${config.metadataFetchedAt.slice(0, 10)}.`,
        fix: `Gatehouse re-reads it every few hours; it could not since then. Check that the URL still works in a browser, or upload the metadata file instead.`,
      });
    }
  }
  // Can a sign-in start? (For OIDC this reads the discovery document, as /sso/authorize does.)
  const opened = openConnector(c, deps.management.secretBox, deps.flow.connectorDeps);
  if (opened) {
    try {
      await opened.connector.startLogin({
        state: 'doctor.check',
        callbackUrl: callbackUrl(deps.publicUrl, opened.definition, c),
        loginHint: undefined,
        domainHint: undefined,
        providerScopes: [],
        providerQueryParams: {},
        secret: (label) => deps.management.secretBox.derive(label, 'doctor.check'),
      });
    } catch (err) {
      const code = isBrokerError(err) ? err.code : 'internal';
      problems.push(
        explainFailure(
          code,
          isBrokerError(err) && typeof err.detail === 'object' ? err.detail : {},
          null,
          c,
          deps,
        ),
      );
    }
  }
  // The last sign-in through this connection, if it failed.
  const last = (await deps.store.listSessions({ connectionId: c.id }, { limit: 1, order: 'desc' })).data[0];
  if (last && last.outcome === 'failed' && last.reason) {
    const explained = explainFailure(last.reason, last.detail ?? {}, last.upstreamError ?? null, c, deps);
    problems.push({ ...explained, title: `The last sign-in failed: ${explained.title}` });
  }
  return problems;
}

/**
 * Why a sign-in failed, for the IT admin: what is wrong and what to change, with the expected and received values
 * the session log holds (audience, issuer, recipient, certificates, clock).
 */
export function explainFailure(
  reason: string,
  detail: Record<string, unknown>,
  upstream: Record<string, unknown> | null,
  c: ConnectionRecord,
  deps: PortalDeps,
): Problem {
  const idp = guideForType(c.connectionType)?.name ?? 'your identity provider';
  const received = (v: unknown) => (Array.isArray(v) ? v.join(', ') : v == null ? 'nothing' : String(v));
  const opened = openConnector(c, deps.management.secretBox, deps.flow.connectorDeps);
  const acs = opened ? callbackUrl(deps.publicUrl, opened.definition, c) : '';
  const error = (title: string, fix: string): Problem => ({ severity: 'error', title, fix });
  switch (reason) {
    case 'saml_audience_mismatch':
      return error(
        `${idp} sent the audience "${received(detail.received)}", not this connection's entity ID.`,
        `In ${idp}, set the Audience URI (SP entity ID) to ${String(detail.expected ?? acs.replace('/sso/saml/acs/', '/sso/saml/sp/'))}.`,
      );
    case 'saml_recipient_mismatch':
      return error(
        `${idp} sent the response for ${received(detail.received)}, not this connection's ACS URL.`,
        `In ${idp}, set the single sign-on (ACS) URL, and the recipient and destination, to ${String(detail.expected ?? acs)}.`,
      );
    case 'saml_issuer_mismatch':
      return error(
        `Entity ID mismatch: ${idp} says it is "${received(detail.received)}", but the saved entity ID is "${received(detail.expected)}".`,
        `Upload the metadata of the application you configured in ${idp} again (or correct the entity ID by hand).`,
      );
    case 'saml_signature_invalid':
      return error(
        `The response was not signed with the certificate saved here.`,
        `Upload ${idp}'s current metadata again, so that its current signing certificate is saved. Make sure ${idp} signs the assertion or the response. Certificates seen: ${received(detail.received_certificates)}; saved: ${received(detail.expected_certificates)}.`,
      );
    case 'saml_sha1_not_allowed':
      return error(
        `${idp} signs with SHA-1, which is no longer safe.`,
        `In ${idp}, set the signature algorithm to RSA-SHA256.`,
      );
    case 'saml_expired':
    case 'saml_not_yet_valid':
      return error(
        `The response was ${reason === 'saml_expired' ? 'already expired' : 'not yet valid'} when it arrived (Gatehouse's time ${received(detail.now)}).`,
        `The clocks of ${idp} and Gatehouse differ by more than the allowed skew, or the sign-in took too long. Check ${idp}'s server time and try again.`,
      );
    case 'saml_decrypt_failed':
      return error(
        `The encrypted assertion could not be decrypted.`,
        `Turn assertion encryption off in ${idp}, or use the encryption certificate from this connection's service provider metadata.`,
      );
    case 'saml_malformed':
    case 'saml_assertion_missing':
      return error(
        `${idp}'s response could not be read.`,
        `Check that ${idp} sends a SAML 2.0 response with one signed assertion to the ACS URL ${acs}.`,
      );
    case 'upstream_wrong_account':
    case 'upstream_user_not_assigned':
    case 'upstream_policy_denied':
    case 'upstream_access_denied':
    case 'upstream_authn_failed':
      return error(
        `${idp} refused the sign-in${upstream?.status_message || upstream?.error_description ? `: "${String(upstream.status_message ?? upstream.error_description).slice(0, 200)}"` : ''}.`,
        `Make sure the user is assigned to the application in ${idp}, and that no access policy blocks them.`,
      );
    case 'upstream_unavailable':
      return error(
        `${idp} could not be reached.`,
        'Check the issuer URL or metadata URL saved here: it must be reachable from the internet over https.',
      );
    case 'upstream_misconfigured':
      return error(
        `${idp}'s configuration could not be read.`,
        `Check the issuer URL: ${idp} must serve its OpenID configuration at <issuer>/.well-known/openid-configuration, with the same issuer.`,
      );
    case 'upstream_client_rejected':
    case 'code_exchange_failed':
      return error(
        `${idp} did not accept the client ID and secret.`,
        `Copy the client ID and client secret from ${idp} again and save them here.`,
      );
    case 'upstream_config_rejected':
    case 'upstream_request_rejected':
      return error(
        `${idp} rejected the sign-in request${upstream?.error_description ? `: "${String(upstream.error_description).slice(0, 200)}"` : ''}.`,
        `Check in ${idp} that the redirect URI (or ACS URL) registered there is exactly the one shown on this page.`,
      );
    case 'id_token_invalid':
    case 'nonce_mismatch':
      return error(
        `${idp}'s ID token could not be verified.`,
        `Check that the issuer URL saved here is ${idp}'s own, and that the application signs ID tokens with RS256 or ES256.`,
      );
    case 'profile_incomplete':
      return error(
        `${idp} did not send the user's email address.`,
        `Send the email address (SAML attribute "email", or the OIDC claim "email" with the email scope).`,
      );
    case 'email_domain_not_allowed':
      return error(
        "The user's email domain is not one of your organization's verified domains.",
        'Sign in with an account of a verified domain, or ask the application to add the domain.',
      );
    case 'transaction_expired':
      return error(
        'The sign-in took too long.',
        'Start the test sign-in again and finish it within 10 minutes.',
      );
    default:
      return error(
        `The sign-in failed (${reason}).`,
        `Check the values entered in ${idp} against the ones shown on this page, then test again.`,
      );
  }
}
