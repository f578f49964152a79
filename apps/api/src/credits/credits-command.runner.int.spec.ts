import { MetricsRegistry } from '@libs/http';
import { type CreditsCommand, creditsStreamId } from '@libs/credits';
import {
  EVENT_STORE_MIGRATIONS,
  type EventStore,
  type EventToAppend,
  PgliteDriver,
  SqlEventStore,
  migrate,
} from '@libs/event-store';
import { CreditsMetrics } from './credits-metrics';
import { CommandRetriesExhaustedError, CreditsCommandRunner } from './credits-command.runner';
import { foldCreditsStream } from './credits-stream.reader';

const USER_ID = 'user-1';
const NOW = '2026-11-27T12:00:00.000Z';
/** A price that lets the test name any amount. */
const ANY_AMOUNT = { credits: 1, amountOverride: { amountMax: 1_000_000 } };

/**
 * A real PGlite store, wrapped so a test can slip another writer's append in
 * just before the runner's own: the interleaving two processes can produce.
 */
class InterleavingStore {
  readonly interleaved: Array<() => Promise<unknown>> = [];

  constructor(readonly store: EventStore) {}

  asEventStore(): EventStore {
    const appendToStream: EventStore['appendToStream'] = async (streamId, events, options) => {
      const otherWriter = this.interleaved.shift();
      if (otherWriter) await otherWriter();
      return this.store.appendToStream(streamId, events, options);
    };
    return Object.assign(Object.create(this.store) as EventStore, { appendToStream });
  }
}

function grant(key: string, amount: number): CreditsCommand {
  return {
    type: 'GrantBonus',
    data: { userId: USER_ID, amount, reason: 'test', metadata: {} },
    metadata: { idempotencyKey: key, now: NOW },
  };
}

function consume(reference: string, amount: number): CreditsCommand {
  return {
    type: 'ConsumeCredits',
    data: {
      userId: USER_ID,
      feature: 'face_swap',
      reference,
      requestedAmount: amount,
      price: ANY_AMOUNT,
      metadata: {},
    },
    metadata: { idempotencyKey: `consume:${reference}`, now: NOW },
  };
}

function recharge(rechargeId: string, credits: number): CreditsCommand {
  return {
    type: 'CompleteRecharge',
    data: {
      userId: USER_ID,
      rechargeId,
      credits,
      amountPaid: 500,
      currency: 'eur',
      source: { kind: 'stripe', paymentIntentId: rechargeId },
      metadata: {},
    },
    metadata: { idempotencyKey: `recharge:${rechargeId}`, now: NOW },
  };
}

async function collectStream(store: EventStore, streamId: string) {
  const events = [];
  for await (const event of store.readStream(streamId)) events.push(event);
  return events;
}

function otherWritersEvent(key: string): EventToAppend {
  return {
    id: crypto.randomUUID(),
    type: 'BonusGranted',
    schemaVersion: 1,
    data: { amount: 1, reason: 'other process', metadata: {} },
    metadata: { idempotencyKey: key, payloadFingerprint: 'other', occurredAt: NOW },
  };
}

describe('CreditsCommandRunner on PGlite', () => {
  let driver: PgliteDriver;
  let store: EventStore;
  let interleaving: InterleavingStore;
  let metrics: CreditsMetrics;

  beforeEach(async () => {
    driver = await PgliteDriver.open(undefined);
    await migrate(driver, EVENT_STORE_MIGRATIONS);
    store = new SqlEventStore(driver);
    interleaving = new InterleavingStore(store);
    metrics = new CreditsMetrics(new MetricsRegistry());
  });
  afterEach(() => store.close());

  const runner = (retriesMax: number) => new CreditsCommandRunner(interleaving.asEventStore(), retriesMax, metrics);
  const streamId = creditsStreamId(USER_ID);
  const appendByAnotherProcess = (key: string) => () =>
    store.appendToStream(streamId, [otherWritersEvent(key)], { expectedVersion: 'any' });

  describe('when another writer appends between the read and the append', () => {
    it('reads again, decides again on the new state, and records once', async () => {
      await runner(3).run(grant('grant-1', 5));
      interleaving.interleaved.push(appendByAnotherProcess('other-1'));

      const result = await runner(3).run(consume('upload-1', 2));

      // Decided first at version 1 (balance 5); recorded at version 3 after the other writer's bonus of 1.
      expect(result).toMatchObject({ kind: 'recorded', outcome: { amount: 2, balanceAfter: 4, streamVersion: 3 } });
      expect((await foldCreditsStream(store, streamId)).balance).toBe(4);
      expect(await metrics.retries.get()).toMatchObject({ values: [{ value: 1 }] });
    });

    it('refuses on the second decision when the other writer spent the credits first', async () => {
      await runner(3).run(grant('grant-1', 5));
      interleaving.interleaved.push(() => runner(0).run(consume('upload-other', 5)));

      const result = await runner(3).run(consume('upload-1', 5));

      expect(result).toEqual({
        kind: 'refused',
        userId: USER_ID,
        error: { type: 'insufficient-credits', balance: 0, requested: 5 },
      });
    });

    it('answers with the original outcome when the other writer recorded the same command', async () => {
      await runner(3).run(grant('grant-1', 5));
      let original: unknown;
      interleaving.interleaved.push(async () => (original = await runner(0).run(consume('upload-1', 2))));

      const result = await runner(3).run(consume('upload-1', 2));

      expect(result).toEqual({ ...(original as object), kind: 'replayed' });
      expect((await foldCreditsStream(store, streamId)).balance).toBe(3);
    });
  });

  describe('when its cached state is ahead of the store (a failover to a replica that lost commits)', () => {
    it('reads the stream again from its start and decides on what the store holds', async () => {
      const sameRunner = runner(3);
      await sameRunner.run(grant('grant-1', 5));
      await sameRunner.run(grant('grant-2', 7));
      await driver.query('delete from events where stream_id = $1 and stream_version = 2', [streamId]);

      const result = await sameRunner.run(consume('upload-1', 6));

      expect(result).toEqual({
        kind: 'refused',
        userId: USER_ID,
        error: { type: 'insufficient-credits', balance: 5, requested: 6 },
      });
      expect(await metrics.versionConflicts.get()).toMatchObject({ values: [{ value: 1 }] });
    });
  });

  describe('when commands for one stream arrive together', () => {
    /** Counts the appends the runner makes: batching shows as fewer appends than commands. */
    function countingAppends(): { store: EventStore; appends: () => number } {
      let appends = 0;
      const appendToStream: EventStore['appendToStream'] = (streamId, events, options) => {
        appends++;
        return store.appendToStream(streamId, events, options);
      };
      return { store: Object.assign(Object.create(store) as EventStore, { appendToStream }), appends: () => appends };
    }

    it('decides them in order on one state, appends them in few appends, and refuses exactly the overspend', async () => {
      const counted = countingAppends();
      const batching = new CreditsCommandRunner(counted.store, 3, metrics);
      await batching.run(grant('grant-1', 30));

      const results = await Promise.all(
        Array.from({ length: 50 }, (_, index) => batching.run(consume(`u${index}`, 1))),
      );

      const recorded = results.filter((result) => result.kind === 'recorded');
      expect(recorded).toHaveLength(30);
      expect(results.slice(30).every((result) => result.kind === 'refused')).toBe(true);
      expect(recorded.map((result) => result.kind === 'recorded' && result.outcome.balanceAfter)).toEqual(
        Array.from({ length: 30 }, (_, index) => 29 - index),
      );
      expect(counted.appends()).toBeLessThan(10);
      const stored = await collectStream(store, streamId);
      expect(stored.map((event) => event.streamVersion)).toEqual(Array.from({ length: 31 }, (_, index) => index + 1));
      expect((await foldCreditsStream(store, streamId)).balance).toBe(0);
      expect(await metrics.versionConflicts.get()).toMatchObject({ values: [{ value: 0 }] });
    });

    it('answers a key repeated within a batch with the first outcome, as stored', async () => {
      const batching = runner(3);
      await batching.run(grant('grant-1', 10));

      const [first, second, repeated] = await Promise.all([
        batching.run(consume('upload-1', 1)),
        batching.run(consume('upload-2', 2)),
        batching.run(consume('upload-2', 2)),
      ]);

      expect(first.kind).toBe('recorded');
      expect(second).toMatchObject({ kind: 'recorded', outcome: { balanceAfter: 7, streamVersion: 3 } });
      expect(repeated).toEqual({ ...second, kind: 'replayed' });
      const stored = await collectStream(store, streamId);
      expect(second.kind !== 'refused' && second.outcome.globalPosition).toBe(stored[2].globalPosition);
      expect(stored).toHaveLength(3);
    });

    it('keeps the order of a recharge between consumptions, appended on its own', async () => {
      const batching = runner(3);
      await batching.run(grant('grant-1', 1));

      const results = await Promise.all([
        batching.run(consume('upload-1', 1)),
        batching.run(consume('upload-2', 1)),
        batching.run(recharge('pi_1', 5)),
        batching.run(consume('upload-3', 1)),
      ]);

      expect(results.map((result) => result.kind)).toEqual(['recorded', 'refused', 'recorded', 'recorded']);
      const types = (await collectStream(store, streamId)).map((event) => event.type);
      expect(types).toEqual(['BonusGranted', 'CreditsConsumed', 'RechargeCompleted', 'CreditsConsumed']);
    });
  });

  describe('when one group of a batch fails to append', () => {
    it('answers the groups stored before it, fails only its own commands, and goes on with the next', async () => {
      const failingRecharges: EventStore = Object.assign(Object.create(store) as EventStore, {
        appendToStream: ((streamId, events, options) =>
          events.some((event) => event.type === 'RechargeCompleted')
            ? Promise.reject(new Error('connection lost'))
            : store.appendToStream(streamId, events, options)) satisfies EventStore['appendToStream'],
      });
      const batching = new CreditsCommandRunner(failingRecharges, 3, metrics);
      await batching.run(grant('grant-1', 5));

      const results = await Promise.allSettled([
        batching.run(consume('upload-1', 1)),
        batching.run(consume('upload-2', 1)),
        batching.run(recharge('pi_1', 5)),
        batching.run(consume('upload-3', 1)),
      ]);

      expect(results.map((result) => (result.status === 'fulfilled' ? result.value.kind : 'failed'))).toEqual([
        'recorded',
        'recorded',
        'failed',
        'recorded',
      ]);
      const types = (await collectStream(store, streamId)).map((event) => event.type);
      expect(types).toEqual(['BonusGranted', 'CreditsConsumed', 'CreditsConsumed', 'CreditsConsumed']);
    });
  });

  describe('when another process granted credits after this one cached the stream', () => {
    it('reads the stream before refusing, and records the consumption the new credits pay for', async () => {
      const cachedHere = runner(3);
      await cachedHere.run(grant('grant-1', 5));
      await runner(3).run(grant('grant-2', 10));

      const result = await cachedHere.run(consume('upload-1', 12));

      expect(result).toMatchObject({ kind: 'recorded', outcome: { balanceAfter: 3, streamVersion: 3 } });
    });
  });

  describe('when every attempt loses the race', () => {
    it('gives up after retriesMax retries and appends nothing of its own', async () => {
      await runner(3).run(grant('grant-1', 5));
      for (let index = 0; index < 3; index++) interleaving.interleaved.push(appendByAnotherProcess(`other-${index}`));

      await expect(runner(2).run(consume('upload-1', 1))).rejects.toThrow(CommandRetriesExhaustedError);
      const state = await foldCreditsStream(store, streamId);
      expect(state.version).toBe(4);
      expect(state.outcomes.has('consume:upload-1')).toBe(false);
    });
  });
});
