import { setImmediate as nextTurn } from 'node:timers/promises';
import { KurrentDbEventStore, RESUBSCRIBE_DELAY_MS_FIRST } from './kurrentdb-event-store';
import { KurrentDbModel } from './testing/kurrentdb-model';

const bonus = () => ({ id: crypto.randomUUID(), type: 'BonusGranted', schemaVersion: 1, data: {}, metadata: {} });

/**
 * The append signal of the KurrentDB store (a wake-up for the projector),
 * over the in-memory model of the client calls: no server can run here.
 * Timers are faked; the model's deliveries (setImmediate) are not.
 */
describe('the KurrentDB append signal', () => {
  let model: KurrentDbModel;
  let store: KurrentDbEventStore;
  let warnings: Array<Record<string, unknown>>;
  let signals: number;
  let stop: () => void;

  beforeEach(async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    model = new KurrentDbModel();
    warnings = [];
    store = new KurrentDbEventStore(model, { warn: (_message, details) => warnings.push(details) });
    signals = 0;
    stop = store.subscribeToAppends(() => signals++, { streamPrefixes: ['credits-'] });
    await nextTurn();
  });

  afterEach(async () => {
    stop();
    await store.close();
    jest.useRealTimers();
  });

  it('signals once caught up, then on each append to a stream of the prefixes only', async () => {
    expect(signals).toBe(1);

    await store.appendToStream('credits-user-1', [bonus(), bonus()], { expectedVersion: 'no_stream' });
    await store.appendToStream('stripe-unmatched-payments', [bonus()], { expectedVersion: 'any' });
    await nextTurn();

    expect(signals).toBe(3);
  });

  it('subscribes again after a dropped connection, and signals once caught up: an append meanwhile is covered by that signal', async () => {
    model.dropSubscriptions();
    await store.appendToStream('credits-user-1', [bonus()], { expectedVersion: 'no_stream' });
    await nextTurn();
    expect([model.subscriptionsMade, signals]).toEqual([1, 1]);

    jest.advanceTimersByTime(RESUBSCRIBE_DELAY_MS_FIRST);
    await nextTurn();

    expect([model.subscriptionsMade, signals]).toEqual([2, 2]);
  });

  it('backs off while the server stays unreachable, doubling the delay, and starts over once caught up', async () => {
    model.refuseNextSubscriptions(2);
    model.dropSubscriptions();
    await nextTurn();
    for (const delayMs of [100, 200, 400]) {
      jest.advanceTimersByTime(delayMs - 1);
      await nextTurn();
      const made = model.subscriptionsMade;
      jest.advanceTimersByTime(1);
      await nextTurn();
      expect(model.subscriptionsMade).toBe(made + 1);
    }
    expect(warnings.map((warning) => warning.delayMs)).toEqual([100, 200, 400]);
    expect(signals).toBe(2);

    model.dropSubscriptions();
    await nextTurn();
    expect(warnings.at(-1)).toMatchObject({ delayMs: RESUBSCRIBE_DELAY_MS_FIRST });
  });

  it('stops for good: no signal, and no subscription again after a drop', async () => {
    stop();
    model.dropSubscriptions();
    await store.appendToStream('credits-user-1', [bonus()], { expectedVersion: 'no_stream' });
    jest.advanceTimersByTime(10 * RESUBSCRIBE_DELAY_MS_FIRST);
    await nextTurn();

    expect([model.subscriptionsMade, signals]).toEqual([1, 1]);
  });
});
