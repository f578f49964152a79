import { DeadlineExceededError } from '@kurrent/kurrentdb-client';
import { type CreditsCommand, creditsStreamId } from '@libs/credits';
import { MetricsRegistry } from '@libs/http';
import { KurrentDbEventStore } from '../../../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from '../../../../libs/event-store/src/kurrentdb/testing/kurrentdb-model';
import { CreditsCommandRunner } from './credits-command.runner';
import { CreditsMetrics } from './credits-metrics';

/**
 * A command retried after a timeout on KurrentDB, which deduplicates event
 * ids only for a retried append with an explicit revision: the runner's own
 * idempotency check (the outcome of the key, read from the stream) must make
 * the retry a replay, never a second event. KurrentDB replaced by an
 * in-memory model of its client calls: no server can run here.
 */
const USER_ID = 'user-1';

/** The model, except that one append commits and then answers the caller with a timeout. */
class TimingOutOnce extends KurrentDbModel {
  timeoutsLeft = 1;

  override async appendToStream(...args: Parameters<KurrentDbModel['appendToStream']>) {
    const result = await super.appendToStream(...args);
    if (this.timeoutsLeft-- > 0) throw new DeadlineExceededError();
    return result;
  }
}

function consume(reference: string): CreditsCommand {
  return {
    type: 'ConsumeCredits',
    data: { userId: USER_ID, feature: 'face_swap', reference, price: { credits: 1 }, metadata: {} },
    metadata: { idempotencyKey: `consume:${reference}`, now: '2026-11-28T00:00:00.000Z' },
  };
}

function grant(amount: number): CreditsCommand {
  return {
    type: 'GrantBonus',
    data: { userId: USER_ID, amount, reason: 'welcome', metadata: {} },
    metadata: { idempotencyKey: 'bonus:welcome', now: '2026-11-28T00:00:00.000Z' },
  };
}

describe('a command retried after a timeout, on KurrentDB (an in-memory model of its client calls)', () => {
  const runnerOn = (store: KurrentDbEventStore) =>
    new CreditsCommandRunner(store, 3, new CreditsMetrics(new MetricsRegistry()));

  async function typesInStream(store: KurrentDbEventStore): Promise<string[]> {
    const types: string[] = [];
    for await (const event of store.readStream(creditsStreamId(USER_ID))) types.push(event.type);
    return types;
  }

  it.each([
    ['by the same process (its cached state is behind the stored event)', true],
    ['by another process (no cached state)', false],
  ])('is stored once when retried %s', async (_, sameRunner) => {
    const model = new TimingOutOnce();
    model.timeoutsLeft = 0;
    const store = new KurrentDbEventStore(model);
    const first = runnerOn(store);
    await first.run(grant(5));
    model.timeoutsLeft = 1;

    await expect(first.run(consume('upload-1'))).rejects.toBeInstanceOf(DeadlineExceededError);
    const retried = await (sameRunner ? first : runnerOn(store)).run(consume('upload-1'));

    expect(retried).toMatchObject({ kind: 'replayed', outcome: { amount: 1, balanceAfter: 4, streamVersion: 2 } });
    expect(await typesInStream(store)).toEqual(['BonusGranted', 'CreditsConsumed']);
  });
});
