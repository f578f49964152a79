import {
  type CommandOutcome,
  type CreditsCommand,
  type CreditsState,
  type FeaturePrice,
  creditsStreamId,
  evolve,
  initialState,
  parseCreditsEvent,
} from '@libs/credits';
import { MetricsRegistry } from '@libs/http';
import fc from 'fast-check';
import { KurrentDbEventStore } from '../../../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from '../../../../libs/event-store/src/kurrentdb/testing/kurrentdb-model';
import { CreditsCommandRunner, type CreditsCommandResult } from './credits-command.runner';
import { CreditsMetrics } from './credits-metrics';
import { foldCreditsStream } from './credits-stream.reader';

/**
 * Processes whose cached state of a stream is behind the store, on KurrentDB.
 * KurrentDB acknowledges an append at an old expected revision as "already
 * committed", writing nothing, when the event ids after that revision are the
 * batch's; ids depend on the stream, the idempotency key and the index only.
 * So another decision under a key already recorded (another amount, or the
 * same request priced otherwise) must never be answered `recorded`, nor
 * folded into the cache: the stream would then go below zero on the next
 * append, and stop folding. KurrentDB replaced by an in-memory model of its
 * client calls: no server can run here.
 */
const USER_ID = 'user-stale';
const STREAM_ID = creditsStreamId(USER_ID);
const NOW = '2026-11-28T00:00:00.000Z';
const LATER = '2026-11-28T00:05:00.000Z';
/** A feature whose caller may name the amount. */
const FEATURE = 'upscale';
const priceOf = (credits: number): FeaturePrice => ({ credits, amountOverride: { amountMax: 10 } });

function consume(
  userId: string,
  key: string,
  priced: { requestedAmount: number } | { price: number },
  now = NOW,
): CreditsCommand {
  const requestedAmount = 'requestedAmount' in priced ? priced.requestedAmount : undefined;
  const price = priceOf('price' in priced ? priced.price : 3);
  return {
    type: 'ConsumeCredits',
    data: { userId, feature: FEATURE, reference: `ref-${key}`, requestedAmount, price, metadata: {} },
    metadata: { idempotencyKey: key, now },
  };
}

function grant(userId: string, key: string, amount: number, now = NOW): CreditsCommand {
  return {
    type: 'GrantBonus',
    data: { userId, amount, reason: 'welcome', metadata: {} },
    metadata: { idempotencyKey: key, now },
  };
}

const runnerOn = (store: KurrentDbEventStore) =>
  new CreditsCommandRunner(store, 25, new CreditsMetrics(new MetricsRegistry()));

/** Folds the stored stream event by event, with every balance it goes through. */
async function foldStored(store: KurrentDbEventStore, streamId: string) {
  let state: CreditsState = initialState();
  const balances: number[] = [];
  for await (const event of store.readStream(streamId)) {
    state = evolve(state, parseCreditsEvent(event));
    balances.push(state.balance);
  }
  return { state, balances };
}

describe('two processes with stale caches, on KurrentDB (KurrentDB replaced by an in-memory model of its client calls: no server can run here)', () => {
  let store: KurrentDbEventStore;
  let a: CreditsCommandRunner;
  let b: CreditsCommandRunner;

  beforeEach(async () => {
    store = new KurrentDbEventStore(new KurrentDbModel());
    a = runnerOn(store);
    b = runnerOn(store);
    // Both processes cache the user at version 1, balance 10.
    expect(await a.run(grant(USER_ID, 'bonus:welcome', 10))).toMatchObject({ kind: 'recorded' });
    expect(await b.run(grant(USER_ID, 'bonus:welcome', 10))).toMatchObject({ kind: 'replayed' });
  });

  afterEach(() => store.close());

  const recordedByA = async (command: CreditsCommand): Promise<CommandOutcome> => {
    const result = await a.run(command);
    expect(result).toMatchObject({ kind: 'recorded', outcome: { amount: 8, balanceAfter: 2, streamVersion: 2 } });
    return (result as Extract<CreditsCommandResult, { outcome: CommandOutcome }>).outcome;
  };

  it('model: a key recorded by one process and reused with another amount by the other is refused there, never recorded; the stream still folds', async () => {
    await recordedByA(consume(USER_ID, 'K', { requestedAmount: 8 }));

    // B decides on its cache (version 1, balance 10): the same event id, another amount.
    expect(await b.run(consume(USER_ID, 'K', { requestedAmount: 1 }))).toEqual({
      kind: 'refused',
      userId: USER_ID,
      error: { type: 'idempotency-key-reused', idempotencyKey: 'K' },
    });
    expect(await b.run(consume(USER_ID, 'K2', { requestedAmount: 5 }))).toEqual({
      kind: 'refused',
      userId: USER_ID,
      error: { type: 'insufficient-credits', balance: 2, requested: 5 },
    });

    const { state, balances } = await foldStored(store, STREAM_ID);
    expect(balances).toEqual([10, 2]);
    expect((await foldCreditsStream(store, STREAM_ID)).balance).toBe(2);
    expect(state.version).toBe(2);
  });

  it('model: the same request priced otherwise by the stale process (a price-list change) replays the stored outcome', async () => {
    const stored = await recordedByA(consume(USER_ID, 'K', { price: 8 }));

    expect(await b.run(consume(USER_ID, 'K', { price: 1 }))).toEqual({
      kind: 'replayed',
      userId: USER_ID,
      outcome: stored,
    });
    expect(await b.run(consume(USER_ID, 'K2', { requestedAmount: 5 }))).toMatchObject({
      kind: 'refused',
      error: { type: 'insufficient-credits', balance: 2, requested: 5 },
    });
    expect((await foldStored(store, STREAM_ID)).balances).toEqual([10, 2]);
  });

  it('model: the same request retried later through the stale process is answered with the stored outcome, stored once', async () => {
    const stored = await recordedByA(consume(USER_ID, 'K', { requestedAmount: 8 }));

    const retried = await b.run(consume(USER_ID, 'K', { requestedAmount: 8 }, LATER));

    // KurrentDB acknowledges it as the retried append it is (only its time differs): the outcome is the stored one.
    expect(retried).toMatchObject({ userId: USER_ID, outcome: stored });
    expect(['recorded', 'replayed']).toContain(retried.kind);
    expect((await foldStored(store, STREAM_ID)).balances).toEqual([10, 2]);
  });
});

type Step = {
  runner: number;
  user: number;
  command: 'consume' | 'bonus';
  key: number;
  amount: number;
  byPrice: boolean;
  later: boolean;
};

const USERS = ['user-p', 'user-q'];
const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  runner: fc.nat(2),
  user: fc.nat(USERS.length - 1),
  command: fc.constantFrom<Step['command']>('consume', 'bonus'),
  // A small set of keys: they collide, with other amounts, other prices, other commands.
  key: fc.nat(3),
  amount: fc.integer({ min: 1, max: 6 }),
  byPrice: fc.boolean(),
  later: fc.boolean(),
});
/** Rounds run one after another; the steps of a round are fired at once. */
const roundsArbitrary = fc.array(fc.array(stepArbitrary, { minLength: 1, maxLength: 4 }), {
  minLength: 1,
  maxLength: 8,
});

function commandOf(step: Step): CreditsCommand {
  const userId = USERS[step.user];
  const key = `key-${step.key}`;
  const now = step.later ? LATER : NOW;
  if (step.command === 'bonus') return grant(userId, key, step.amount * 2, now);
  return consume(userId, key, step.byPrice ? { price: step.amount } : { requestedAmount: step.amount }, now);
}

describe('concurrent commands from processes with stale caches, on KurrentDB (KurrentDB replaced by an in-memory model of its client calls: no server can run here)', () => {
  it('model: every stored stream folds, never below zero, and every recorded or replayed answer is what the stream holds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 3 }), roundsArbitrary, async (runnerCount, rounds) => {
        const store = new KurrentDbEventStore(new KurrentDbModel());
        const runners = Array.from({ length: runnerCount }, () => runnerOn(store));
        const answered: Array<{ userId: string; key: string; result: CreditsCommandResult }> = [];
        for (const round of rounds) {
          const results = await Promise.all(
            round.map((step) => runners[step.runner % runnerCount].run(commandOf(step))),
          );
          results.forEach((result, index) => {
            const command = commandOf(round[index]);
            answered.push({ userId: command.data.userId, key: command.metadata.idempotencyKey, result });
          });
        }

        for (const userId of USERS) {
          const { state, balances } = await foldStored(store, creditsStreamId(userId));
          for (const balance of balances) expect(balance).toBeGreaterThanOrEqual(0);
          const ofUser = answered.filter((answer) => answer.userId === userId);
          for (const { key, result } of ofUser) {
            if (result.kind === 'refused') continue;
            expect(result.outcome).toEqual(state.outcomes.get(key));
          }
          const recordedKeys = new Set(ofUser.filter(({ result }) => result.kind === 'recorded').map(({ key }) => key));
          expect(state.version).toBe(recordedKeys.size);
          expect(new Set(state.outcomes.keys())).toEqual(recordedKeys);
        }
        await store.close();
      }),
      { numRuns: 100 },
    );
  });
});
