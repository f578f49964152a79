import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual, promisify } from 'node:util';
import type { INestApplication } from '@nestjs/common';
import { type AppConfig, loadConfig } from '@libs/config';
import { Client } from 'pg';
import request from 'supertest';
import { createApp } from '../../apps/api/src/create-app';
import { SIM_AUTHORIZATION, ledgerEnvironment } from '../../sim/system/ledger-environment';
import { LedgerProcesses } from '../../sim/system/ledger-processes';
import { builtCli, runCli } from '../support/cli-process';
import { type Report, checkOf, healthCheckOf, statusesOf } from '../support/health-check-client';
import { WEBHOOK_SECRET } from '../support/stripe-webhook-client';
import { TEST_API_KEYS, bearer } from '../support/test-app';
import { type TestDatabase, createTestDatabase, describeOnPostgres } from '../support/test-stores';

/**
 * The backup and restore drill: the way back from a lost server.
 *
 * On PostgreSQL, the ledger runs as deployed (two API processes and a
 * projector) under load while `pg_dump` takes a backup; then the processes are
 * killed, the dump is restored into a new database and the ledger started on
 * it. The restore must be a consistent snapshot of the event log (every event
 * identical to the lost database's, positions and all, each stream a prefix
 * of what the lost one held, every write acknowledged before the backup
 * began), the projector must carry on from the restored checkpoints, and the
 * health check must find the restored read model equal to the replay of the
 * events. Then the read model is thrown away and rebuilt from the events
 * alone (`npm run projections -- rebuild`): the events are the only thing a
 * backup must keep.
 *
 * On the embedded store (PGlite), a data directory copied while the service
 * is stopped is a backup: the service started on the copy, the original gone,
 * answers the same balances and a clean health check.
 */

const USERS = Array.from({ length: 30 }, (_, index) => `drill-${randomUUID().slice(0, 8)}-u${index}`);
const HEALTH_CLI = builtCli('api/src/health-check/health-check.cli.js');
const PROJECTIONS_CLI = builtCli('cli/src/projections.js');
/** The read model's tables (every projection's), emptied to show the events alone rebuild them. */
const READ_MODEL_TABLES = [
  'balances',
  'ledger_entries',
  'recharges',
  'recharge_streams',
  'grants',
  'grant_ledgers',
  'holds',
  'hold_streams',
];

type Answer = { status: number; body: Record<string, unknown> };

async function call(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: object; key?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { Authorization: SIM_AUTHORIZATION };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.key !== undefined) headers['Idempotency-Key'] = options.key;
  const response = await fetch(`${url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

type Bonus = { userId: string; key: string; body: { amount: number; reason: string } };

/**
 * Bonuses and face swaps for USERS, `inFlight` at a time, spread over the API
 * processes until stopped. Keeps the event ids of the acknowledged writes (in
 * the order acknowledged) and any answer a healthy ledger should not give.
 */
class Load {
  readonly acknowledged: string[] = [];
  readonly bonuses: Bonus[] = [];
  readonly unexpected: string[] = [];
  private stopping = false;
  private readonly workers: Promise<void>[];

  constructor(
    private readonly urls: string[],
    inFlight: number,
  ) {
    this.workers = Array.from({ length: inFlight }, (_, worker) => this.work(worker));
  }

  async until(acknowledged: number): Promise<void> {
    const deadline = Date.now() + 120_000;
    while (this.acknowledged.length < acknowledged && this.unexpected.length === 0) {
      if (Date.now() > deadline) throw new Error(`only ${this.acknowledged.length} writes acknowledged in 120 s`);
      await sleep(50);
    }
    expect(this.unexpected).toEqual([]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
  }

  private async work(worker: number): Promise<void> {
    for (let turn = 0; !this.stopping; turn++) {
      const url = this.urls[(worker + turn) % this.urls.length];
      const userId = USERS[Math.floor(Math.random() * USERS.length)];
      try {
        if (Math.random() < 0.4) await this.bonus(url, userId);
        else await this.consume(url, userId);
      } catch (error) {
        this.unexpected.push(`${userId}: ${String(error)}`);
      }
    }
  }

  private async bonus(url: string, userId: string): Promise<void> {
    const bonus = {
      userId,
      key: `bonus-${randomUUID()}`,
      body: { amount: 1 + Math.floor(Math.random() * 10), reason: 'drill' },
    };
    const answer = await call(url, 'POST', `/v1/users/${userId}/bonuses`, bonus);
    if (this.record(answer, userId)) this.bonuses.push(bonus);
  }

  private async consume(url: string, userId: string): Promise<void> {
    const body = { feature: 'face_swap', reference: `upload-${randomUUID()}` };
    const answer = await call(url, 'POST', `/v1/users/${userId}/consumptions`, { body });
    // 402: the user's credits ran out, as they do.
    if (answer.status !== 402) this.record(answer, userId);
  }

  /** True when the write was acknowledged; a lost race (503 concurrency-conflict) is retried by the next turn. */
  private record(answer: Answer, userId: string): boolean {
    if (answer.status === 201) {
      this.acknowledged.push(answer.body.eventId as string);
      return true;
    }
    if (answer.status !== 503 || answer.body.type !== '/problems/concurrency-conflict') {
      this.unexpected.push(`${userId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return false;
  }
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

type StoredEvent = {
  event_id: string;
  global_position: string;
  transaction_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: string;
  metadata: string;
};

/** Every event of a database's log, as stored, in position order. */
function eventsIn(url: string): Promise<StoredEvent[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<StoredEvent>(
      `select event_id::text, global_position::text, transaction_id::text, stream_id, stream_version, type,
              data::text, metadata::text
       from events order by events.global_position`,
    );
    return rows;
  });
}

/** Each stream's versions in position order. */
function versionsByStream(events: StoredEvent[]): Map<string, number[]> {
  const streams = new Map<string, number[]>();
  for (const event of events)
    streams.set(event.stream_id, [...(streams.get(event.stream_id) ?? []), event.stream_version]);
  return streams;
}

const run = promisify(execFile);

async function pgDump(databaseUrl: string, file: string): Promise<void> {
  await run('pg_dump', ['--format=custom', '--file', file, databaseUrl]);
}

/** `pg_restore` into an empty database: what it printed (it exits non-zero on any error, which then throws). */
async function pgRestore(file: string, databaseUrl: string): Promise<string> {
  const { stdout, stderr } = await run('pg_restore', ['--no-owner', '--exit-on-error', '--dbname', databaseUrl, file]);
  return `${stdout}${stderr}`;
}

/** The health check over HTTP once every projection has caught up (lag is a warning, so wait it out first). */
async function caughtUpHealthCheck(url: string): Promise<Report> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const answer = await call(url, 'GET', '/v1/admin/health-check');
    expect(answer.status).toBe(200);
    const report = answer.body as unknown as Report;
    const lag = Object.entries(checkOf(report, 'configuration').counts).filter(
      ([name, count]) => name.endsWith('-lag-events') && count > 0,
    );
    if (lag.length === 0) return report;
    if (Date.now() > deadline) throw new Error(`projections still behind after 120 s: ${JSON.stringify(lag)}`);
    await sleep(500);
  }
}

function expectNoFailedCheck(report: Report): void {
  const statuses = statusesOf(report);
  expect(Object.values(statuses)).not.toContain('failed');
  expect(statuses).toMatchObject({ 'read-model-vs-replay': 'ok', 'transaction-integrity': 'ok' });
}

/** Each user's balance as the read model answers it and as the replay of their events ends. */
async function balancesOverHttp(url: string): Promise<{ readModel: Map<string, number>; replay: Map<string, number> }> {
  const readModel = new Map<string, number>();
  const replay = new Map<string, number>();
  for (const userId of USERS) {
    const balance = await call(url, 'GET', `/v1/users/${userId}/balance`);
    const history = await call(url, 'GET', `/v1/audit/users/${userId}/history?format=json`);
    expect([balance.status, history.status]).toEqual([200, 200]);
    readModel.set(userId, balance.body.balance as number);
    replay.set(userId, history.body.balance as number);
  }
  return { readModel, replay };
}

/** The balances table, by user (users without a row are at 0). */
function balancesTable(url: string): Promise<Map<string, number>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ user_id: string; balance: string }>(
      'select user_id, balance::text as balance from balances where user_id = any($1)',
      [USERS],
    );
    const byUser = new Map(rows.map((row) => [row.user_id, Number(row.balance)]));
    return new Map(USERS.map((userId) => [userId, byUser.get(userId) ?? 0]));
  });
}

describeOnPostgres('backup and restore drill on PostgreSQL', () => {
  let workDir: string;
  const databases: TestDatabase[] = [];
  const systems: LedgerProcesses[] = [];

  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'credits-backup-drill-'));
  });

  afterAll(async () => {
    await Promise.all(systems.map((system) => system.stopAll()));
    await Promise.all(databases.map((database) => database.drop()));
    rmSync(workDir, { recursive: true, force: true });
  }, 120_000);

  async function newDatabase(): Promise<TestDatabase> {
    const database = await createTestDatabase();
    databases.push(database);
    return database;
  }

  async function startLedger(database: TestDatabase, name: string): Promise<LedgerProcesses> {
    const logs = join(workDir, `logs-${name}`);
    mkdirSync(logs, { recursive: true });
    const system = await LedgerProcesses.start(ledgerEnvironment(database.url), logs);
    systems.push(system);
    return system;
  }

  /** `npm run health` with the service's environment, its processes stopped. */
  function health(database: TestDatabase, ...args: string[]) {
    return runCli(HEALTH_CLI, ledgerEnvironment(database.url), ...args);
  }

  it('restores a pg_dump taken under load into a new database, and rebuilds the read model from its events alone', async () => {
    // The ledger on A, under load; the backup taken while it writes, and the writes going on after it.
    const a = await newDatabase();
    const onA = await startLedger(a, 'a');
    const load = new Load(onA.apiUrls, 6);
    let acknowledgedBeforeDump: string[];
    let bonusesBeforeDump: Bonus[];
    const dump = join(workDir, 'backup.dump');
    try {
      await load.until(150);
      acknowledgedBeforeDump = [...load.acknowledged];
      bonusesBeforeDump = [...load.bonuses];
      await pgDump(a.url, dump);
      const acknowledgedByDumpEnd = load.acknowledged.length;
      await load.until(acknowledgedByDumpEnd + 50);
    } finally {
      await load.stop();
    }
    expect(load.unexpected).toEqual([]);
    // The server is lost: its processes die mid-stride. Its database stays only to be compared with.
    await onA.stopAll();
    const eventsOfA = await eventsIn(a.url);

    // The way back: a new database from the dump, and the ledger on it.
    const b = await newDatabase();
    const restoreOutput = await pgRestore(dump, b.url);
    expect(restoreOutput).toBe('');
    const eventsOfB = await eventsIn(b.url);
    const lagAtRestore = JSON.parse(
      (await runCli(PROJECTIONS_CLI, { DATABASE_URL: b.url }, 'status', '--json')).stdout,
    );

    // B is A's log at the moment of the backup: the same events, positions and all, each stream a prefix of A's.
    const eventsOfAById = new Map(eventsOfA.map((event) => [event.event_id, event]));
    expect(eventsOfB.filter((event) => !isDeepStrictEqual(eventsOfAById.get(event.event_id), event))).toEqual([]);
    const streamsOfA = versionsByStream(eventsOfA);
    for (const [stream, versions] of versionsByStream(eventsOfB)) {
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, index) => index + 1));
      expect(versions).toEqual(streamsOfA.get(stream)!.slice(0, versions.length));
    }
    const idsOfB = new Set(eventsOfB.map((event) => event.event_id));
    expect(acknowledgedBeforeDump.filter((eventId) => !idsOfB.has(eventId))).toEqual([]);
    expect(eventsOfB.length).toBeLessThan(eventsOfA.length);

    const onB = await startLedger(b, 'b');
    const [url] = onB.apiUrls;
    expectNoFailedCheck(await caughtUpHealthCheck(url));
    const restored = await balancesOverHttp(url);
    expect(restored.readModel).toEqual(restored.replay);

    // The restored ledger takes writes: a key acknowledged before the backup is known, a new write is projected.
    const replayed = bonusesBeforeDump[0];
    const again = await call(url, 'POST', `/v1/users/${replayed.userId}/bonuses`, replayed);
    expect(again.status).toBe(200);
    const fresh = await call(url, 'POST', `/v1/users/${USERS[0]}/bonuses`, {
      key: `after-restore-${randomUUID()}`,
      body: { amount: 7, reason: 'after the restore' },
    });
    expect(fresh.status).toBe(201);
    const projected = await call(
      url,
      'GET',
      `/v1/users/${USERS[0]}/balance?minPosition=${String(fresh.body.position)}`,
    );
    expect(projected.body).toMatchObject({ balance: fresh.body.balance, version: fresh.body.version });
    const replay = (await balancesOverHttp(url)).replay;
    await onB.stopAll();

    // The read model lost: the health check fails, a rebuild from the events brings it back whole.
    await withClient(b.url, (client) => client.query(`truncate ${READ_MODEL_TABLES.join(', ')}`));
    const broken = await health(b, '--json');
    expect(broken.code).toBe(1);
    expect(checkOf(JSON.parse(broken.stdout) as Report, 'read-model-vs-replay').status).toBe('failed');
    const rebuilt = await runCli(PROJECTIONS_CLI, { DATABASE_URL: b.url }, 'rebuild');
    expect(rebuilt).toMatchObject({ code: 0 });
    const healed = await health(b, '--json');
    expect(healed).toMatchObject({ code: 0 });
    expectNoFailedCheck(JSON.parse(healed.stdout) as Report);
    expect(await balancesTable(b.url)).toEqual(replay);

    console.info(
      `backup drill: A ${eventsOfA.length} events, the dump ${eventsOfB.length} ` +
        `(${acknowledgedBeforeDump.length} acknowledged before it began); ` +
        `lag at restore ${JSON.stringify(lagAtRestore.map((lag: { projection: string; lagEvents: number }) => [lag.projection, lag.lagEvents]))}; ` +
        `rebuild: ${rebuilt.stdout.trim().replace(/\n/g, '; ')}`,
    );
  }, 300_000);
});

describe('backup and restore drill on the embedded store (PGlite)', () => {
  let workDir: string;
  let running: INestApplication | undefined;

  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'credits-pglite-drill-'));
  });

  afterAll(async () => {
    await running?.close();
    rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  /** The service in this process on the data directory `dataDir`, as `npm start` runs it (projector included). */
  async function startOn(dataDir: string): Promise<{ app: INestApplication; config: AppConfig }> {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET });
    running = await createApp(config, TEST_API_KEYS);
    return { app: running, config };
  }

  async function stop(app: INestApplication): Promise<void> {
    await app.close();
    running = undefined;
  }

  const users = USERS.slice(0, 5);

  /** Each user's balance from the read model, and from the replay of their stream. */
  async function balancesOf(app: INestApplication) {
    const readModel = new Map<string, number>();
    const replay = new Map<string, number>();
    for (const userId of users) {
      const balance = await request(app.getHttpServer())
        .get(`/v1/users/${userId}/balance`)
        .set('Authorization', bearer('read'))
        .expect(200);
      const history = await request(app.getHttpServer())
        .get(`/v1/audit/users/${userId}/history`)
        .set('Authorization', bearer('audit'))
        .expect(200);
      readModel.set(userId, balance.body.balance);
      replay.set(userId, history.body.balance);
    }
    return { readModel, replay };
  }

  it('restores a data directory copied while the service was stopped', async () => {
    const original = join(workDir, 'data');
    const before = await startOn(original);
    for (const [index, userId] of users.entries()) {
      await request(before.app.getHttpServer())
        .post(`/v1/users/${userId}/bonuses`)
        .set('Authorization', bearer('grant'))
        .set('Idempotency-Key', `welcome-${userId}`)
        .send({ amount: 20 + index, reason: 'welcome' })
        .expect(201);
      for (let upload = 0; upload <= index; upload++) {
        await request(before.app.getHttpServer())
          .post(`/v1/users/${userId}/consumptions`)
          .set('Authorization', bearer('consume'))
          .send({ feature: 'face_swap', reference: `upload-${upload}` })
          .expect(201);
      }
    }
    expectNoFailedCheck(await healthCheckOf({ ...before, close: () => stop(before.app) }));
    const balancesBefore = await balancesOf(before.app);
    await stop(before.app);

    // The backup: a plain copy of the stopped service's directory. Then the original is lost.
    const copy = join(workDir, 'restored');
    cpSync(original, copy, { recursive: true });
    rmSync(original, { recursive: true, force: true });

    const after = await startOn(copy);
    const balancesAfter = await balancesOf(after.app);
    expect(balancesAfter.readModel).toEqual(balancesBefore.readModel);
    expect(balancesAfter.replay).toEqual(balancesBefore.readModel);
    expectNoFailedCheck(await healthCheckOf({ ...after, close: () => stop(after.app) }));
    await stop(after.app);
  }, 180_000);
});
