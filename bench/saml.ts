/**
 * Benchmark of SAML sign-in (issue 4), in two parts. See bench/README.md.
 *
 * 1. ACS validation, req/s: POST /sso/saml/acs/:key with a real, signed SAML Response (samlify), each request a
 *    different response to a different pending SP-initiated login of its own browser (RelayState and binding
 *    cookie), next to a bare node:http server answering the same posts with the same 303.
 * 2. The whole SAML login, logins/s: /sso/authorize → the IdP (samlify parses the AuthnRequest and answers with
 *    its auto-posting form) → the ACS → (consent) → POST /sso/token → GET /sso/profile, in closed loops, next
 *    to the IdP's part of the same login alone.
 *
 *   npm run bench:saml                              # both parts, 10 s per measurement, 10 connections / 8 logins
 *   BENCH_ROUNDS=3 npm run bench:saml               # three rounds of each, medians
 *   BENCH_SAML_PART=acs npm run bench:saml          # only the ACS part (or `login`)
 *   BENCH_LOGIN_CONSENT=both npm run bench:saml     # the login loop also with Gatehouse's consent screen
 *   BENCH_CPU_PROF=/tmp/prof npm run bench:saml     # also a V8 CPU profile of each Gatehouse process
 *
 * Set-up: Gatehouse as a child process (fresh SQLite file, WAL, GATEHOUSE_SIGNIN_CONSENT=off; a second one
 * with it on for BENCH_LOGIN_CONSENT=on/both), an organization with the users' domain verified and an OktaSAML
 * connection to the IdP: samlify's IdentityProvider (RSA-2048, RSA-SHA256) in a child process (bench/saml-idp.ts), plus replicas of it that only help to make the ACS
 * part's pools of responses faster. Exit code 0; 1 when the set-up fails, any request or login failed, or a
 * pool ran dry.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { generateSpKeyPair } from '../src/connectors/saml/keys.ts';
import { expectStatus, send } from './browser.ts';
import {
  BenchError,
  benchSettings,
  choice,
  cpuPercent,
  describeErrors,
  disturbed,
  freePort,
  gitRevision,
  HOST,
  indent,
  type LoopMeasurement,
  type Measurement,
  machineInfo,
  makeTempDir,
  measure,
  measureLoop,
  median,
  percentOf,
  printLoginTable,
  printMeasurements,
  runBenchmark,
  StepFailure,
  startBaselineServer,
  startGatehouse,
  wholeNumber,
} from './lib.ts';
import {
  AcsChecker,
  AcsPool,
  type AcsPost,
  acsHeaders,
  acsRequests,
  atIdp,
  createSamlConnection,
  type IdpChild,
  type IdpConfig,
  makePosts,
  SamlApp,
  startIdpChild,
} from './saml-idp.ts';
import { APP_REDIRECT_URI, type SdkRequests, USER_DOMAIN, USERS, userFor } from './sso-flow.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);

/** Other processes above this share of a core during a measurement: the row is marked as disturbed. */
const DISTURBED_PERCENT = 20;

/**
 * The time windows of the Gatehouse measurements on the clock of V8's CPU profiles (CLOCK_MONOTONIC, µs), printed
 * with BENCH_CPU_PROF so that a profile can be cut to them (the pools are made between the measurements).
 */
const profileWindows: string[] = [];
const monotonicUs = () => process.hrtime.bigint() / 1000n;

interface AcsResult {
  rows: Array<{ measurement: Measurement; baseline: Measurement }>;
  ratios: Array<{ percent: number; disturbed: boolean }>;
  errors: string[];
  poolSeconds: number;
  postsMade: number;
  redeemed: number;
}

async function runAcsPart(context: {
  app: SamlApp;
  idps: IdpChild[];
  sdk: SdkRequests;
  settings: ReturnType<typeof benchSettings>;
  sequence: { next: number };
}): Promise<AcsResult> {
  const { app, idps, sdk, settings, sequence } = context;
  const gatehouse = app.gatehouse;
  const idpOrigin = app.idpIssuer;
  const acsPath = new URL(app.callbackUrl).pathname;
  let poolSeconds = 0;
  let postsMade = 0;
  /** `count` posts for a phase of `seconds`: all of them must still be valid at its end (10 minutes). */
  const make = async (count: number, phaseSeconds = 0) => {
    const t0 = performance.now();
    const posts = await makePosts(app, idps, count, {
      concurrency: 8 * idps.length,
      deadlineMs: Math.max(60, 9 * 60 - phaseSeconds) * 1000,
      sequence,
    });
    const seconds = (performance.now() - t0) / 1000;
    poolSeconds += seconds;
    postsMade += posts.length;
    return { posts, seconds };
  };

  // Calibration: posts made, then sent by `connections` concurrent browsers; each must be a 303 with a code.
  const calibration = await make(Math.max(200, settings.connections * 4));
  const checker = new AcsChecker(0);
  const calStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: settings.connections }, async () => {
      for (let post = calibration.posts[next++]; post; post = calibration.posts[next++]) {
        const answer = await send('acs', `${gatehouse.url}${acsPath}`, {
          method: 'POST',
          headers: { ...acsHeaders(idpOrigin), cookie: post.cookie },
          body: post.body,
        });
        expectStatus('acs', answer, 303);
        checker.check(answer.status, { location: answer.location ?? '' });
      }
    }),
  ).catch((err: Error) => {
    throw new BenchError(`calibration: ${err.message}\nGatehouse output:\n${indent(gatehouse.output())}`);
  });
  if (checker.bad > 0)
    throw new BenchError(`calibration: ACS redirects without a code: ${checker.badSamples}`);
  const calibrationRate = calibration.posts.length / ((performance.now() - calStarted) / 1000);
  log(
    `ACS calibration: ${calibration.posts.length} posts made in ${calibration.seconds.toFixed(1)} s ` +
      `(${(calibration.posts.length / calibration.seconds).toFixed(0)}/s with ${idps.length} IdP process(es)), ` +
      `answered at ~${calibrationRate.toFixed(0)}/s (cold)`,
  );

  // The floor: the same posts (bodies and cookies of real ones, reused) answered by a server that reads them and
  // writes the 303 a real one got.
  const real = (await make(1)).posts[0] as AcsPost;
  const realAnswer = await send('acs', `${gatehouse.url}${acsPath}`, {
    method: 'POST',
    headers: { ...acsHeaders(idpOrigin), cookie: real.cookie },
    body: real.body,
  });
  expectStatus('acs', realAnswer, 303);
  const baseline = await startBaselineServer({
    status: 303,
    headers: {
      location: realAnswer.location ?? '',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    },
  });
  log(
    `ACS baseline (pid ${baseline.pid}) on ${baseline.url}: 303, Location ${realAnswer.location?.length} characters`,
  );
  const ring = calibration.posts;
  let ringNext = 0;
  const fromRing = () => ring[ringNext++ % ring.length] as AcsPost;
  const bodyBytes = median(ring.map((p) => p.body.length));
  log(
    `ACS post body: ${bodyBytes} bytes (median; the SAMLResponse, base64, form-encoded, and the RelayState)`,
  );
  log();

  const rows: AcsResult['rows'] = [];
  const ratios: AcsResult['ratios'] = [];
  const errors: string[] = [];
  let bestRate = 0;
  let redeemed = 0;
  let codeCheck: Promise<void> = Promise.resolve();
  for (let round = 1; round <= settings.rounds; round++) {
    const suffix = settings.rounds > 1 ? ` #${round}` : '';
    log(`Measuring the ACS baseline${suffix} for ${settings.durationSec} s…`);
    const baseChecker = new AcsChecker(0);
    const base = await measure(
      `baseline (node:http 303)${suffix}`,
      `${baseline.url}${acsPath}`,
      303,
      settings,
      baseline.pid,
      () => acsRequests(acsPath, idpOrigin, fromRing, baseChecker),
    );
    const pools: AcsPool[] = [];
    const ghChecker = new AcsChecker(20);
    let measuredPool: AcsPool | null = null;
    let windowStart = 0n;
    const gh = await measure(
      `gatehouse ACS${suffix}`,
      `${gatehouse.url}${acsPath}`,
      303,
      settings,
      gatehouse.pid,
      async (phase, seconds) => {
        // The rate to expect: the warm-up's (as the pool handed its posts out), Gatehouse's best so far, or the
        // cold calibration's; × 1.5 when measured warm, × 3 otherwise.
        const warm = Math.max(bestRate, pools[pools.length - 1]?.rate() ?? 0);
        const rate = warm > 0 ? warm * 1.5 : calibrationRate * 3;
        const count = Math.ceil(rate * seconds) + settings.connections * 2;
        log(`  making ${count} responses for the ${phase === 'warmup' ? 'warm-up' : 'measurement'}…`);
        const { posts, seconds: made } = await make(count, seconds);
        log(`  … in ${made.toFixed(1)} s; ${phase === 'warmup' ? 'warming up' : 'measuring'}`);
        const pool = new AcsPool(posts);
        pools.push(pool);
        if (phase === 'measure') {
          measuredPool = pool;
          windowStart = monotonicUs();
        }
        // The warm-up's answers are not checked (measure() ignores them too); the measurement's are.
        return acsRequests(
          acsPath,
          idpOrigin,
          () => pool.take(),
          phase === 'measure' ? ghChecker : new AcsChecker(0),
        );
      },
    );
    profileWindows.push(`${gh.name} (pid ${gatehouse.pid}): ${windowStart}-${monotonicUs()}`);
    bestRate = Math.max(bestRate, gh.reqPerSec);
    rows.push({ measurement: base, baseline: base }, { measurement: gh, baseline: base });
    ratios.push({ percent: percentOf(gh, base), disturbed: disturbed([base, gh]).length > 0 });
    const exhausted = (measuredPool as AcsPool | null)?.exhausted ?? 0;
    if (exhausted > 0) {
      errors.push(
        `${gh.name}: ${exhausted} requests found the pool empty (Gatehouse went faster than the warm-up ` +
          'predicted by more than 1.5×: was the warm-up disturbed? Re-run)',
      );
    }
    const warmupDry = pools.length > 1 ? (pools[0]?.exhausted ?? 0) : 0;
    if (warmupDry > 0) log(`  note: the warm-up's pool ran dry (${warmupDry} requests, not measured)`);
    if (ghChecker.bad > 0 || baseChecker.bad > 0) {
      errors.push(
        `${gh.name}: ${ghChecker.bad} 303s without a code for the app (${ghChecker.badSamples.join(', ')})`,
      );
    }
    // The first codes of the measurement are redeemed (POST /sso/token, GET /sso/profile): they are real.
    const codes = ghChecker.codes;
    codeCheck = codeCheck.then(async () => {
      for (const { code, sequence: n } of codes) {
        await app.redeem(sdk, code, n).then(
          () => redeemed++,
          (err: Error) => errors.push(`${gh.name}: a code of the measurement did not redeem: ${err.message}`),
        );
      }
    });
    await codeCheck;
  }
  await baseline.stop();
  for (const { measurement } of rows) errors.push(...describeErrors(measurement, 303));
  return { rows, ratios, errors, poolSeconds, postsMade, redeemed };
}

// ---------------------------------------------------------------------------------------------------------
// Part 2: the whole login

interface LoginRow {
  m: LoopMeasurement;
  app: SamlApp | null;
  reference: LoopMeasurement;
}

async function runLoginPart(context: {
  apps: SamlApp[];
  sdks: Map<SamlApp, SdkRequests>;
  idp: IdpChild;
  template: URL;
  loop: { durationSec: number; warmupSec: number; concurrency: number };
  rounds: number;
  sequence: { next: number };
}): Promise<LoginRow[]> {
  const { apps, sdks, idp, template, loop, rounds, sequence } = context;
  const acs = apps[0]?.callbackUrl;
  // The IdP alone: the IdP's part of a login, on an AuthnRequest Gatehouse made (the IdP parses it and signs a
  // new response every time; its ID does not change the work).
  const idpAlone = async (n: number) => {
    const form = await atIdp(template, userFor(n));
    if (form.action !== acs) throw new StepFailure('idp', 200, `the form posts to ${form.action}`);
  };
  const pids: Record<string, number> = { idp: idp.pid };
  for (const [i, app] of apps.entries()) pids[`gatehouse${i}`] = app.gatehouse.pid;

  // One of each, counting what it asks of the IdP.
  for (const [what, flow] of [
    ['a login at the IdP alone', () => idpAlone(sequence.next++)],
    ...apps.map(
      (app) =>
        [
          `a login through Gatehouse (consent ${app.consent ? 'on' : 'off'})`,
          () => app.login(sdks.get(app) as SdkRequests, sequence.next++),
        ] as const,
    ),
  ] as const) {
    const before = await idp.stats();
    await flow().catch((err: Error) => {
      throw new BenchError(`${what} failed at ${err.message}`);
    });
    const after = await idp.stats();
    if (after.sso - before.sso !== 1 || after.errors !== before.errors) {
      throw new BenchError(`${what} asked the IdP ${after.sso - before.sso} times (1 expected)`);
    }
  }
  log('Login loop checked: one IdP request per login, through Gatehouse and at the IdP alone');

  const rows: LoginRow[] = [];
  for (let round = 1; round <= rounds; round++) {
    const suffix = rounds > 1 ? ` #${round}` : '';
    log(`Measuring the IdP alone${suffix} for ${loop.durationSec} s…`);
    const reference = await measureLoop(`IdP alone${suffix}`, loop, pids, (n) => idpAlone(n));
    rows.push({ m: reference, app: null, reference });
    for (const app of apps) {
      const name = `Gatehouse SAML, consent ${app.consent ? 'on' : 'off'}${suffix}`;
      log(`Measuring ${name} for ${loop.durationSec} s…`);
      const sdk = sdks.get(app) as SdkRequests;
      const start = monotonicUs();
      const m = await measureLoop(name, loop, pids, (n) => app.login(sdk, n));
      profileWindows.push(`${name}, warm-up included (pid ${app.gatehouse.pid}): ${start}-${monotonicUs()}`);
      rows.push({ m, app, reference });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  // ACS posts: 10 connections by default, not 50. Gatehouse answers ~100 a second: more connections only queue
  // (p50 ≈ connections / rate), and a saturated Node server leaves some new connections unserved for seconds
  // (a bare node:http server spending 10 ms per request does it too), past autocannon's 10 s timeout.
  const settings = { ...benchSettings(), connections: wholeNumber('BENCH_CONNECTIONS', 10, 1) };
  const concurrency = wholeNumber('BENCH_CONCURRENCY', 8, 1);
  const consentMode = choice('BENCH_LOGIN_CONSENT', ['off', 'on', 'both'] as const, 'off');
  const part = choice('BENCH_SAML_PART', ['both', 'acs', 'login'] as const, 'both');
  const sign = choice('BENCH_SAML_SIGN', ['assertion', 'response', 'both'] as const, 'assertion');
  const profDir = process.env.BENCH_CPU_PROF?.trim() ? resolve(process.env.BENCH_CPU_PROF.trim()) : null;
  const loop = { durationSec: settings.durationSec, warmupSec: settings.warmupSec, concurrency };

  log('Gatehouse benchmark: SAML (ACS validation, req/s; the whole SAML login, logins/s)');
  log(machineInfo());
  log(`Gatehouse revision: ${gitRevision() ?? 'unknown (not a Git checkout)'}`);
  log(
    `Settings: ${settings.durationSec} s per measurement after ${settings.warmupSec} s warm-up, ` +
      `${settings.rounds} round(s); ACS: ${settings.connections} connections; login: ${concurrency} concurrent ` +
      `logins, consent ${consentMode}; the IdP signs the ${sign === 'both' ? 'Response and the Assertion' : sign}; ` +
      `part(s): ${part}; loopback only`,
  );
  log();

  // The IdP's port and keys first: the connections name its SSO URL and certificate, it needs their metadata.
  const idpPort = await freePort();
  const idpOrigin = `http://${HOST}:${idpPort}`;
  const entityId = `${idpOrigin}/saml/metadata`;
  const keys = await generateSpKeyPair('Bench SAML IdP');
  // Gatehouse with consent off: the ACS part and the login loop; with consent on: the login loop only.
  const consents = part === 'acs' ? [false] : consentMode === 'both' ? [false, true] : [consentMode === 'on'];
  if (part !== 'login' && !consents.includes(false)) consents.unshift(false);
  const apps: SamlApp[] = [];
  const spMetadata: string[] = [];
  for (const consent of consents) {
    const gatehouse = await startGatehouse({
      dataDir: makeTempDir('gatehouse-bench-'),
      redirectUris: [APP_REDIRECT_URI],
      env: { GATEHOUSE_SIGNIN_CONSENT: consent ? 'on' : 'off' },
      extraNodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    });
    const connection = await createSamlConnection(gatehouse, {
      entityId,
      ssoUrl: `${idpOrigin}/saml/sso/${spMetadata.length}`,
      certificate: keys.certificate,
    });
    spMetadata.push(connection.spMetadata);
    apps.push(new SamlApp({ gatehouse, connection, consent, idpOrigin }));
    log(`Gatehouse, consent ${consent ? 'on' : 'off'} (pid ${gatehouse.pid}) on ${gatehouse.url}`);
  }
  const idpConfig: IdpConfig = {
    entityId,
    privateKey: keys.privateKey,
    certificate: keys.certificate,
    spMetadata,
    sign,
  };
  const idp = await startIdpChild(idpConfig, idpPort, 'SAML IdP');
  // Replicas only make the ACS part's pools (between measurements): one process per core.
  const idps = [idp];
  if (part !== 'login') {
    for (let i = 1; i < Math.min(4, availableParallelism()); i++) {
      idps.push(await startIdpChild(idpConfig, await freePort(), `SAML IdP replica ${i}`));
    }
  }
  log(`SAML IdP (samlify, pid ${idp.pid}) on ${idpOrigin}; ${idps.length - 1} replica(s) for the ACS pools`);

  // Every path once, checked: a login through the official SDK (whose requests become the raw ones), then one
  // through the raw requests.
  const sequence = { next: 0 };
  const sdks = new Map<SamlApp, SdkRequests>();
  let template: URL | null = null;
  for (const app of apps) {
    const verified = await app.verifyWithSdk(sequence.next++);
    sdks.set(app, verified.sdk);
    template ??= verified.upstream;
    log(
      `SAML login through Gatehouse (consent ${app.consent ? 'on' : 'off'}) OK; the SDK's request: ` +
        verified.sdk.describeToken(),
    );
  }
  if (!template) throw new BenchError('no Gatehouse to measure');
  log();

  let acs: AcsResult | null = null;
  if (part !== 'login') {
    const app = apps.find((a) => !a.consent) as SamlApp;
    acs = await runAcsPart({ app, idps, sdk: sdks.get(app) as SdkRequests, settings, sequence });
    for (const replica of idps.slice(1)) await replica.stop();
    log();
  }
  let logins: LoginRow[] = [];
  const measuredApps = apps.filter((a) => consentMode === 'both' || a.consent === (consentMode === 'on'));
  if (part !== 'acs') {
    logins = await runLoginPart({
      apps: measuredApps,
      sdks,
      idp,
      template,
      loop,
      rounds: settings.rounds,
      sequence,
    });
  }
  const idpStats = await idp.stats();
  for (const app of apps) await app.gatehouse.stop();
  await idp.stop();

  const errors: string[] = [];
  if (acs) {
    log();
    log(
      'ACS validation: POST /sso/saml/acs/:key, each a new signed response to a pending login of its browser',
    );
    printMeasurements(acs.rows);
    log();
    const clean = acs.ratios.filter((r) => !r.disturbed);
    const counted = (clean.length > 0 ? clean : acs.ratios).map((r) => r.percent);
    const each =
      acs.ratios.length > 1
        ? ` (median of ${counted.map((r) => `${r.toFixed(1)}%`).join(', ')}${
            clean.length > 0 && clean.length < acs.ratios.length
              ? `; ${acs.ratios.length - clean.length} disturbed round(s) left out`
              : ''
          })`
        : '';
    log(`Gatehouse ACS: ${median(counted).toFixed(1)}% of the bare server's throughput${each}`);
    const cpuPerRequest = acs.rows
      .filter((r) => r.measurement !== r.baseline && r.measurement.serverCpuPercent !== null)
      .map((r) => ((r.measurement.serverCpuPercent as number) * 1e4) / Math.max(1, r.measurement.reqPerSec));
    if (cpuPerRequest.length > 0) {
      log(`Gatehouse CPU per ACS request: ${median(cpuPerRequest).toFixed(0)} µs (median)`);
    }
    log(
      `Responses: ${acs.postsMade} made in ${acs.poolSeconds.toFixed(1)} s (between the measurements); ` +
        `${acs.redeemed} codes of the measurements redeemed`,
    );
    const noisy = disturbed(acs.rows.map((r) => r.measurement));
    if (noisy.length > 0) {
      log(
        `Note: other processes used the CPU during ${noisy.map((m) => m.name).join(', ')} (column "other CPU"): ` +
          'those numbers are disturbed; re-run on a quiet machine.',
      );
    }
    errors.push(...acs.errors);
  }
  if (logins.length > 0) {
    log();
    log('The whole SAML login: authorize → IdP → ACS → (consent) → token → profile');
    printLoginTable(
      logins.map(({ m, app, reference }) => ({
        m,
        gatehouse: app ? `gatehouse${measuredApps.indexOf(app)}` : null,
        reference,
      })),
      { idp: true, database: false },
    );
    log();
    const isDisturbed = (m: LoopMeasurement) =>
      (cpuPercent(m.cpu.otherSeconds, m.cpu) ?? 0) > DISTURBED_PERCENT;
    for (const app of measuredApps) {
      const mine = logins.filter((r) => r.app === app);
      const clean = mine.filter((r) => !isDisturbed(r.m) && !isDisturbed(r.reference));
      const counted = clean.length > 0 ? clean : mine;
      const rate = median(counted.map((r) => r.m.perSec));
      const ratio = median(counted.map((r) => (100 * r.m.perSec) / r.reference.perSec));
      const key = `gatehouse${measuredApps.indexOf(app)}`;
      const msPer = (name: string, rows: LoginRow[], m: (r: LoginRow) => LoopMeasurement) =>
        median(rows.map((r) => (1000 * (m(r).cpu.seconds[name] ?? 0)) / Math.max(1, m(r).completed)));
      const ghMs = msPer(key, counted, (r) => r.m);
      const idpMs = msPer('idp', counted, (r) => r.m);
      const idpAloneMs = msPer('idp', counted, (r) => r.reference);
      const medians = counted.length > 1 ? ` (medians of ${counted.length} rounds)` : '';
      log(
        `Gatehouse SAML, consent ${app.consent ? 'on' : 'off'}: ${rate.toFixed(1)} logins/s, ` +
          `${ratio.toFixed(1)}% of the IdP alone${medians}; CPU per login: Gatehouse ${ghMs.toFixed(2)} ms, ` +
          `IdP ${idpMs.toFixed(2)} ms (${idpAloneMs.toFixed(2)} alone): Gatehouse is ` +
          `${((100 * ghMs) / (ghMs + idpMs)).toFixed(0)}% of the servers' CPU`,
      );
    }
    const noisy = logins.filter((r) => isDisturbed(r.m));
    if (noisy.length > 0) {
      log(
        `Note: other processes used the CPU during ${noisy.map((r) => r.m.name).join(', ')} (column "other CPU"): ` +
          'those numbers are disturbed; re-run on a quiet machine.',
      );
    }
    log(`Users: ${USERS}, cycled (user<N>@${USER_DOMAIN}); every login is a new browser with no cookies.`);
    for (const { m } of logins) {
      if (m.failureCount > 0 || m.warmupFailures > 0) {
        const kinds = Object.entries(m.failures).map(([k, n]) => `${k} ×${n}`);
        errors.push(
          `${m.name}: ${m.failureCount} failed logins (${kinds.join(', ') || 'none measured'}), ` +
            `${m.warmupFailures} in the warm-up${m.failureSamples.map((s) => `\n    ${s.slice(0, 400)}`).join('')}`,
        );
      }
    }
  }
  if (idpStats.errors > 0) {
    errors.push(`the IdP answered ${idpStats.errors} requests with an error (last: ${idpStats.lastError})`);
  }
  if (profDir) {
    log(
      `CPU profile of each Gatehouse process written to ${profDir}; the measurements' windows (µs, CLOCK_MONOTONIC):`,
    );
    for (const w of profileWindows) log(`  ${w}`);
  }

  if (errors.length > 0) {
    log();
    log('INVALID RUN: every ACS post must be a 303 to the app with a code, every login must succeed.');
    for (const line of errors) log(`  ${line}`);
    for (const app of apps) {
      const out = app.gatehouse.output().trim();
      if (out) log(`Gatehouse output (last lines):\n${indent(out.split('\n').slice(-20).join('\n'))}`);
    }
    return 1;
  }
  return 0;
}

runBenchmark(main);
