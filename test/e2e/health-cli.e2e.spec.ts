import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CreditsCommand } from '@libs/credits';
import { type EventStore, PgliteDriver, openEventStore } from '@libs/event-store';
import { MetricsRegistry } from '@libs/http';
import { CreditsCommandRunner } from '../../apps/api/src/credits/credits-command.runner';
import { CreditsMetrics } from '../../apps/api/src/credits/credits-metrics';
import { builtCli, runCli, runCliReadLate } from '../support/cli-process';
import { writeHistory } from '../support/credits-history';
import { WEBHOOK_SECRET } from '../support/stripe-webhook-client';
import { TEST_KEYS } from '../support/test-app';

/**
 * `npm run health` as a real process on an embedded store made for the test
 * (eight users with a bonus and a consumption each, never projected: the CLI
 * catches the projections up itself, as the service is stopped). Its exit
 * codes: 0 passed (warnings allowed), 1 some check failed, 2 could not run.
 */
const CLI = builtCli('api/src/health-check/health-check.cli.js');
const USERS = Array.from({ length: 8 }, (_, index) => `cli-user-${index}`);

/** The CLI's environment on the embedded store in `dataDir`, as the service would have it. */
const environmentOf = (dataDir: string) => ({
  DATA_DIR: dataDir,
  LOG_LEVEL: 'silent',
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  API_KEYS: Object.entries(TEST_KEYS)
    .map(([scope, secret]) => `${scope}-key:${scope}:${secret}`)
    .join(','),
});

/** A fresh embedded store in a temporary directory, written by `write`; removed after the suite. */
function storeWrittenBy(write: (store: EventStore) => Promise<unknown>): { dataDir: () => string } {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'credits-health-'));
    const store = await openEventStore({ kind: 'pglite', dataDir: join(dataDir, 'pglite') });
    try {
      await write(store);
    } finally {
      await store.close();
    }
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  return { dataDir: () => dataDir };
}

describe('npm run health (embedded store)', () => {
  const { dataDir } = storeWrittenBy(async (store) => {
    const runner = new CreditsCommandRunner(store, 10, new CreditsMetrics(new MetricsRegistry()));
    for (const command of USERS.flatMap(history)) {
      const result = await runner.run(command);
      if (result.kind !== 'recorded') throw new Error(`${command.type} was ${result.kind}`);
    }
  });

  const environment = () => environmentOf(dataDir());
  const health = (...args: string[]) => runCli(CLI, environment(), ...args);

  async function tamperWithBalanceOf(userId: string): Promise<void> {
    const driver = await PgliteDriver.open(join(dataDir(), 'pglite'));
    try {
      await driver.query('update balances set balance = balance - 1 where user_id = $1', [userId]);
    } finally {
      await driver.close();
    }
  }

  it('exits 0 on a healthy store, and --json prints the report alone', async () => {
    const result = await health('--json');

    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ status: 'warning', streamsReplayed: 8, eventsReplayed: 16 });
    expect(report.checks.find((check: { name: string }) => check.name === 'read-model-vs-replay').status).toBe('ok');
  });

  it('exits 1 naming a drifting user, repairs it with --repair (exit 0), and then passes', async () => {
    await tamperWithBalanceOf(USERS[3]);

    const found = await health();
    const repaired = await health('--repair');
    const after = await health('--users', USERS.join(','));

    expect(found.code).toBe(1);
    expect(found.stdout).toContain('FAILED  read-model-vs-replay');
    expect(found.stdout).toContain(`balance-differs (user ${USERS[3]})`);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toContain(`${USERS[3]}: rows rebuilt from 2 events, clean`);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('ok      read-model-vs-replay');
  });

  it.each([
    ['an unknown flag', ['--verbose']],
    ['a findings count that is not a whole number from 1', ['--findings', '0']],
    ['a --since that is not a time', ['--since', 'yesterday']],
    ['a user id that is not one', ['--users', 'a b']],
  ])('exits 2 with the usage for %s', async (_, args) => {
    const result = await health(...args);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: npm run health');
  });

  it('exits 2 when the database cannot be reached', async () => {
    const result = await runCli(CLI, { ...environment(), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the health check could not run');
  });
});

describe('npm run health --json into a pipe', () => {
  // A recharge of 1,000 credits each: with --amount-max 1, a finding per user, each naming a user id of 128 characters.
  const USERS_COUNT = 3_000;
  const prefix = 'u'.repeat(128 - `-${USERS_COUNT}`.length);
  const { dataDir } = storeWrittenBy((store) => writeHistory(store, { users: USERS_COUNT, eventsPerUser: 1, prefix }));

  it('prints the whole report, many times what a pipe holds (64 KiB), before it exits', async () => {
    // Read only a second later, as by a slow `| jq`: what was not flushed at the exit would be lost.
    const args = ['--json', '--findings', String(USERS_COUNT), '--amount-max', '1'];
    const result = await runCliReadLate(CLI, environmentOf(dataDir()), 1000, ...args);

    expect(result.code).toBe(0);
    expect(result.stdout.length).toBeGreaterThan(12 * 64 * 1024);
    const report = JSON.parse(result.stdout);
    const anomalies = report.checks.find((check: { name: string }) => check.name === 'data-anomalies');
    expect(anomalies).toMatchObject({ status: 'warning', findingsCount: USERS_COUNT });
    expect(anomalies.findings).toHaveLength(USERS_COUNT);
  });
});

function history(userId: string): CreditsCommand[] {
  const now = '2026-11-02T09:00:00.000Z';
  return [
    {
      type: 'GrantBonus',
      data: { userId, amount: 50, reason: 'welcome', metadata: {} },
      metadata: { idempotencyKey: 'bonus:welcome', now, causedBy: { apiKey: 'ops' } },
    },
    {
      type: 'ConsumeCredits',
      data: {
        userId,
        feature: 'face_swap',
        reference: 'swap-1',
        price: { credits: 1 },
        metadata: {},
      },
      metadata: { idempotencyKey: 'consume:swap-1', now, causedBy: { apiKey: 'backend' } },
    },
  ];
}
