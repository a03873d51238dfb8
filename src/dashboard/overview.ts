import { connectorFor, supportedConnectionTypes } from '../connectors/registry.ts';
import { explain } from '../errors/explanations.ts';
import { latestIdpCertificate } from '../events/certificates.ts';
import type { ConnectionStats, SignInHour } from '../storage/store.ts';
import {
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  page,
} from './dashboard.ts';

/**
 * The overview (`/dashboard/overview`, where `/dashboard/` leads): sign-ins per hour over the last 24 hours as a
 * chart (an SVG drawn here, with a title, a description and the same numbers as a table), the reasons of the last
 * 7 days' failures ranked with their explanation, and the connections that need attention: failing (at least half
 * of their sign-ins in the last 24 hours failed), their IdP certificate expiring within 90 days (or expired), or
 * validating for more than 7 days without a successful sign-in.
 *
 * The counts come from one store call (`signInSummary`), aggregated by the database over an index, never by
 * reading the session log here.
 */

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** Reasons and failing connections shown. */
const TOP = 10;
/** A certificate expiring sooner than this needs attention (the renewal events' first threshold). */
const CERTIFICATE_WARNING_DAYS = 90;
/** A connection still validating (no successful sign-in) this long after its last change needs attention. */
const VALIDATING_DAYS = 7;
/** Connections of one kind listed at most (the rest are counted). */
const ATTENTION_MAX = 20;

const AUDIENCES: Record<string, string> = {
  end_user: 'The user',
  it_admin: 'The customer’s IT admin',
  app_developer: 'Your app’s developers',
  operator: 'You (the operator)',
};

// ---- the chart ----

const CHART = { width: 760, height: 220, left: 44, right: 8, top: 12, bottom: 28 };

/** The smallest of 1, 2, 5 × 10^k at or above `n` (at least 1): the chart's top. */
export function niceMax(n: number): number {
  if (n <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= n) return step * magnitude;
  return 10 * magnitude;
}

function hourLabel(d: Date): string {
  return `${d.toISOString().slice(11, 13)}:00`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The bars, grid and labels of the chart (numbers only: the template draws them). */
export function chartOf(hours: SignInHour[]) {
  const { width, height, left, right, top, bottom } = CHART;
  const plotHeight = height - top - bottom;
  const slot = (width - left - right) / Math.max(hours.length, 1);
  const barWidth = Math.max(Math.floor((slot - 6) / 2), 1);
  const max = niceMax(Math.max(0, ...hours.flatMap((h) => [h.succeeded, h.failed])));
  const y = (n: number) => top + plotHeight - (n / max) * plotHeight;
  const bars = hours.flatMap((h, i) => {
    const x = left + i * slot + 3;
    const range = `${hourLabel(h.hour)}–${hourLabel(new Date(h.hour.getTime() + HOUR_MS))} UTC`;
    return [
      { kind: 'ok', value: h.succeeded, x, label: `${range}: ${h.succeeded} succeeded` },
      { kind: 'bad', value: h.failed, x: x + barWidth, label: `${range}: ${h.failed} failed` },
    ]
      .filter((b) => b.value > 0)
      .map((b) => ({
        ...b,
        x: b.x.toFixed(1),
        y: y(b.value).toFixed(1),
        width: barWidth,
        height: (top + plotHeight - y(b.value)).toFixed(1),
      }));
  });
  return {
    width,
    height,
    bars,
    grid: [0, max / 2, max]
      .filter((v, i) => i !== 1 || Number.isInteger(v))
      .map((v) => ({ y: y(v).toFixed(1), label: String(v), x1: left, x2: width - right })),
    labels: hours.flatMap((h, i) =>
      i % 3 === 0
        ? [{ x: (left + i * slot + slot / 2).toFixed(1), y: height - 8, text: hourLabel(h.hour) }]
        : [],
    ),
  };
}

// ---- connections needing attention ----

interface Attention {
  id: string;
  name: string;
  kind: 'failing' | 'certificate' | 'validating';
  why: string;
  level: 'bad' | 'warn';
  link: string;
  linkText: string;
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The failing connections: of those with the most failures in the last 24 hours, the ones where at least half failed. */
async function failing(
  deps: DashboardDeps,
  failed: { connectionId: string; failed: number }[],
  now: number,
): Promise<Attention[]> {
  if (failed.length === 0) return [];
  const ids = failed.map((f) => f.connectionId);
  const [stats, connections] = await Promise.all([
    deps.store.connectionStats(ids, new Date(now - DAY_MS), new Date(now - 7 * DAY_MS)),
    Promise.all(ids.map((id) => deps.store.getConnection(id))),
  ]);
  return connections.flatMap((c) => {
    const s: ConnectionStats | undefined = c ? stats.get(c.id) : undefined;
    if (!c || !s || s.failed24h === 0 || s.failed24h * 2 < s.total24h) return [];
    const last = s.lastSucceededAt
      ? `last success ${s.lastSucceededAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`
      : 'no success yet';
    return [
      {
        id: c.id,
        name: c.name,
        kind: 'failing' as const,
        why: `${s.failed24h} of ${plural(s.total24h, 'sign-in')} failed in the last 24 hours; ${last}.`,
        level: 'bad' as const,
        link: `${dashboardPath(deps, 'sessions')}?${new URLSearchParams({ connection_id: c.id, outcome: 'failed' })}`,
        linkText: 'Failed sign-ins',
      },
    ];
  });
}

interface Expiring {
  id: string;
  name: string;
  notAfter: Date;
}

/** Reads every live SAML connection, a page at a time: those whose latest IdP certificate expires within 90 days. */
async function scanCertificates(deps: DashboardDeps, now: number): Promise<Expiring[]> {
  const found: Expiring[] = [];
  for (const connectionType of supportedConnectionTypes().filter(
    (t) => connectorFor(t)?.protocol === 'saml',
  )) {
    let after: string | undefined;
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await deps.store.listConnections({ connectionType }, { limit: 100, order: 'asc', after });
      for (const c of page.data) {
        if (c.state !== 'active' && c.state !== 'validating') continue;
        const cert = latestIdpCertificate(c);
        if (cert && cert.notAfter.getTime() - now < CERTIFICATE_WARNING_DAYS * DAY_MS) {
          found.push({ id: c.id, name: c.name, notAfter: cert.notAfter });
        }
      }
      if (!page.after) break;
      after = page.after;
    }
  }
  return found.sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
}

/**
 * The expiring certificates, as this node last read them. A certificate's expiry is inside its connection's options
 * (opaque to the store, no index), so finding them reads every SAML connection: with 10 000 of them, 200-360 ms,
 * too much for every view of the page. Each node keeps the list for 5 minutes (the maintenance checks certificates
 * as often) and reads it again at once after a configuration write on this node (the config cache's generation);
 * a write on another node shows within 5 minutes. Past 5 minutes the page shows the list it has while a fresh one
 * is read.
 */
const CERTIFICATES_TTL_MS = 5 * 60 * 1000;

interface CertificateList {
  generation: number;
  checkedAt: number;
  list: Promise<Expiring[]>;
  refreshing: boolean;
}

const certificateLists = new WeakMap<object, CertificateList>();

async function expiringCertificates(
  deps: DashboardDeps,
  now: number,
): Promise<{ list: Expiring[]; checkedAt: number }> {
  const key = deps.flow.config;
  const generation = key.generation;
  let entry = certificateLists.get(key);
  if (!entry || entry.generation !== generation) {
    entry = { generation, checkedAt: now, list: scanCertificates(deps, now), refreshing: false };
    certificateLists.set(key, entry);
  } else if (now - entry.checkedAt >= CERTIFICATES_TTL_MS && !entry.refreshing) {
    const current = entry;
    current.refreshing = true;
    scanCertificates(deps, now).then(
      (list) => {
        if (certificateLists.get(key) === current) {
          certificateLists.set(key, {
            generation,
            checkedAt: now,
            list: Promise.resolve(list),
            refreshing: false,
          });
        }
      },
      () => {
        current.refreshing = false;
      },
    );
  }
  const mine = entry;
  try {
    return { list: await mine.list, checkedAt: mine.checkedAt };
  } catch (err) {
    // A failed read is not kept.
    if (certificateLists.get(key) === mine) certificateLists.delete(key);
    throw err;
  }
}

/** Live SAML connections whose latest-expiring IdP certificate expires within 90 days (or has expired), soonest first. */
async function expiring(
  deps: DashboardDeps,
  now: number,
): Promise<{ list: Attention[]; more: number; checkedAt: number }> {
  const { list: found, checkedAt } = await expiringCertificates(deps, now);
  const list = found.slice(0, ATTENTION_MAX).map(({ id, name, notAfter }) => {
    const days = Math.ceil((notAfter.getTime() - now) / DAY_MS);
    return {
      id,
      name,
      kind: 'certificate' as const,
      why:
        days <= 0
          ? `Its identity provider’s signing certificate expired on ${day(notAfter)}: sign-ins fail until the IT admin gives the new one.`
          : `Its identity provider’s signing certificate expires on ${day(notAfter)} (in ${plural(days, 'day')}): the IT admin must renew it and give Gatehouse the new one.`,
      level: days <= 30 ? ('bad' as const) : ('warn' as const),
      link: dashboardPath(deps, `connections/${encodeURIComponent(id)}`),
      linkText: 'Open',
    };
  });
  return { list, more: found.length - list.length, checkedAt };
}

/** Connections still validating (no successful sign-in) a week after their last change; one page of the oldest. */
async function stuck(deps: DashboardDeps, now: number): Promise<{ list: Attention[]; more: boolean }> {
  const page = await deps.store.listConnections({ state: 'validating' }, { limit: 100, order: 'asc' });
  const old = page.data.filter((c) => now - c.updatedAt.getTime() > VALIDATING_DAYS * DAY_MS);
  const list = old.slice(0, ATTENTION_MAX).map((c) => ({
    id: c.id,
    name: c.name,
    kind: 'validating' as const,
    why: `Validating since ${day(c.updatedAt)}: set up, but no one has signed in through it yet. Run a test sign-in, or ask the IT admin.`,
    level: 'warn' as const,
    link: dashboardPath(deps, `connections/${encodeURIComponent(c.id)}`),
    linkText: 'Open',
  }));
  return { list, more: old.length > list.length || page.after !== null };
}

/** `GET /dashboard/overview`. */
export async function overview(deps: DashboardDeps, ctx: DashboardContext): Promise<DashboardResult> {
  const now = deps.now().getTime();
  const since = Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const summary = await deps.store.signInSummary({
    since: new Date(since),
    reasonsSince: new Date(now - 7 * DAY_MS),
    until: new Date(now),
    limit: TOP,
  });
  const [failingList, certificates, validating] = await Promise.all([
    failing(deps, summary.failingConnections, now),
    expiring(deps, now),
    stuck(deps, now),
  ]);
  const totals = summary.hours.reduce(
    (t, h) => ({
      succeeded: t.succeeded + h.succeeded,
      failed: t.failed + h.failed,
      timedOut: t.timedOut + h.timedOut,
    }),
    { succeeded: 0, failed: 0, timedOut: 0 },
  );
  const busiest = summary.hours.reduce<SignInHour | null>(
    (b, h) => (!b || h.succeeded + h.failed > b.succeeded + b.failed ? h : b),
    null,
  );
  const first = summary.hours[0];
  const last = summary.hours.at(-1);
  return page(
    deps,
    'overview',
    {
      title: 'Overview',
      chart: chartOf(summary.hours),
      chartTitle: 'Sign-ins per hour, last 24 hours (UTC)',
      chartDesc:
        totals.succeeded + totals.failed + totals.timedOut === 0
          ? 'No sign-in in the last 24 hours.'
          : `Two bars per hour, from ${first ? hourLabel(first.hour) : ''} to ${last ? hourLabel(last.hour) : ''} UTC: sign-ins that succeeded and sign-ins that failed. In all: ${totals.succeeded} succeeded, ${totals.failed} failed, ${totals.timedOut} timed out.${busiest && busiest.succeeded + busiest.failed > 0 ? ` Busiest hour: ${hourLabel(busiest.hour)} UTC (${busiest.succeeded} succeeded, ${busiest.failed} failed).` : ''} The table below has every hour’s numbers.`,
      totals,
      rows: summary.hours.map((h) => ({
        hour: `${h.hour.toISOString().slice(0, 10)} ${hourLabel(h.hour)}`,
        succeeded: h.succeeded,
        failed: h.failed,
        timedOut: h.timedOut,
      })),
      reasons: summary.reasons.map((r) => {
        const why = explain(r.reason);
        return {
          reason: r.reason ?? 'none recorded',
          count: r.count,
          audience: AUDIENCES[why.audience] ?? why.audience,
          explanation: why.explanation,
        };
      }),
      failedLink: `${dashboardPath(deps, 'sessions')}?outcome=failed`,
      attention: [...failingList, ...certificates.list, ...validating.list],
      moreCertificates: certificates.more,
      certificatesChecked: `${new Date(certificates.checkedAt).toISOString().slice(11, 16)} UTC`,
      moreValidating: validating.more ? `${dashboardPath(deps, 'connections')}?state=validating` : null,
    },
    { context: ctx, requestId: ctx.requestId, current: 'overview' },
  );
}
