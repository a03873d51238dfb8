import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as samlify from 'samlify';
import { generateSpKeyPair } from '../src/connectors/saml/keys.ts';
import { type Answer, expectStatus, send } from './browser.ts';
import {
  BenchError,
  type BenchSettings,
  benchSettings,
  type ChildServer,
  choice,
  describeErrors,
  freePort,
  gitRevision,
  HOST,
  type LoadSpec,
  type LoopMeasurement,
  type Measurement,
  makeTempDir,
  measure,
  measureLoop,
  median,
  pinServersToOneCore,
  processRssMb,
  REPO_ROOT,
  StepFailure,
  startBaselineServer,
  startGatehouse,
  wholeNumber,
} from './lib.ts';
import { ensureJackson, JACKSON_VERSION } from './peers/install.ts';
import { JACKSON_ACS_PATH, JacksonApp, startJackson } from './peers/jackson.ts';
import {
  AcsChecker,
  AcsPool,
  type AcsPost,
  acsHeaders,
  acsRequests,
  atIdp,
  createSamlConnection,
  type IdpChild,
  makePosts,
  NAMEID_EMAIL,
  NO_POST,
  SamlApp,
  startIdpChild,
} from './saml-idp.ts';
import { type SdkRequests, USER_DOMAIN, userFor } from './sso-flow.ts';
import { seedConnections } from './store-seed.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);

const SCENARIOS = [
  'authorize',
  'acs',
  'token',
  'profile',
  'login',
  'latency',
  'cold-start',
  'store',
  'memory',
] as const;
type Scenario = (typeof SCENARIOS)[number];
const DEFAULT_SCENARIOS: Scenario[] = [
  'authorize',
  'acs',
  'token',
  'profile',
  'login',
  'latency',
  'cold-start',
  'memory',
];
type System = 'floor' | 'gatehouse' | 'jackson';
const SYSTEMS: System[] = ['floor', 'gatehouse', 'jackson'];
const SYSTEM_NAME: Record<System, string> = {
  floor: 'floor (node:http)',
  gatehouse: 'Gatehouse',
  jackson: `Jackson ${JACKSON_VERSION}`,
};
/** The issue's targets. */
const TARGET_P99_HALF_RATE_MS = 10;
const TARGET_COLD_START_MS = 1000;
const TARGET_STORE_SPREAD = 0.1;
const TARGET_RSS_MB = 150;

/** The memory scenario: Gatehouse's RSS every second under authorize load, then over whole logins. */
interface MemoryResult {
  startMb: number | null;
  authorizeSeconds: number;
  authorizeRate: number;
  authorizeCurve: number[];
  logins: number;
  loginSeconds: number;
  loginFailures: number;
  loginCurve: number[];
  endMb: number | null;
}

/** One cell of the table: a system in a scenario. */
interface Row {
  scenario: string;
  system: System;
  /** req/s, or logins/s for the login. */
  rate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Server CPU per request (or per login), ms. */
  cpuMs: number | null;
  rssMb: number | null;
  errors: number;
  otherCpuPercent: number | null;
  note?: string;
}

export function selectedScenarios(): Set<Scenario> {
  const raw = process.env.BENCH_SCENARIOS?.trim();
  if (!raw) return new Set(DEFAULT_SCENARIOS);
  const out = new Set<Scenario>();
  for (const part of raw.split(',').map((s) => s.trim())) {
    if (part === 'all') for (const s of SCENARIOS) out.add(s);
    else if ((SCENARIOS as readonly string[]).includes(part)) out.add(part as Scenario);
    else if (part)
      throw new BenchError(`BENCH_SCENARIOS: unknown scenario "${part}" (${SCENARIOS.join(', ')}, all)`);
  }
  // The token scenario redeems the ACS scenario's codes.
  if (out.has('token')) out.add('acs');
  return out;
}

function rowOf(scenario: string, system: System, m: Measurement): Row {
  const requests = m.ok + Object.values(m.unexpected).reduce((a, b) => a + b, 0);
  const cpuSeconds = m.serverCpuPercent === null ? null : (m.serverCpuPercent / 100) * m.durationSec;
  return {
    scenario,
    system,
    rate: m.reqPerSec,
    p50Ms: m.p50Ms,
    p99Ms: m.p99Ms,
    cpuMs: cpuSeconds === null || requests === 0 ? null : (1000 * cpuSeconds) / requests,
    rssMb: m.serverRssMb,
    errors: m.errors,
    otherCpuPercent: m.otherCpuPercent,
  };
}

function loopRow(scenario: string, system: System, m: LoopMeasurement, pid: number): Row {
  const seconds = m.cpu.seconds.server ?? null;
  return {
    scenario,
    system,
    rate: m.perSec,
    p50Ms: m.p50Ms,
    p99Ms: m.p99Ms,
    cpuMs: seconds === null || m.completed === 0 ? null : (1000 * seconds) / m.completed,
    rssMb: processRssMb(pid),
    errors: m.failureCount + m.warmupFailures,
    otherCpuPercent: m.cpu.otherSeconds === null ? null : (100 * m.cpu.otherSeconds) / m.cpu.elapsedSec,
  };
}

/** A pool of codes (or anything single-use) handed out in order; `empty` once past its end. */
class Pool<T> {
  readonly items: T[];
  readonly empty: T;
  #next = 0;
  exhausted = 0;
  constructor(items: T[], empty: T) {
    this.items = items;
    this.empty = empty;
  }
  take(): T {
    const item = this.items[this.#next++];
    if (item === undefined) {
      this.exhausted++;
      return this.empty;
    }
    return item;
  }
}

/** What a system under test is to the scenarios. */
interface Subject {
  system: 'gatehouse' | 'jackson';
  server: ChildServer;
  authorizePath: string;
  acsPath: string;
  /** The ACS's redirect status: Gatehouse 303, Jackson 302. */
  acsStatus: number;
  tokenPath: string;
  profilePath: string;
  startLogin(state: string): Promise<{ upstream: URL; cookie: string }>;
  tokenHeaders(): Record<string, string>;
  tokenBody(code: string): string;
  profileHeaders(accessToken: string): Record<string, string>;
  /** POST /token with `code`: the access token (and the raw answer). */
  redeem(code: string): Promise<{ accessToken: string; answer: Answer }>;
}

function accessTokenOf(step: string, answer: Answer): string {
  expectStatus(step, answer, 200);
  const token = (JSON.parse(answer.text) as { access_token?: unknown }).access_token;
  if (typeof token !== 'string')
    throw new StepFailure(step, 200, `no access_token: ${answer.text.slice(0, 200)}`);
  return token;
}

function gatehouseSubject(app: SamlApp, sdk: SdkRequests): Subject {
  const url = app.authorizeUrl('bench-state-0123456789');
  const subject: Subject = {
    system: 'gatehouse',
    server: app.gatehouse,
    authorizePath: `${url.pathname}${url.search}`,
    acsPath: new URL(app.callbackUrl).pathname,
    acsStatus: 303,
    tokenPath: '/sso/token',
    profilePath: '/sso/profile',
    startLogin: (state) => app.startLogin(state),
    tokenHeaders: () => sdk.tokenHeaders(),
    tokenBody: (code) => sdk.tokenBody(code),
    profileHeaders: (t) => sdk.profileHeaders(t),
    async redeem(code) {
      const answer = await send('token', `${app.gatehouse.url}/sso/token`, {
        method: 'POST',
        headers: sdk.tokenHeaders(),
        body: sdk.tokenBody(code),
      });
      return { accessToken: accessTokenOf('token', answer), answer };
    },
  };
  return subject;
}

function jacksonSubject(app: JacksonApp): Subject {
  return {
    system: 'jackson',
    server: app.jackson,
    authorizePath: app.authorizePath('bench-state-0123456789'),
    acsPath: JACKSON_ACS_PATH,
    acsStatus: 302,
    tokenPath: '/api/oauth/token',
    profilePath: '/api/oauth/userinfo',
    startLogin: (state) => app.startLogin(state),
    tokenHeaders: () => app.tokenHeaders(),
    tokenBody: (code) => app.tokenBody(code),
    profileHeaders: (t) => app.profileHeaders(t),
    async redeem(code) {
      const answer = await send('token', `${app.jackson.url}/api/oauth/token`, {
        method: 'POST',
        headers: app.tokenHeaders(),
        body: app.tokenBody(code),
      });
      return { accessToken: accessTokenOf('token', answer), answer };
    },
  };
}

/**
 * One whole SAML login through `subject` at `origin` (`floorMode`: the bare server, whose answers are models): its
 * own authorize, a response the IdP signed earlier (from `pool`), the code at the token endpoint, the profile.
 */
function loginFlow(
  subject: Subject,
  origin: string,
  pool: Pool<AcsPost>,
  floorMode: boolean,
  idpOrigin: string,
): (n: number) => Promise<void> {
  return async (n) => {
    const authorize = await send(
      'authorize',
      `${origin}${subject.authorizePath.replace('bench-state-0123456789', `login-${n}`)}`,
    );
    expectStatus('authorize', authorize, 302);
    const post = pool.take();
    if (post === NO_POST) throw new StepFailure('pool', null, 'no pre-signed response left');
    const acs = await send('acs', `${origin}${subject.acsPath}`, {
      method: 'POST',
      headers: post.cookie ? { ...acsHeaders(idpOrigin), cookie: post.cookie } : acsHeaders(idpOrigin),
      body: post.body,
    });
    if (floorMode) expectStatus('acs', acs, 303);
    const code = floorMode ? 'x' : codeOf(acs, subject.acsStatus);
    const token = await send('token', `${origin}${subject.tokenPath}`, {
      method: 'POST',
      headers: subject.tokenHeaders(),
      body: subject.tokenBody(code),
    });
    const accessToken = accessTokenOf('token', token);
    const profile = await send('profile', `${origin}${subject.profilePath}`, {
      headers: subject.profileHeaders(accessToken),
    });
    expectStatus('profile', profile, 200);
  };
}

/** RSS of `pid` in MB, every second until stopped: the samples. */
function sampleRss(pid: number): () => number[] {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const mb = processRssMb(pid);
    if (mb !== null) samples.push(Math.round(mb));
  }, 1000);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

/** The code in an ACS answer's Location, or a StepFailure. */
function codeOf(answer: Answer, status: number): string {
  expectStatus('acs', answer, status);
  const code = URL.canParse(answer.location ?? '')
    ? new URL(answer.location as string).searchParams.get('code')
    : null;
  if (!code) throw new StepFailure('acs', status, `no code in ${answer.location}`);
  return code;
}

export async function runCompare(): Promise<number> {
  const scenarios = selectedScenarios();
  // Shorter than the other benchmarks' default: 5 systems × 3 scenarios and the pools in a few minutes.
  const base = benchSettings();
  const settings: BenchSettings = { ...base, durationSec: wholeNumber('BENCH_DURATION', 5, 1) };
  const acsSettings: BenchSettings = {
    ...settings,
    connections: wholeNumber('BENCH_ACS_CONNECTIONS', 10, 1),
  };
  const concurrency = wholeNumber('BENCH_CONCURRENCY', 8, 1);
  const loop = { durationSec: settings.durationSec, warmupSec: settings.warmupSec, concurrency };
  const sign = choice('BENCH_SAML_SIGN', ['assertion', 'response', 'both'] as const, 'assertion');
  const started = new Date();

  const pin = pinServersToOneCore();
  const install = ensureJackson(log);
  const list = cpus();
  const machine = `${list[0]?.model.trim() ?? 'unknown CPU'}, ${list.length} logical CPUs`;
  const pinning = pin
    ? `servers pinned to CPU ${pin.servers} (taskset -c ${pin.servers}), the load generator to CPU ${pin.load}`
    : 'not pinned (taskset missing or one CPU): servers and load share the cores';
  const header = [
    `Date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    `Machine: ${machine}; Node ${process.version}`,
    `Gatehouse: ${gitRevision() ?? 'unknown revision'} (SQLite, WAL, consent screen off); Jackson: @boxyhq/saml-jackson@${install.version} (mem engine, encryption key set)` +
      (install.installedNow ? ` (installed now in ${install.seconds.toFixed(0)} s)` : ''),
    `Pinning: ${pinning}`,
    `Settings: ${settings.durationSec} s per measurement after ${settings.warmupSec} s warm-up; authorize, profile: ` +
      `${settings.connections} connections; ACS, token: ${acsSettings.connections}; login: ${concurrency} concurrent logins; ` +
      `the IdP signs the ${sign === 'both' ? 'Response and the Assertion' : sign} (RSA-2048, RSA-SHA256)`,
    `Scenarios: ${[...scenarios].join(', ')}`,
  ];
  log('Gatehouse benchmark: side by side with BoxyHQ SAML Jackson (issue 14)');
  for (const line of header) log(line);
  log();

  const rows: Row[] = [];
  const errors: string[] = [];
  const notes: string[] = [];
  const sequence = { next: 0 };

  // --- Set-up: the IdP's keys and port first (both connections name them), then the two systems, then the IdP.
  const idpPort = await freePort();
  const idpOrigin = `http://${HOST}:${idpPort}`;
  const entityId = `${idpOrigin}/saml/metadata`;
  const keys = await generateSpKeyPair('Bench SAML IdP');
  const serverCpus = pin?.servers ?? null;
  const gatehouse = await startGatehouse({
    dataDir: makeTempDir('gatehouse-bench-'),
    redirectUris: ['https://app.example.com/callback'],
    env: { GATEHOUSE_SIGNIN_CONSENT: 'off' },
    cpus: serverCpus,
  });
  const connection = await createSamlConnection(gatehouse, {
    entityId,
    ssoUrl: `${idpOrigin}/saml/sso/0`,
    certificate: keys.certificate,
  });
  const ghApp = new SamlApp({ gatehouse, connection, consent: false, idpOrigin });
  // Jackson takes IdP metadata: the same entity ID and certificate (its SSO URL the IdP's second SP's).
  const idpMetadata = samlify
    .IdentityProvider({
      entityID: entityId,
      signingCert: keys.certificate,
      singleSignOnService: [
        {
          Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
          Location: `${idpOrigin}/saml/sso/1`,
        },
      ],
      nameIDFormat: [NAMEID_EMAIL],
    })
    .getMetadata();
  const jackson = await startJackson({ idpMetadata, cpus: serverCpus });
  const jkApp = new JacksonApp(jackson, idpOrigin);
  const idpConfig = {
    entityId,
    privateKey: keys.privateKey,
    certificate: keys.certificate,
    spMetadata: [connection.spMetadata, jackson.spMetadata],
    sign,
  };
  // The IdPs sign between measurements, on every CPU (this process is pinned to fewer; children inherit it).
  const allCpus = pin ? `0-${cpus().length - 1}` : null;
  const idps: IdpChild[] = [await startIdpChild(idpConfig, idpPort, 'SAML IdP', allCpus)];
  for (let i = 1; i < Math.min(4, cpus().length); i++) {
    idps.push(await startIdpChild(idpConfig, await freePort(), `SAML IdP replica ${i}`, allCpus));
  }
  log(`Gatehouse (pid ${gatehouse.pid}) on ${gatehouse.url}; Jackson (pid ${jackson.pid}) on ${jackson.url}`);
  log(`SAML IdP (samlify) on ${idpOrigin}, ${idps.length} process(es) making the pre-signed responses`);

  // One login through each, checked end to end (Gatehouse's through the official SDK, whose requests are replayed).
  const verified = await ghApp.verifyWithSdk(sequence.next++);
  const gh = gatehouseSubject(ghApp, verified.sdk);
  const jk = jacksonSubject(jkApp);
  {
    const n = sequence.next++;
    const { upstream } = await jkApp.startLogin(`check-${n}`);
    if (upstream.searchParams.get('Signature'))
      notes.push('Jackson signs each AuthnRequest (HTTP-Redirect binding).');
    const form = await atIdp(upstream, userFor(n));
    if (form.action !== jackson.acsUrl)
      throw new BenchError(`the IdP posts Jackson's response to ${form.action}`);
    const acs = await send('acs', form.action, {
      method: 'POST',
      headers: acsHeaders(idpOrigin),
      body: new URLSearchParams(form.fields).toString(),
    });
    const code = jkApp.codeFrom(acs);
    const { email } = await jkApp.redeem(code);
    if (email !== `${userFor(n)}@${USER_DOMAIN}`) throw new BenchError(`Jackson's profile says ${email}`);
  }
  log('One SAML login through Gatehouse (official SDK) and one through Jackson: OK');
  const subjects = [gh, jk];

  /** `count` ACS posts for `subject`: logins started there, answered by the IdP (signed now, posted later). */
  const makeFor = async (subject: Subject, count: number) =>
    makePosts(subject, idps, count, { concurrency: 8 * idps.length, deadlineMs: 8 * 60 * 1000, sequence });

  // --- memory (issue 14): on the fresh Gatehouse, before the other scenarios: its RSS every second through an
  // authorize load (BENCH_MEMORY_SECONDS, 60), then through BENCH_MEMORY_LOGINS (10 000) whole logins.
  let memory: MemoryResult | null = null;
  if (scenarios.has('memory')) {
    const seconds = wholeNumber('BENCH_MEMORY_SECONDS', 60, 1);
    const logins = wholeNumber('BENCH_MEMORY_LOGINS', 10_000, 1);
    const startMb = processRssMb(gatehouse.pid);
    log(`memory: Gatehouse authorize for ${seconds} s, RSS every second…`);
    let stop = sampleRss(gatehouse.pid);
    const m = await measure(
      'memory authorize',
      `${gatehouse.url}${gh.authorizePath}`,
      302,
      { ...settings, durationSec: seconds, warmupSec: 0 },
      gatehouse.pid,
    );
    errors.push(...describeErrors(m, 302));
    const authorizeCurve = stop();
    log(`memory: signing ${logins} responses for Gatehouse…`);
    const pool = new Pool(await makeFor(gh, logins), NO_POST);
    log(`memory: ${logins} whole logins through Gatehouse, ${concurrency} at a time, RSS every second…`);
    const login = loginFlow(gh, gatehouse.url, pool, false, idpOrigin);
    let next = 0;
    let failures = 0;
    const samples: string[] = [];
    const t0 = performance.now();
    stop = sampleRss(gatehouse.pid);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < logins) {
          const n = next++;
          try {
            await login(n);
          } catch (err) {
            failures++;
            if (samples.length < 3) samples.push(String((err as Error).message).slice(0, 200));
          }
        }
      }),
    );
    const loginCurve = stop();
    if (failures > 0) errors.push(`memory logins: ${failures} failed (${samples.join('; ')})`);
    memory = {
      startMb,
      authorizeSeconds: seconds,
      authorizeRate: m.reqPerSec,
      authorizeCurve,
      logins,
      loginSeconds: (performance.now() - t0) / 1000,
      loginFailures: failures,
      loginCurve,
      endMb: processRssMb(gatehouse.pid),
    };
  }

  // --- authorize
  const authorizeMax = new Map<System, number>();
  let floorAuthorize: ChildServer | null = null;
  if (scenarios.has('authorize') || scenarios.has('latency')) {
    const model = await send('authorize', `${gatehouse.url}${gh.authorizePath}`);
    ghApp.checkUpstream(model);
    floorAuthorize = await startBaselineServer({
      status: 302,
      headers: { location: model.location ?? '', 'set-cookie': model.setCookie.join(', ') },
      cpus: serverCpus,
    });
    const targets: Array<[System, string, number]> = [
      ['floor', `${floorAuthorize.url}${gh.authorizePath}`, floorAuthorize.pid],
      ['gatehouse', `${gatehouse.url}${gh.authorizePath}`, gatehouse.pid],
      ['jackson', `${jackson.url}${jk.authorizePath}`, jackson.pid],
    ];
    for (const [system, url, pid] of targets) {
      log(`authorize: ${SYSTEM_NAME[system]} for ${settings.durationSec} s…`);
      const m = await measure(`authorize ${system}`, url, 302, settings, pid);
      errors.push(...describeErrors(m, 302));
      authorizeMax.set(system, m.reqPerSec);
      if (scenarios.has('authorize')) rows.push(rowOf('authorize', system, m));
    }
  }

  // --- latency: authorize at half of each system's own maximum
  const latency: Array<{ system: System; rate: number; p50: number; p99: number }> = [];
  if (scenarios.has('latency')) {
    const targets: Array<[System, string, number]> = [
      ['gatehouse', `${gatehouse.url}${gh.authorizePath}`, gatehouse.pid],
      ['jackson', `${jackson.url}${jk.authorizePath}`, jackson.pid],
    ];
    for (const [system, url, pid] of targets) {
      const rate = Math.max(1, Math.floor((authorizeMax.get(system) ?? 0) / 2));
      log(`latency: ${SYSTEM_NAME[system]} authorize at ${rate} req/s for ${settings.durationSec} s…`);
      const m = await measure(`latency ${system}`, url, 302, settings, pid, () => ({ overallRate: rate }));
      errors.push(...describeErrors(m, 302));
      latency.push({ system, rate: m.reqPerSec, p50: m.p50Ms, p99: m.p99Ms });
    }
  }
  await floorAuthorize?.stop();

  // --- ACS
  const acsRates = new Map<System, number>();
  const harvested = new Map<System, { warmup: string[]; measure: string[] }>();
  const spareCodes = new Map<System, string[]>();
  let ring: AcsPost[] = [];
  if (scenarios.has('acs') || scenarios.has('login') || scenarios.has('profile')) {
    // Calibration: posts made, then sent by the ACS connections; every answer a redirect with a code.
    for (const subject of subjects) {
      const posts = await makeFor(subject, Math.max(100, acsSettings.connections * 10));
      const t0 = performance.now();
      const codes: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: acsSettings.connections }, async () => {
          for (let post = posts[next++]; post; post = posts[next++]) {
            const answer = await send('acs', `${subject.server.url}${subject.acsPath}`, {
              method: 'POST',
              headers: post.cookie
                ? { ...acsHeaders(idpOrigin), cookie: post.cookie }
                : acsHeaders(idpOrigin),
              body: post.body,
            });
            codes.push(codeOf(answer, subject.acsStatus));
          }
        }),
      ).catch((err: Error) => {
        throw new BenchError(
          `ACS calibration of ${subject.system}: ${err.message}\n${subject.server.output()}`,
        );
      });
      acsRates.set(subject.system, posts.length / ((performance.now() - t0) / 1000));
      spareCodes.set(subject.system, codes);
      if (subject === gh) ring = posts;
      log(
        `ACS calibration: ${SYSTEM_NAME[subject.system]} ~${acsRates.get(subject.system)?.toFixed(0)}/s (cold)`,
      );
    }
  }
  if (scenarios.has('acs')) {
    const real = (await makeFor(gh, 1))[0] as AcsPost;
    const realAnswer = await send('acs', `${gatehouse.url}${gh.acsPath}`, {
      method: 'POST',
      headers: { ...acsHeaders(idpOrigin), cookie: real.cookie },
      body: real.body,
    });
    codeOf(realAnswer, 303);
    const floor = await startBaselineServer({
      status: 303,
      headers: { location: realAnswer.location ?? '', 'cache-control': 'no-store' },
      cpus: serverCpus,
    });
    let ringNext = 0;
    const fromRing = () => ring[ringNext++ % ring.length] as AcsPost;
    log(`acs: ${SYSTEM_NAME.floor} for ${settings.durationSec} s…`);
    const fm = await measure('acs floor', `${floor.url}${gh.acsPath}`, 303, acsSettings, floor.pid, () =>
      acsRequests(gh.acsPath, idpOrigin, fromRing, new AcsChecker(0)),
    );
    errors.push(...describeErrors(fm, 303));
    rows.push(rowOf('acs', 'floor', fm));
    await floor.stop();
    for (const subject of subjects) {
      const checkers: AcsChecker[] = [];
      const pools: AcsPool[] = [];
      const m = await measure(
        `acs ${subject.system}`,
        `${subject.server.url}${subject.acsPath}`,
        subject.acsStatus,
        acsSettings,
        subject.server.pid,
        async (phase, seconds) => {
          const warm = pools[pools.length - 1]?.rate() ?? 0;
          // The warm-up's rate × 2.5 (the warm-up is short and starts cold), at least the calibration's × 3.
          const cold = (acsRates.get(subject.system) ?? 100) * 3;
          const rate = warm > 0 ? Math.max(warm * 2.5, cold) : cold;
          const count = Math.ceil(rate * seconds) + acsSettings.connections * 2;
          log(`acs: ${SYSTEM_NAME[subject.system]}: signing ${count} responses for the ${phase}…`);
          const pool = new AcsPool(await makeFor(subject, count));
          pools.push(pool);
          const checker = new AcsChecker(Number.POSITIVE_INFINITY, subject.acsStatus);
          checkers.push(checker);
          log(`acs: ${SYSTEM_NAME[subject.system]} ${phase === 'warmup' ? 'warming up' : 'measuring'}…`);
          return acsRequests(subject.acsPath, idpOrigin, () => pool.take(), checker);
        },
      );
      errors.push(...describeErrors(m, subject.acsStatus));
      const dry = pools[pools.length - 1]?.exhausted ?? 0;
      if (dry > 0)
        errors.push(`acs ${subject.system}: ${dry} requests found the pool of responses empty: re-run`);
      for (const c of checkers) {
        if (c.bad > 0)
          errors.push(`acs ${subject.system}: ${c.bad} redirects without a code (${c.badSamples})`);
      }
      rows.push(rowOf('acs', subject.system, m));
      const codes = checkers.map((c) => c.codes.map((x) => x.code));
      harvested.set(subject.system, {
        warmup: codes.length > 1 ? (codes[0] ?? []) : [],
        measure: codes[codes.length - 1] ?? [],
      });
      acsRates.set(subject.system, m.reqPerSec);
    }
  }

  // --- token: count-bounded, the same number of codes for each, every code from a login of the ACS scenario
  if (scenarios.has('token')) {
    const amount = Math.min(...subjects.map((s) => harvested.get(s.system)?.measure.length ?? 0));
    const warmAmount = Math.min(...subjects.map((s) => harvested.get(s.system)?.warmup.length ?? 0));
    if (amount < 100) {
      notes.push(`token: skipped, only ${amount} codes from the ACS scenario (lengthen BENCH_DURATION)`);
    } else {
      const spare = spareCodes.get('gatehouse')?.pop() as string;
      const model = await gh.redeem(spare);
      const floor = await startBaselineServer({
        status: 200,
        headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
        body: model.answer.text,
        cpus: serverCpus,
      });
      const tokenSettings = { ...acsSettings, warmupSec: warmAmount >= 50 ? settings.warmupSec : 0 };
      const spec =
        (subject: Subject, codes: { warmup: string[]; measure: string[] }) =>
        (phase: 'warmup' | 'measure'): LoadSpec => {
          const pool = new Pool(
            phase === 'warmup' ? codes.warmup.slice(0, warmAmount) : codes.measure.slice(0, amount),
            'pool-exhausted',
          );
          return {
            amount: phase === 'warmup' ? warmAmount : amount,
            requests: [
              {
                method: 'POST',
                path: subject.tokenPath,
                setupRequest: (request) => ({
                  ...request,
                  headers: subject.tokenHeaders(),
                  body: subject.tokenBody(pool.take()),
                }),
              },
            ],
          };
        };
      log(`token: ${amount} codes each (${warmAmount} in the warm-up)…`);
      const floorCodes = { warmup: Array(warmAmount).fill('x'), measure: Array(amount).fill('x') };
      const fm = await measure(
        'token floor',
        `${floor.url}/sso/token`,
        200,
        tokenSettings,
        floor.pid,
        spec(gh, floorCodes),
      );
      rows.push(rowOf('token', 'floor', fm));
      errors.push(...describeErrors(fm, 200));
      await floor.stop();
      for (const subject of subjects) {
        const m = await measure(
          `token ${subject.system}`,
          `${subject.server.url}${subject.tokenPath}`,
          200,
          tokenSettings,
          subject.server.pid,
          spec(subject, harvested.get(subject.system) as { warmup: string[]; measure: string[] }),
        );
        errors.push(...describeErrors(m, 200));
        rows.push(rowOf('token', subject.system, m));
      }
      notes.push(
        `token: bounded by count, ${amount} exchanges per system (the codes of the ACS scenario's measured logins), ` +
          `so its req/s rests on a short run`,
      );
    }
  }

  // --- profile: one access token each, reused (both accept it until it expires)
  if (scenarios.has('profile')) {
    const tokens = new Map<System, string>();
    let body = '';
    for (const subject of subjects) {
      const code = spareCodes.get(subject.system)?.pop();
      if (!code) throw new BenchError(`profile: no code left for ${subject.system}`);
      const { accessToken } = await subject.redeem(code);
      tokens.set(subject.system, accessToken);
      const check = await send('profile', `${subject.server.url}${subject.profilePath}`, {
        headers: subject.profileHeaders(accessToken),
      });
      expectStatus('profile', check, 200);
      if (subject === gh) body = check.text;
    }
    const floor = await startBaselineServer({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
      cpus: serverCpus,
    });
    const targets: Array<[System, Subject, string, number]> = [
      ['floor', gh, floor.url, floor.pid],
      ['gatehouse', gh, gatehouse.url, gatehouse.pid],
      ['jackson', jk, jackson.url, jackson.pid],
    ];
    for (const [system, subject, origin, pid] of targets) {
      log(`profile: ${SYSTEM_NAME[system]} for ${settings.durationSec} s…`);
      const token = tokens.get(system === 'floor' ? 'gatehouse' : system) as string;
      const m = await measure(
        `profile ${system}`,
        `${origin}${subject.profilePath}`,
        200,
        settings,
        pid,
        () => ({
          headers: subject.profileHeaders(token),
        }),
      );
      errors.push(...describeErrors(m, 200));
      rows.push(rowOf('profile', system, m));
    }
    await floor.stop();
  }

  // --- the whole login, closed loops; the response posted is pre-signed for a login started earlier (the
  // login's own authorize is made and measured, its pending login left unanswered: the IdP's signing is out).
  if (scenarios.has('login')) {
    const model = await send('authorize', `${gatehouse.url}${gh.authorizePath}`);
    const spare = (await makeFor(gh, 1))[0] as AcsPost;
    const acsModel = await send('acs', `${gatehouse.url}${gh.acsPath}`, {
      method: 'POST',
      headers: { ...acsHeaders(idpOrigin), cookie: spare.cookie },
      body: spare.body,
    });
    const tokenModel = await gh.redeem(codeOf(acsModel, 303));
    const profileModel = await send('profile', `${gatehouse.url}${gh.profilePath}`, {
      headers: gh.profileHeaders(tokenModel.accessToken),
    });
    const floor = await startBaselineServer({
      status: 404,
      headers: {},
      routes: [
        {
          prefix: '/sso/authorize',
          status: 302,
          headers: { location: model.location ?? '', 'set-cookie': model.setCookie.join(', ') },
        },
        { prefix: gh.acsPath, status: 303, headers: { location: acsModel.location ?? '' } },
        {
          prefix: '/sso/token',
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: tokenModel.answer.text,
        },
        {
          prefix: '/sso/profile',
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: profileModel.text,
        },
      ],
      cpus: serverCpus,
    });
    const flow = (subject: Subject, origin: string, pool: Pool<AcsPost>, floorMode: boolean) =>
      loginFlow(subject, origin, pool, floorMode, idpOrigin);
    const loopSeconds = settings.warmupSec + settings.durationSec;
    {
      log(`login: ${SYSTEM_NAME.floor} for ${settings.durationSec} s…`);
      let i = 0;
      const floorPool = { take: () => ring[i++ % ring.length] as AcsPost } as unknown as Pool<AcsPost>;
      const m = await measureLoop(
        'login floor',
        loop,
        { server: floor.pid },
        flow(gh, floor.url, floorPool, true),
      );
      rows.push(loopRow('login', 'floor', m, floor.pid));
      if (m.failureCount + m.warmupFailures > 0) errors.push(`login floor: ${m.failureSamples.join('; ')}`);
    }
    await floor.stop();
    for (const subject of subjects) {
      // A login is slower than its ACS alone: the ACS's rate × 1.3 over the warm-up and the measurement.
      const count = Math.ceil((acsRates.get(subject.system) ?? 100) * 1.3 * loopSeconds) + concurrency * 2;
      log(`login: ${SYSTEM_NAME[subject.system]}: signing ${count} responses…`);
      const pool = new Pool(await makeFor(subject, count), NO_POST);
      log(`login: ${SYSTEM_NAME[subject.system]} for ${settings.durationSec} s…`);
      const m = await measureLoop(
        `login ${subject.system}`,
        loop,
        { server: subject.server.pid },
        flow(subject, subject.server.url, pool, false),
      );
      rows.push(loopRow('login', subject.system, m, subject.server.pid));
      if (m.failureCount + m.warmupFailures > 0) {
        errors.push(
          `login ${subject.system}: ${m.failureCount + m.warmupFailures} failed (${m.failureSamples.join('; ').slice(0, 600)})`,
        );
      }
    }
  }

  // --- cold start: spawn to the first 200 on /health (a fresh database for Gatehouse), three times each
  const coldStart: Array<{ system: System; ms: number[] }> = [];
  if (scenarios.has('cold-start')) {
    const runs = 3;
    const times: Record<System, number[]> = { floor: [], gatehouse: [], jackson: [] };
    for (let i = 0; i < runs; i++) {
      const f = await startBaselineServer({ status: 200, headers: {}, cpus: serverCpus, pollMs: 5 });
      times.floor.push(f.readyMs);
      await f.stop();
      const g = await startGatehouse({
        dataDir: makeTempDir('gatehouse-cold-'),
        redirectUris: ['https://app.example.com/callback'],
        cpus: serverCpus,
        pollMs: 5,
      });
      times.gatehouse.push(g.readyMs);
      await g.stop();
      const j = await startJackson({ idpMetadata, cpus: serverCpus, pollMs: 5 });
      times.jackson.push(j.readyMs);
      await j.stop();
    }
    for (const system of SYSTEMS) coldStart.push({ system, ms: times[system] });
  }

  // --- store: Gatehouse's authorize with 10, 10 000 and 100 000 connections
  const store: Array<{ connections: number; rate: number; p99: number }> = [];
  if (scenarios.has('store')) {
    for (const size of [10, 10_000, 100_000]) {
      const dataDir = makeTempDir('gatehouse-store-');
      const seeded = await seedConnections({
        dataDir,
        count: size,
        idp: { entityId, ssoUrl: `${idpOrigin}/saml/sso/0`, certificate: keys.certificate },
        cpus: serverCpus,
      });
      log(
        `store: ${size} connections seeded in ${seeded.seconds.toFixed(1)} s; authorize for ${settings.durationSec} s…`,
      );
      const m = await measure(
        `store ${size}`,
        `${seeded.gatehouse.url}${seeded.authorizePath}`,
        302,
        settings,
        seeded.gatehouse.pid,
      );
      errors.push(...describeErrors(m, 302));
      store.push({ connections: size, rate: m.reqPerSec, p99: m.p99Ms });
      await seeded.gatehouse.stop();
    }
  }

  for (const idp of idps) await idp.stop();
  await gatehouse.stop();
  await jackson.stop();

  // --- output
  const report = renderReport({ header, rows, latency, coldStart, store, memory, notes, errors });
  log();
  log(report.text);
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.md'), report.markdown);
  writeFileSync(join(dir, 'latest.svg'), renderChart(rows, `${header[0]}; ${header[1]}`));
  log(`Written: bench/results/latest.md, bench/results/latest.svg`);
  if (errors.length > 0) {
    log();
    log('INVALID RUN:');
    for (const e of errors) log(`  ${e}`);
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Output

const fmt = (v: number | null, digits = 0) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const ratio = (a: number, b: number | undefined) => (b && b > 0 ? a / b : null);

function tableRows(rows: Row[]): string[][] {
  return rows.map((r) => {
    const floor = rows.find((x) => x.scenario === r.scenario && x.system === 'floor');
    const jk = rows.find((x) => x.scenario === r.scenario && x.system === 'jackson');
    const toFloor = ratio(r.rate, floor?.rate);
    const toJackson = ratio(r.rate, jk?.rate);
    return [
      r.scenario,
      SYSTEM_NAME[r.system],
      fmt(r.rate, r.scenario === 'login' ? 1 : 0),
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      fmt(r.cpuMs, 3),
      fmt(r.rssMb),
      String(r.errors),
      toFloor === null ? '-' : `${(100 * toFloor).toFixed(1)}%`,
      toJackson === null || r.system === 'floor' ? '-' : `${toJackson.toFixed(2)}×`,
      r.otherCpuPercent === null ? '-' : `${r.otherCpuPercent.toFixed(0)}%`,
    ];
  });
}

const HEADER = [
  'scenario',
  'system',
  ' req/s',
  ' p50 ms',
  ' p99 ms',
  ' CPU ms/req',
  ' RSS MB',
  ' errors',
  ' of floor',
  ' × Jackson',
  ' other CPU',
];

function renderReport(r: {
  header: string[];
  rows: Row[];
  latency: Array<{ system: System; rate: number; p50: number; p99: number }>;
  coldStart: Array<{ system: System; ms: number[] }>;
  store: Array<{ connections: number; rate: number; p99: number }>;
  memory: MemoryResult | null;
  notes: string[];
  errors: string[];
}): { text: string; markdown: string } {
  const body = tableRows(r.rows);
  const extra: string[] = [];
  for (const l of r.latency) {
    const target =
      l.system === 'gatehouse'
        ? ` (target < ${TARGET_P99_HALF_RATE_MS} ms: ${l.p99 < TARGET_P99_HALF_RATE_MS ? 'met' : 'NOT MET'})`
        : '';
    extra.push(
      `authorize at half of its maximum, ${SYSTEM_NAME[l.system]}: ${l.rate.toFixed(0)} req/s, p50 ${l.p50} ms, p99 ${l.p99} ms${target}`,
    );
  }
  for (const c of r.coldStart) {
    const med = median(c.ms);
    const target =
      c.system === 'gatehouse'
        ? ` (target < ${TARGET_COLD_START_MS} ms: ${med < TARGET_COLD_START_MS ? 'met' : 'NOT MET'})`
        : '';
    extra.push(
      `cold start to the first 200 on /health, ${SYSTEM_NAME[c.system]}: ${med.toFixed(0)} ms median of ${c.ms.map((x) => x.toFixed(0)).join(' / ')}${target}`,
    );
  }
  if (r.store.length > 0) {
    const rates = r.store.map((s) => s.rate);
    const spread = (Math.max(...rates) - Math.min(...rates)) / Math.max(...rates);
    extra.push(
      `Gatehouse authorize by connections in the store: ${r.store.map((s) => `${s.connections}: ${s.rate.toFixed(0)} req/s (p99 ${s.p99} ms)`).join('; ')}; ` +
        `spread ${(100 * spread).toFixed(1)}% (target within ${100 * TARGET_STORE_SPREAD}%: ${spread <= TARGET_STORE_SPREAD ? 'met' : 'NOT MET'})`,
    );
  }
  if (r.memory) {
    const m = r.memory;
    const last = (curve: number[]) => curve.at(-1) ?? null;
    const verdict = (mb: number | null) =>
      mb === null ? '' : ` (target < ${TARGET_RSS_MB} MB: ${mb < TARGET_RSS_MB ? 'met' : 'NOT MET'})`;
    extra.push(
      `Gatehouse RSS: ${fmt(m.startMb)} MB at start; after ${m.authorizeSeconds} s of authorize (${m.authorizeRate.toFixed(0)} req/s) ` +
        `${fmt(last(m.authorizeCurve))} MB${verdict(last(m.authorizeCurve))}; after ${m.logins} whole logins ` +
        `(${m.loginSeconds.toFixed(0)} s, ${m.loginFailures} failed) ${fmt(m.endMb)} MB${verdict(m.endMb)}`,
      `Gatehouse RSS every second (MB), authorize load: ${m.authorizeCurve.join(' ')}`,
      `Gatehouse RSS every second (MB), whole logins: ${m.loginCurve.join(' ')}`,
    );
  }
  // Text: printTable writes to stdout; build the same alignment here for one string.
  const widths = HEADER.map((h, i) => Math.max(h.trim().length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (HEADER[i]?.startsWith(' ') ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const mdRow = (cells: string[]) =>
    `| ${cells.map((c, i) => (HEADER[i]?.startsWith(' ') ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const text = [
    line(HEADER.map((h) => h.trim())),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
    '',
    ...extra,
    ...r.notes.map((n) => `Note: ${n}`),
  ].join('\n');
  const md = [
    '# `npm run bench`: Gatehouse side by side with BoxyHQ SAML Jackson',
    '',
    ...r.header.map((h) => `- ${h}`),
    '',
    // Padded as the formatter (biome) writes Markdown tables.
    mdRow(HEADER.map((h) => h.trim())),
    `| ${widths.map((w, i) => (HEADER[i]?.startsWith(' ') ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`,
    ...body.map(mdRow),
    '',
    "req/s: logins/s for `login`. CPU ms/req: the server process's CPU time over the measurement divided by its requests " +
      '(logins). RSS: the server\'s resident memory at the end of the measurement. "of floor": throughput as a share of the ' +
      'bare node:http server\'s in the same scenario; "× Jackson": Gatehouse\'s throughput over Jackson\'s. "other CPU": what ' +
      'the rest of the machine used meanwhile, in % of a core (above 20%: disturbed).',
    '',
    ...extra.map((e) => `- ${e}`),
    ...r.notes.map((n) => `- Note: ${n}`),
    ...(r.errors.length > 0 ? ['', '**INVALID RUN:**', ...r.errors.map((e) => `- ${e}`)] : []),
    '',
    '![Gatehouse over Jackson, per scenario](latest.svg)',
    '',
  ].join('\n');
  return { text, markdown: md };
}

/** A bar chart of Gatehouse's throughput over Jackson's per scenario, on a log scale, drawn by hand. */
export function renderChart(rows: Row[], caption: string): string {
  const bars = [...new Set(rows.map((r) => r.scenario))].flatMap((scenario) => {
    const g = rows.find((r) => r.scenario === scenario && r.system === 'gatehouse');
    const j = rows.find((r) => r.scenario === scenario && r.system === 'jackson');
    const f = rows.find((r) => r.scenario === scenario && r.system === 'floor');
    return g && j && j.rate > 0
      ? [
          {
            scenario,
            value: g.rate / j.rate,
            gFloor: f ? g.rate / f.rate : null,
            jFloor: f ? j.rate / f.rate : null,
          },
        ]
      : [];
  });
  const width = 760;
  const left = 110;
  const right = 40;
  const top = 50;
  const barH = 26;
  const gap = 14;
  const height = top + bars.length * (barH + gap) + 50;
  const min = 0.1;
  const max = Math.max(100, ...bars.map((b) => b.value * 1.2));
  const x = (v: number) =>
    left +
    ((Math.log10(Math.max(min, v)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) *
      (width - left - right);
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const ticks = [0.1, 1, 10, 100, 1000].filter((t) => t <= max);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13" role="img" aria-labelledby="t d">`,
    `<title id="t">Gatehouse throughput over Jackson's, per scenario (log scale)</title>`,
    `<desc id="d">${esc(bars.map((b) => `${b.scenario}: ${b.value.toFixed(2)} times`).join('; '))}. ${esc(caption)}</desc>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="22" font-weight="bold">Gatehouse ÷ Jackson, throughput per scenario (log scale; right of 1× = Gatehouse faster)</text>`,
    `<text x="${left}" y="40" fill="#555" font-size="11">${esc(caption)}</text>`,
  ];
  for (const t of ticks) {
    parts.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top - 4}" x2="${x(t).toFixed(1)}" y2="${height - 36}" stroke="${t === 1 ? '#333' : '#ddd'}"/>`,
      `<text x="${x(t).toFixed(1)}" y="${height - 20}" text-anchor="middle" fill="#333">${t}×</text>`,
    );
  }
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const x0 = x(Math.min(1, b.value));
    const x1 = x(Math.max(1, b.value));
    const floorText =
      b.gFloor === null
        ? ''
        : ` (of floor: Gatehouse ${(100 * b.gFloor).toFixed(1)}%, Jackson ${(100 * (b.jFloor ?? 0)).toFixed(1)}%)`;
    parts.push(
      `<text x="${left - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(b.scenario)}</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${barH}" fill="${b.value >= 1 ? '#2f6fb0' : '#c0504d'}"><title>${esc(`${b.scenario}: ${b.value.toFixed(2)}×${floorText}`)}</title></rect>`,
      `<text x="${(x1 + 6).toFixed(1)}" y="${y + barH / 2 + 4}">${b.value.toFixed(2)}×</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
