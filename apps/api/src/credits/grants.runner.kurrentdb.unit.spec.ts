import { DeadlineExceededError } from '@kurrent/kurrentdb-client';
import { type CreditsCommand, creditsStreamId, grantClosedIdempotencyKey, parseCreditsEvent } from '@libs/credits';
import { MetricsRegistry } from '@libs/http';
import { KurrentDbEventStore } from '../../../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from '../../../../libs/event-store/src/kurrentdb/testing/kurrentdb-model';
import { CreditsCommandRunner } from './credits-command.runner';
import { CreditsMetrics } from './credits-metrics';

/**
 * The grants' commands (a bonus with terms, a consumption drawing in spend order, a void, an expiry) through the
 * command runner on KurrentDB, each retried after an append that committed and answered with a timeout: stored
 * once, answered as a replay. KurrentDB replaced by an in-memory model of its client calls: no server runs here.
 */
const USER_ID = 'user-grants';
const T0 = '2026-12-01T00:00:00.000Z';
const DAY = 86_400_000;
const at = (days: number) => new Date(Date.parse(T0) + days * DAY).toISOString();

/** The model, except that the next `timeoutsLeft` appends commit and then answer the caller with a timeout. */
class TimingOut extends KurrentDbModel {
  timeoutsLeft = 0;

  override async appendToStream(...args: Parameters<KurrentDbModel['appendToStream']>) {
    const result = await super.appendToStream(...args);
    if (this.timeoutsLeft-- > 0) throw new DeadlineExceededError();
    return result;
  }
}

function bonus(key: string, amount: number, terms: Record<string, unknown>): CreditsCommand {
  return {
    type: 'GrantBonus',
    data: { userId: USER_ID, amount, reason: key, metadata: {}, ...terms },
    metadata: { idempotencyKey: `bonus:${key}`, now: T0 },
  };
}

function consume(reference: string, amount: number, now: string): CreditsCommand {
  return {
    type: 'ConsumeCredits',
    data: {
      userId: USER_ID,
      feature: 'video',
      reference,
      requestedAmount: amount,
      price: { credits: 1, amountOverride: { amountMax: 1000 } },
      metadata: {},
    },
    metadata: { idempotencyKey: `consume:${reference}`, now },
  };
}

describe('grants through the command runner on KurrentDB (an in-memory model of its client calls)', () => {
  it('stores each grant command once when its append timed out after committing, and the stream folds', async () => {
    const model = new TimingOut();
    const store = new KurrentDbEventStore(model);
    const runner = () => new CreditsCommandRunner(store, 3, new CreditsMetrics(new MetricsRegistry()));
    const retriedOnce = async (command: CreditsCommand) => {
      model.timeoutsLeft = 1;
      await expect(runner().run(command)).rejects.toBeInstanceOf(DeadlineExceededError);
      return runner().run(command);
    };

    const flash = await retriedOnce(bonus('flash', 10, { expiresIn: 'P1D', priority: 10 }));
    const sales = await retriedOnce(bonus('sales', 20, { category: 'paid' }));
    expect([flash.kind, sales.kind]).toEqual(['replayed', 'replayed']);
    const flashId = flash.kind === 'refused' ? '' : flash.outcome.eventId;
    const salesId = sales.kind === 'refused' ? '' : sales.outcome.eventId;

    const spent = await retriedOnce(consume('render-1', 12, T0));
    const voided = await retriedOnce({
      type: 'VoidGrant',
      data: { userId: USER_ID, grantId: salesId, reason: 'mistake', metadata: {} },
      metadata: { idempotencyKey: grantClosedIdempotencyKey(salesId, 'voided'), now: T0 },
    });
    const expired = await retriedOnce({
      type: 'ExpireGrant',
      data: { userId: USER_ID, grantId: flashId },
      metadata: { idempotencyKey: grantClosedIdempotencyKey(flashId, 'expired'), now: at(2) },
    });

    expect(spent).toMatchObject({ kind: 'replayed', outcome: { amount: 12, balanceAfter: 18 } });
    expect(voided).toMatchObject({ kind: 'replayed', outcome: { amount: 18, balanceAfter: 0 } });
    expect(expired).toMatchObject({ kind: 'replayed', outcome: { amount: 0, balanceAfter: 0 } });
    const events = [];
    for await (const stored of store.readStream(creditsStreamId(USER_ID))) events.push(parseCreditsEvent(stored));
    expect(events.map((event) => event.type)).toEqual([
      'BonusGranted',
      'BonusGranted',
      'CreditsConsumed',
      'GrantVoided',
      'CreditsExpired',
    ]);
    const consumed = events[2];
    expect(consumed.type === 'CreditsConsumed' && consumed.data.drawnFrom).toEqual([
      { grantId: flashId, credits: 10 },
      { grantId: salesId, credits: 2 },
    ]);
  });
});
