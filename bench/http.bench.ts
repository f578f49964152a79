/**
 * `npm run bench -- http [--json] [--store pglite] [flags]`: consumes per second
 * through the real API, and where its time goes.
 *
 * The app runs in this process as `npm start` runs it (createApp, ROLE as set,
 * default `all`: the projector too) on a PostgreSQL database made for the run
 * (or a PGlite directory). Untimed: `--users` users granted `--grant` each
 * through POST /v1/users/{id}/bonuses. Timed: autocannon, in a child process,
 * posts `--requests` consumes of `face_swap` (1 credit) with unique references
 * over `--connections` keep-alive connections, users in the W1 sequence.
 * Checked, over both passes: every answer 201, the store holds users + consumes
 * events, and each user's stream folds to grant minus its consumes answered 201.
 *
 * Where the time goes, two ways (in `detail`):
 * - store_time: `appendToStream` and `readStream` of the app's store instance
 *   are timed during the timed phase; their summed durations over the summed
 *   request latencies is the share of request time spent waiting on the store
 *   (its pool, the network and the database server included, and the wait for
 *   a busy event loop to run the continuation: event_loop_delay_ms says how long).
 * - cpu_share: a second pass of `--profiled` consumes (other references, the
 *   W1 sequence of the next seed; not in the headline figures, as the profiler
 *   slows the app down) runs with this process's main thread profiled by V8's
 *   sampling profiler (node:inspector, as `node --cpu-prof`); each busy sample is
 *   charged to the store's driver (pg, PGlite), our event-store adapter, the
 *   HTTP framework and other packages, our API code, the domain, the
 *   projections, Node's runtime, or GC (see http/cpu-share.ts). The load
 *   generator is another process, so none of its CPU is in the profile; the
 *   database server's CPU is not in it either.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { type AppConfig, loadConfig, parseApiKeys } from '@libs/config';
import { creditsStreamId } from '@libs/credits';
import { EVENT_STORE, type EventStore, type EventStoreLocation } from '@libs/event-store';
import type { INestApplication } from '@nestjs/common';
import { foldCreditsStream } from '../apps/api/src/credits/credits-stream.reader';
import { createApp } from '../apps/api/src/create-app';
import { latencyPercentiles } from './bench-figures';
import { cpuShare, startCpuProfile } from './http/cpu-share';
import { HTTP_HELP, type HttpOptions, parseHttpOptions } from './http/http-options';
import type { LoadPlan, LoadReport } from './http/load-generator';
import { type StoreTimes, timeStoreCalls } from './http/store-timer';
import { formatReadable, toPeerRecord } from './peer-format';
import { admin } from './temporary-database';
import { DEFAULT_SERVER_URL } from './workloads/fresh-store';
import { runConcurrent } from './workloads/run-concurrent';
import { benchUserId } from './workloads/seeded-sequence';
import { compareBalances } from './workloads/verify-balances';
import { type WorkloadResult, round } from './workloads/workload-result';

const SECRET = 'bench-secret-0123456789';
const FEATURE = 'face_swap';
const GRANTS_IN_FLIGHT = 16;

export async function httpBench(argv: readonly string[]): Promise<number> {
  let options: HttpOptions;
  try {
    options = parseHttpOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HTTP_HELP}`);
    return 2;
  }
  const database = await freshDatabase(options);
  let result: WorkloadResult;
  try {
    result = await measure(options, database.location);
  } finally {
    await database.drop();
  }
  const record = toPeerRecord('http', result, configOf(options), new Date());
  process.stdout.write(`${options.json ? JSON.stringify(record) : formatReadable(record)}\n`);
  return record.verified ? 0 : 1;
}

async function measure(options: HttpOptions, location: EventStoreLocation): Promise<WorkloadResult> {
  const config: AppConfig = { ...loadConfig({ LOG_LEVEL: 'silent', ROLE: process.env.ROLE }), eventStore: location };
  const app = await createApp(config, parseApiKeys(`bench:admin:${SECRET}`));
  try {
    await app.listen(0, '127.0.0.1');
    const baseUrl = await app.getUrl();
    const runId = `http-${Date.now().toString(36)}`;
    await grantEveryone(baseUrl, options, runId);
    const store = app.get<EventStore>(EVENT_STORE);
    const { users, requests, connections, seed } = options;
    const plan: LoadPlan = { baseUrl, secret: SECRET, feature: FEATURE, runId, users, requests, connections, seed };
    const timed = await timedPhase(store, plan, false);
    const profiled =
      options.profiled > 0
        ? await timedPhase(
            store,
            { ...plan, requests: options.profiled, seed: options.seed + 1, runId: `${runId}-p` },
            true,
          )
        : undefined;
    const errors = await verify(app, options, [timed.report, ...(profiled ? [profiled.report] : [])]);
    return summarize(options, timed, profiled, errors);
  } finally {
    await app.close();
  }
}

async function grantEveryone(baseUrl: string, options: HttpOptions, runId: string): Promise<void> {
  await runConcurrent(options.users, GRANTS_IN_FLIGHT, async (index) => {
    const response = await fetch(`${baseUrl}/v1/users/${benchUserId(index)}/bonuses`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${SECRET}`,
        'Content-Type': 'application/json',
        'Idempotency-Key': `${runId}-grant-${index}`,
      },
      body: JSON.stringify({ amount: options.grant, reason: 'bench' }),
    });
    const body = await response.text();
    if (response.status !== 201) throw new Error(`grant to user ${index} answered ${response.status}: ${body}`);
  });
}

type TimedPhase = {
  report: LoadReport;
  wallMs: number;
  storeTimes: StoreTimes;
  loopDelayMs: { mean: number; p50: number; p99: number; max: number };
  cpu?: ReturnType<typeof cpuShare> & { profile_file: string };
};

/** The load generator started and ready first, then the store timed and the profiler on while it runs. */
async function timedPhase(store: EventStore, plan: LoadPlan, profile: boolean): Promise<TimedPhase> {
  const child = fork(join(__dirname, 'http', 'load-generator.js'), [], { stdio: 'inherit' });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`load generator exited with code ${code}`))),
  );
  const message = () => Promise.race([new Promise<unknown>((resolve) => child.once('message', resolve)), exited]);
  await message();
  const timer = timeStoreCalls(store);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const profiler = profile ? await startCpuProfile() : undefined;
  const started = performance.now();
  child.send(plan);
  const report = (await message()) as LoadReport;
  const wallMs = performance.now() - started;
  const cpuProfile = await profiler?.stop();
  const storeTimes = timer.restore();
  loopDelay.disable();
  const toMs = (nanoseconds: number) => round(nanoseconds / 1e6);
  const loopDelayMs = {
    mean: toMs(loopDelay.mean),
    p50: toMs(loopDelay.percentile(50)),
    p99: toMs(loopDelay.percentile(99)),
    max: toMs(loopDelay.max),
  };
  exited.catch(() => undefined);
  if (cpuProfile === undefined) return { report, wallMs, storeTimes, loopDelayMs };
  const profileFile = join(tmpdir(), `credits-bench-http-${process.pid}.cpuprofile`);
  writeFileSync(profileFile, JSON.stringify(cpuProfile));
  return {
    report,
    wallMs,
    storeTimes,
    loopDelayMs,
    cpu: { ...cpuShare(cpuProfile, wallMs), profile_file: profileFile },
  };
}

/** Every answer 201; the store holds the grants and the consumes answered 201; each balance folds as expected. */
async function verify(app: INestApplication, options: HttpOptions, reports: LoadReport[]): Promise<string[]> {
  const errors: string[] = [];
  let created = 0;
  const createdPerUser = new Array<number>(options.users).fill(0);
  for (const report of reports) {
    const { requests } = report;
    const answered201 = report.statusCounts['201'] ?? 0;
    created += answered201;
    report.createdPerUser.forEach((count, index) => (createdPerUser[index] += count));
    if (answered201 === requests) continue;
    errors.push(
      `${requests - answered201} of ${requests} requests not answered 201: ${JSON.stringify(report.statusCounts)}`,
    );
    errors.push(...report.firstErrors);
  }
  const store = app.get<EventStore>(EVENT_STORE);
  let events = 0;
  let consumes = 0;
  for await (const event of store.readAll({ batchSize: 10_000 })) {
    events++;
    if (event.type === 'CreditsConsumed') consumes++;
  }
  if (events !== options.users + created)
    errors.push(`store holds ${events} events, expected ${options.users + created}`);
  if (consumes !== created) errors.push(`store holds ${consumes} consumes, ${created} answered 201`);
  const expected = new Map<string, number>();
  const actual = new Map<string, number>();
  for (let index = 0; index < options.users; index++)
    expected.set(benchUserId(index), options.grant - createdPerUser[index]);
  await runConcurrent(options.users, options.pool, async (index) => {
    const state = await foldCreditsStream(store, creditsStreamId(benchUserId(index)));
    if (state.version > 0) actual.set(benchUserId(index), state.balance);
  });
  compareBalances(actual, expected, errors, 'balances');
  return errors;
}

function summarize(
  options: HttpOptions,
  timed: TimedPhase,
  profiled: TimedPhase | undefined,
  errors: string[],
): WorkloadResult {
  const { report, storeTimes } = timed;
  const ok = report.statusCounts['201'] ?? 0;
  const { p50Ms, p99Ms, maxMs } = latencyPercentiles(report.latenciesMs);
  const requestMs = report.latenciesMs.reduce((sum, latency) => sum + latency, 0);
  const inStore = (storeTimes.appendMs + storeTimes.streamReadMs) / Math.max(requestMs, 1);
  return {
    ops: options.requests,
    ok,
    rejected: 0,
    failed: options.requests - ok,
    retries: 0,
    seconds: report.seconds,
    ops_per_s: options.requests / report.seconds,
    p50_ms: p50Ms,
    p99_ms: p99Ms,
    errors,
    detail: {
      latency_ms: {
        p50: p50Ms,
        p99: p99Ms,
        max: maxMs,
        mean: round(requestMs / Math.max(report.latenciesMs.length, 1)),
      },
      status_counts: report.statusCounts,
      connection_errors: report.connectionErrors,
      timeouts: report.timeouts,
      wall_seconds: round(timed.wallMs / 1000),
      event_loop_delay_ms: timed.loopDelayMs,
      store_time: {
        appends: storeTimes.appends,
        append_ms_mean: round(storeTimes.appendMs / Math.max(storeTimes.appends, 1)),
        stream_reads: storeTimes.streamReads,
        stream_read_ms_mean: round(storeTimes.streamReadMs / Math.max(storeTimes.streamReads, 1)),
        in_store_of_request_time: round(inStore),
        outside_store_of_request_time: round(1 - inStore),
      },
      ...(profiled?.cpu ? { cpu_share: { ...profiledFigures(profiled), ...profiled.cpu } } : {}),
    },
  };
}

/** The profiled pass's own figures, to show what the profiler cost. */
function profiledFigures({ report }: TimedPhase): Record<string, number> {
  const { p50Ms, p99Ms } = latencyPercentiles(report.latenciesMs);
  const requests = report.latenciesMs.length;
  return { requests, ops_per_s: round(requests / report.seconds, 1), p50_ms: p50Ms, p99_ms: p99Ms };
}

function configOf(options: HttpOptions): Record<string, unknown> {
  return {
    design: 'the API (createApp, as npm start) over HTTP; autocannon in a child process',
    role: process.env.ROLE ?? 'all',
    store: options.store,
    pool: options.pool,
    users: options.users,
    grant: options.grant,
    requests: options.requests,
    connections: options.connections,
    pipelining: 1,
    keep_alive: true,
    feature: FEATURE,
    seed: options.seed,
    profiled_requests: options.profiled,
    node: process.version,
  };
}

/** A PostgreSQL database on DATABASE_URL's server made for the run, or a PGlite directory; removed after it. */
async function freshDatabase(options: HttpOptions): Promise<{ location: EventStoreLocation; drop(): Promise<void> }> {
  if (options.store === 'pglite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'credits-bench-http-'));
    return {
      location: { kind: 'pglite', dataDir },
      drop: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_SERVER_URL;
  const database = `credits_bench_http_${process.pid}`;
  await admin(serverUrl, `drop database if exists ${database} with (force)`);
  await admin(serverUrl, `create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return {
    location: { kind: 'postgres', connectionString: url.toString(), poolSize: options.pool },
    drop: () => admin(serverUrl, `drop database ${database} with (force)`),
  };
}
