import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { INestApplication } from '@nestjs/common';
import { loadConfig } from '@libs/config';
import { epochPast } from '@libs/event-store';
import request from 'supertest';
import { createApp } from '../../apps/api/src/create-app';
import { ScratchPostgres } from '../../sim/infra/scratch-postgres';
import { builtCli, runCli } from '../support/cli-process';
import { healthCheckOf, statusesOf } from '../support/health-check-client';
import { TEST_API_KEYS, bearer, projectionsCaughtUp } from '../support/test-app';
import { describeOnPostgres } from '../support/test-stores';

const run = promisify(execFile);

/**
 * The lost server, restored onto a new one: `pg_dump` of a ledger whose cluster has handed out many
 * transaction ids, restored into a fresh cluster whose counter is far behind. The events keep their
 * transaction ids, and the feed orders by them: started as it is, the ledger would write events that sort
 * before the restored ones and that no projection would ever apply (balances stale, answered as current).
 * The ledger refuses to start there, naming the `pg_resetwal` arguments; once the operator has run it, the
 * ledger starts, its read model is clean and a new write is projected. Both clusters are the test's own
 * (`sim/infra/scratch-postgres.ts`), so the counters are known whatever the machine's server has done.
 */
const USERS = Array.from({ length: 4 }, (_, index) => `restored-${randomUUID().slice(0, 8)}-${index}`);
/**
 * Where the lost server's counter stands: epoch 2, and a 32-bit part far ahead of a fresh cluster's (a few
 * hundred ids). Raising the new cluster's epoch alone puts it past, its 32-bit counter left where it was.
 */
const LOST_SERVER_COUNTER = ['-e', '2', '-x', String(8 * 1_048_576)];

describeOnPostgres('restoring a dump into a new PostgreSQL cluster', () => {
  const clusters: ScratchPostgres[] = [];
  const apps: INestApplication[] = [];
  let workDir: string;

  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'credits-restore-'));
  });

  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    for (const cluster of clusters) await cluster.destroy();
    rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  async function cluster(): Promise<ScratchPostgres> {
    const started = await ScratchPostgres.start();
    clusters.push(started);
    await started.createDatabase('ledger');
    return started;
  }

  async function startLedger(databaseUrl: string): Promise<INestApplication> {
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      API_KEYS: 'unused:read:unused-secret-0123456789',
      LOG_LEVEL: 'silent',
    });
    const app = await createApp(config, TEST_API_KEYS);
    apps.push(app);
    return app;
  }

  async function bonus(app: INestApplication, userId: string, amount: number, key: string): Promise<void> {
    await request(app.getHttpServer())
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', key)
      .send({ amount, reason: 'restore drill' })
      .expect(201);
  }

  async function balances(app: INestApplication): Promise<number[]> {
    await projectionsCaughtUp(app, 30_000);
    const answers = await Promise.all(
      USERS.map((userId) =>
        request(app.getHttpServer())
          .get(`/v1/users/${userId}/balance`)
          .set('Authorization', bearer('read'))
          .expect(200),
      ),
    );
    return answers.map((answer) => answer.body.balance as number);
  }

  it('refuses to start until the counter is advanced, then serves and projects new writes', async () => {
    const lost = await cluster();
    await lost.resetWal(LOST_SERVER_COUNTER);
    const original = await startLedger(lost.url('ledger'));
    for (const [index, userId] of USERS.entries()) await bonus(original, userId, 10 + index, `welcome-${userId}`);
    const before = await balances(original);
    const dump = join(workDir, 'ledger.dump');
    await run('pg_dump', ['--format=custom', `--file=${dump}`, lost.url('ledger')]);
    await original.close();
    apps.splice(apps.indexOf(original), 1);

    const fresh = await cluster();
    await run('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${fresh.url('ledger')}`, dump]);
    // Started as `npm start` starts it: the process stops at once and says why, and what to run.
    const refused = await runCli(builtCli('main.js'), {
      DATABASE_URL: fresh.url('ledger'),
      API_KEYS: 'ops:admin:drill-secret-0123456789abcdef',
      PORT: '0',
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/restored from a logical dump into another PostgreSQL cluster/);
    const newest = BigInt(/newest (\d+)/.exec(refused.stderr)![1]);
    expect(epochPast(newest)).toBe(3n);
    expect(refused.stderr).toContain('pg_resetwal -e 3 <data directory>');

    // The operator's step, as the message says.
    await fresh.resetWal(['-e', '3']);
    const restored = await startLedger(fresh.url('ledger'));
    expect(await balances(restored)).toEqual(before);
    await bonus(restored, USERS[0], 5, `after-restore-${USERS[0]}`);
    expect((await balances(restored))[0]).toBe(before[0] + 5);
    const report = await healthCheckOf({ app: restored, config: loadConfig({}), close: () => restored.close() });
    expect(statusesOf(report)).toMatchObject({ 'read-model-vs-replay': 'ok', 'transaction-integrity': 'ok' });
  }, 240_000);
});
