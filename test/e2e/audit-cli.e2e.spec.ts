import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { CreditsCommand } from '@libs/credits';
import { MetricsRegistry } from '@libs/http';
import { openEventStore } from '@libs/event-store';
import { CreditsCommandRunner } from '../../apps/api/src/credits/credits-command.runner';
import { CreditsMetrics } from '../../apps/api/src/credits/credits-metrics';
import { builtCli, runCli } from '../support/cli-process';

/**
 * `npm run audit` as a real process (built by jest's global setup) on an
 * embedded store made for the test: alice is recharged 100 at 09:00, spends
 * 30 at 10:00 and gets a bonus of 20 at 11:00 (balances 100, 70, 90); bob
 * spends nothing of his 50, granted at 10:30.
 */
const CLI = builtCli('cli/src/audit.js');
const AT = (time: string) => `2026-11-02T${time}:00.000Z`;

describe('npm run audit (embedded store)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'credits-audit-'));
    const store = await openEventStore({ kind: 'pglite', dataDir: join(dataDir, 'pglite') });
    const runner = new CreditsCommandRunner(store, 10, new CreditsMetrics(new MetricsRegistry()));
    for (const command of history()) {
      const result = await runner.run(command);
      if (result.kind !== 'recorded') throw new Error(`${command.type} was ${result.kind}`);
    }
    await store.close();
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const audit = (...args: string[]) => runCli(CLI, { DATA_DIR: dataDir }, ...args);

  it('replays a user as JSON, stopping at a moment', async () => {
    const whole = await audit('replay', 'alice', '--format', 'json');
    const asOf = await audit('replay', 'alice', '--as-of', AT('10:15'), '--format', 'json');

    expect(whole.code).toBe(0);
    expect(JSON.parse(whole.stdout)).toMatchObject({ userId: 'alice', balance: 90, version: 3 });
    expect(JSON.parse(asOf.stdout)).toMatchObject({ balance: 70, version: 2 });
  });

  it('prints a readable table by default, and CSV on request', async () => {
    const table = await audit('replay', 'alice', '--at-version', '2');
    const csv = await audit('replay', 'alice', '--format', 'csv');

    expect(table.stdout).toContain('alice: balance 70 at version 2');
    expect(table.stdout).toContain('CreditsConsumed');
    const rows = parse(csv.stdout, { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((row) => [row.type, row.delta, row.balanceAfter, row.apiKey])).toEqual([
      ['RechargeCompleted', '100', '100', 'ops'],
      ['CreditsConsumed', '-30', '70', 'backend'],
      ['BonusGranted', '20', '90', 'ops'],
    ]);
  });

  it('exports every movement of a window, of every user, to CSV', async () => {
    const out = join(dataDir, 'export.csv');

    const result = await audit('export', '--since', AT('09:30'), '--until', AT('11:00'), '--out', out);

    expect(result).toMatchObject({ code: 0, stdout: expect.stringContaining('exported 2 credit movements') });
    const rows = parse(readFileSync(out, 'utf8'), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((row) => [row.userId, row.type, row.delta])).toEqual([
      ['alice', 'CreditsConsumed', '-30'],
      ['bob', 'BonusGranted', '50'],
    ]);
  });

  it.each([
    ['no command', []],
    ['an unknown command', ['rewind']],
    ['replay without a user', ['replay']],
    ['both --as-of and --at-version', ['replay', 'alice', '--as-of', AT('10:00'), '--at-version', '1']],
    ['an --as-of that is not a time', ['replay', 'alice', '--as-of', 'yesterday']],
    ['export without --out', ['export', '--since', AT('09:00')]],
    ['an unknown flag', ['replay', 'alice', '--verbose']],
  ])('exits 2 with the usage for %s', async (_, args) => {
    const result = await audit(...args);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: npm run audit');
  });
});

function history(): CreditsCommand[] {
  return [
    {
      type: 'CompleteRecharge',
      data: {
        userId: 'alice',
        rechargeId: 'r-1',
        credits: 100,
        amountPaid: 999,
        currency: 'usd',
        source: { kind: 'manual' },
        metadata: {},
      },
      metadata: { idempotencyKey: 'recharge:r-1', now: AT('09:00'), causedBy: { apiKey: 'ops' } },
    },
    {
      type: 'ConsumeCredits',
      data: {
        userId: 'alice',
        feature: 'video_generation',
        reference: 'render-1',
        requestedAmount: 30,
        price: { credits: 10, amountOverride: { amountMax: 1_000 } },
        metadata: {},
      },
      metadata: { idempotencyKey: 'consume:render-1', now: AT('10:00'), causedBy: { apiKey: 'backend' } },
    },
    {
      type: 'GrantBonus',
      data: { userId: 'bob', amount: 50, reason: 'welcome', metadata: {} },
      metadata: { idempotencyKey: 'bonus:welcome', now: AT('10:30'), causedBy: { apiKey: 'ops' } },
    },
    {
      type: 'GrantBonus',
      data: { userId: 'alice', amount: 20, reason: 'welcome', metadata: {} },
      metadata: { idempotencyKey: 'bonus:welcome', now: AT('11:00'), causedBy: { apiKey: 'ops' } },
    },
  ];
}
