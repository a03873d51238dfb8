import { X509Certificate } from 'node:crypto';
import { isBrokerError } from '../errors/broker-error.ts';
import { explain } from '../errors/explanations.ts';
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

export async function diagnoseConnection(
  deps: Pick<PortalDeps, 'store' | 'management' | 'flow' | 'publicUrl' | 'now'>,
  c: ConnectionRecord,
): Promise<Problem[]> {
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
        explainFailure(code, isBrokerError(err) && typeof err.detail === 'object' ? err.detail : {}, null, c),
      );
    }
  }
  // The last sign-in through this connection, if it failed.
  const last = (await deps.store.listSessions({ connectionId: c.id }, { limit: 1, order: 'desc' })).data[0];
  if (last && last.outcome === 'failed' && last.reason) {
    const explained = explainFailure(last.reason, last.detail ?? {}, last.upstreamError ?? null, c);
    problems.push({ ...explained, title: `The last sign-in failed: ${explained.title}` });
  }
  return problems;
}

/**
 * Why a sign-in failed, for the IT admin: the explanation and fix of the one explanations table
 * (src/errors/explanations.ts), with the expected and received values the session log holds.
 */
export function explainFailure(
  reason: string,
  detail: Record<string, unknown>,
  upstream: Record<string, unknown> | null,
  c: ConnectionRecord,
): Problem {
  const e = explain(reason, upstream, detail, c.connectionType);
  return { severity: e.retryable ? 'warning' : 'error', title: e.explanation, fix: e.fix };
}
