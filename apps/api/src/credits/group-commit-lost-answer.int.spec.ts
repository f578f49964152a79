/**
 * The group commit's batch statement commits, then its answer is lost (the
 * connection dies): each append is tried again alone at its expected version,
 * which is a version conflict, never a second copy, and the runner answers the
 * commands from what is stored, a recharge included. On PGlite, whose driver
 * is wrapped to lose the answers.
 */
import { MetricsRegistry } from '@libs/http';
import { type CreditsCommand, creditsStreamId } from '@libs/credits';
import { EVENT_STORE_MIGRATIONS, PgliteDriver, SqlEventStore, type SqlDriver, migrate } from '@libs/event-store';
import { CreditsMetrics } from './credits-metrics';
import { CreditsCommandRunner } from './credits-command.runner';

const NOW = '2026-11-27T12:00:00.000Z';

function recharge(userId: string, rechargeId: string): CreditsCommand {
  return {
    type: 'CompleteRecharge',
    data: {
      userId,
      rechargeId,
      credits: 10,
      amountPaid: 500,
      currency: 'eur',
      source: { kind: 'stripe', paymentIntentId: rechargeId },
      metadata: {},
    },
    metadata: { idempotencyKey: `recharge:${rechargeId}`, now: NOW },
  };
}

function grant(userId: string, key: string): CreditsCommand {
  return {
    type: 'GrantBonus',
    data: { userId, amount: 3, reason: 'test', metadata: {} },
    metadata: { idempotencyKey: `bonus:${key}`, now: NOW },
  };
}

describe('a batch statement that committed but lost its answer, on PGlite', () => {
  it('stores each command once and answers it from what is stored', async () => {
    const real = await PgliteDriver.open(undefined);
    await migrate(real, EVENT_STORE_MIGRATIONS);
    let lost = 0;
    const driver: SqlDriver = Object.assign(Object.create(real) as SqlDriver, {
      query: async (text: string, params?: readonly unknown[], options?: { statementName?: string }) => {
        const rows = await real.query(text, params, options);
        if (options?.statementName === 'credits-ledger-append-batch' && lost < 3) {
          lost++;
          throw Object.assign(new Error('Connection terminated unexpectedly'), {});
        }
        return rows;
      },
    });
    const store = new SqlEventStore(driver);
    const runner = new CreditsCommandRunner(store, 5, new CreditsMetrics(new MetricsRegistry()));
    try {
      const results = await Promise.all([
        runner.run(recharge('user-a', 'pi_a')),
        runner.run(grant('user-b', 'k1')),
        runner.run(recharge('user-c', 'pi_c')),
      ]);
      expect(lost).toBeGreaterThan(0);
      expect(results.map((result) => result.kind).every((kind) => kind === 'recorded' || kind === 'replayed')).toBe(
        true,
      );
      for (const userId of ['user-a', 'user-b', 'user-c']) {
        const events = [];
        for await (const event of store.readStream(creditsStreamId(userId))) events.push(event);
        expect(events).toHaveLength(1);
      }
    } finally {
      await store.close();
    }
  });
});
