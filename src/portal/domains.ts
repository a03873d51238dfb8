import { isBrokerError } from '../errors/broker-error.ts';
import {
  createOrganizationDomain,
  type DnsFailure,
  type TxtCheck,
  VERIFICATION_PREFIX,
  verificationRecord,
  verifyDomain,
} from '../management/organizations.ts';
import type { DomainState, OrganizationDomainRecord } from '../storage/store.ts';
import {
  basePath,
  messagePage,
  type PortalContext,
  type PortalDeps,
  type PortalResult,
  page,
  type Step,
} from './portal.ts';

/**
 * The `domain_verification` intent: the admin adds a domain, publishes the DNS TXT record the page shows, and has
 * Gatehouse check it. Domains are created and verified through the management API's own functions
 * (`createOrganizationDomain`, `verifyDomain`: same validation, same record, same states), so a domain verified
 * here counts for the domain policy exactly as one verified through `POST /organization_domains/{id}/verify`.
 */

const STATE_LABELS: Record<DomainState, string> = {
  verified: 'Verified',
  pending: 'Not verified yet',
  failed: 'Not verified yet',
};

/** The badge style of each state (the portal's stylesheet: green, amber, neutral). */
const STATE_BADGES: Record<DomainState, string> = { verified: 'active', pending: 'validating', failed: '' };

/** Longest TXT value shown back to the admin, and how many values at most. */
const SHOWN_VALUE_CHARS = 200;
const SHOWN_VALUES = 5;

function steps(current: number): Step[] {
  return ['Add your domain', 'Add the DNS record', 'Verify'].map((label, i) => ({
    label,
    state: i < current ? 'done' : i === current ? 'current' : 'todo',
  }));
}

function domainsPath(deps: PortalDeps, id?: string): string {
  return `${basePath(deps.publicUrl)}/portal/domains${id ? `/${encodeURIComponent(id)}` : ''}`;
}

/** This session's intent is domain verification; a link for single sign-on does not open these pages. */
function wrongIntent(deps: PortalDeps, ctx: PortalContext): PortalResult | null {
  if (ctx.session.intent === 'domain_verification') return null;
  return messagePage(
    deps,
    403,
    'This setup link is not for domain verification',
    'The link you opened sets up single sign-on. Ask the application for a domain verification link.',
    ctx.requestId,
    { code: 'portal_intent_mismatch', context: ctx },
  );
}

/** The domain `id` if it belongs to this session's organization; else null (a tampered ID shows nothing). */
async function ownDomain(
  deps: PortalDeps,
  ctx: PortalContext,
  id: string,
): Promise<OrganizationDomainRecord | null> {
  if (id.length > 64) return null;
  const d = await deps.store.getDomain(id);
  return d && d.organizationId === ctx.session.organizationId ? d : null;
}

function notFound(deps: PortalDeps, ctx: PortalContext): PortalResult {
  return messagePage(
    deps,
    404,
    'Domain not found',
    'Your organization has no such domain. Go back to the list of domains and choose it from there.',
    ctx.requestId,
    { code: 'portal_domain_not_found', context: ctx },
  );
}

/** `GET /portal/domains`: the organization's domains and their state; a form to add one. */
export async function domainsHome(
  deps: PortalDeps,
  ctx: PortalContext,
  options: { error?: string; domain?: string; status?: number } = {},
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const domains = await deps.store.listDomains([ctx.session.organizationId]);
  return page(
    deps,
    'domains',
    {
      title: 'Verify your domains',
      organizationName: ctx.organizationName,
      domains: domains.map((d) => ({
        id: d.id,
        domain: d.domain,
        state: d.state,
        badge: STATE_BADGES[d.state],
        stateLabel: STATE_LABELS[d.state],
      })),
      error: options.error ?? null,
      domain: options.domain ?? '',
      successUrl: domains.some((d) => d.state === 'verified') ? ctx.session.successUrl : null,
    },
    { context: ctx, requestId: ctx.requestId, steps: steps(0), status: options.status ?? 200 },
  );
}

/** A management API validation message about `domain` as a sentence for the admin. */
function domainError(code: string): string {
  const message = code.replace(/^domain\s+/, '');
  const sentence = message.startsWith('"') ? message : `The domain ${message}`;
  return `${sentence.replace(/\.?$/, '.')} Enter your organization’s domain name, such as example.com.`;
}

/** `POST /portal/domains` (`domain`): adds the domain as pending DNS verification (`POST /organization_domains`). */
export async function addDomain(
  deps: PortalDeps,
  ctx: PortalContext,
  raw: string | undefined,
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const typed = (raw ?? '').trim();
  if (!typed) {
    return domainsHome(deps, ctx, {
      error: 'Enter your organization’s domain name, such as example.com.',
      status: 422,
    });
  }
  let created: { id: string };
  try {
    created = await createOrganizationDomain(deps.management, {
      organization_id: ctx.session.organizationId,
      domain: typed,
    });
  } catch (err) {
    if (isBrokerError(err) && err.code === 'validation_failed' && err.fields) {
      const messages = err.fields.filter((f) => f.field === 'domain').map((f) => domainError(f.code));
      if (messages.length) {
        return domainsHome(deps, ctx, { error: messages.join(' '), domain: typed, status: 422 });
      }
    }
    if (isBrokerError(err) && err.code === 'domain_exists') {
      return domainsHome(deps, ctx, {
        error: 'Your organization already has this domain: open it in the list above.',
        domain: typed,
        status: 409,
      });
    }
    throw err;
  } finally {
    deps.management.onConfigChange();
  }
  return { kind: 'redirect', location: domainsPath(deps, created.id), session: ctx.session };
}

interface CheckResult {
  kind: 'ok' | 'bad';
  title: string;
  text: string[];
  values: string[];
}

const DNS_FAILURE_WORDS: Record<DnsFailure, string> = {
  'timed out': 'The DNS lookup got no answer in time.',
  unreachable: 'Gatehouse could not reach its DNS server.',
  'server failure':
    'The DNS servers of your domain did not give a valid answer (SERVFAIL). A DNSSEC problem or DNS servers that are down are the usual causes.',
  refused: 'The DNS server refused the lookup.',
  failed: 'The DNS lookup failed.',
};

/** What a check found, in the admin's words. */
function explain(d: OrganizationDomainRecord, check: TxtCheck): CheckResult {
  const name = verificationRecord(d).name;
  switch (check.outcome) {
    case 'found':
      return {
        kind: 'ok',
        title: `${d.domain} is verified.`,
        text: ['The TXT record was found. You may keep it or delete it: the domain stays verified.'],
        values: [],
      };
    case 'no_record':
      return {
        kind: 'bad',
        title: `Not verified: no TXT record was found at ${name}.`,
        text: [
          'Check that the record is saved at your DNS provider under exactly the host name shown, with the type TXT. A new record can take a few minutes to appear: then check again.',
        ],
        values: [],
      };
    case 'other_values':
      return {
        kind: 'bad',
        title: `Not verified: the TXT record at ${name} does not have the expected value.`,
        text: [
          'It holds the value(s) below. Change the record to exactly the value shown on this page (without added quotes or spaces), or add a second TXT record with it, then check again.',
        ],
        values: check.values
          .slice(0, SHOWN_VALUES)
          .map((v) => (v.length > SHOWN_VALUE_CHARS ? `${v.slice(0, SHOWN_VALUE_CHARS)}…` : v)),
      };
    case 'dns_error':
      return {
        kind: 'bad',
        title: `Not verified: ${DNS_FAILURE_WORDS[check.reason]}`,
        text: [
          'This is usually temporary: check again in a minute. If it keeps failing, tell the application’s team.',
        ],
        values: [],
      };
  }
}

/** `GET /portal/domains/:id`: the TXT record to publish, its state, and the button that checks it. */
export async function domainPage(
  deps: PortalDeps,
  ctx: PortalContext,
  id: string,
  options: { result?: CheckResult; status?: number } = {},
): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const d = await ownDomain(deps, ctx, id);
  if (!d) return notFound(deps, ctx);
  const record = d.verificationToken ? verificationRecord(d) : null;
  return page(
    deps,
    'domain',
    {
      title: `Verify ${d.domain}`,
      domain: { id: d.id, domain: d.domain, state: d.state },
      badge: STATE_BADGES[d.state],
      stateLabel: STATE_LABELS[d.state],
      record,
      prefix: VERIFICATION_PREFIX,
      result: options.result ?? null,
      lastFailed: !options.result && d.state === 'failed',
      successUrl: d.state === 'verified' ? ctx.session.successUrl : null,
    },
    {
      context: ctx,
      requestId: ctx.requestId,
      steps: steps(d.state === 'verified' ? 3 : 1),
      status: options.status ?? 200,
    },
  );
}

/**
 * `POST /portal/domains/:id/verify`: the same check as `POST /organization_domains/{id}/verify`, through
 * `PortalDeps.resolveTxt` (GATEHOUSE_DNS_SERVERS), and what it found.
 */
export async function verify(deps: PortalDeps, ctx: PortalContext, id: string): Promise<PortalResult> {
  const refused = wrongIntent(deps, ctx);
  if (refused) return refused;
  const d = await ownDomain(deps, ctx, id);
  if (!d) return notFound(deps, ctx);
  if (d.state === 'verified' || !d.verificationToken) return domainPage(deps, ctx, id);
  let check: TxtCheck | null;
  try {
    ({ check } = await verifyDomain(deps.management, d, deps.resolveTxt));
  } catch (err) {
    if (isBrokerError(err) && err.code === 'domain_taken') {
      return domainPage(deps, ctx, id, {
        result: {
          kind: 'bad',
          title: `Not verified: ${d.domain} is already verified by another organization.`,
          text: [
            'A domain belongs to one organization only. If it should be yours, tell the application’s team.',
          ],
          values: [],
        },
        status: 409,
      });
    }
    throw err;
  } finally {
    deps.management.onConfigChange();
  }
  return domainPage(deps, ctx, id, check ? { result: explain(d, check) } : {});
}
