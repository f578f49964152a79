import { MetricsRegistry } from '@libs/http';
import { type CreditsCommand, holdEndedIdempotencyKey } from '@libs/credits';
import {
  DuplicateEventIdError,
  EVENT_STORE_MIGRATIONS,
  type EventStore,
  PgliteDriver,
  SqlEventStore,
  migrate,
} from '@libs/event-store';
import { CreditsMetrics } from './credits-metrics';
import { CreditsCommandRunner, type CreditsCommandResult } from './credits-command.runner';

/**
 * The runner and keys that collide. The API keys a hold `hold:<Idempotency-Key>`; a hold's end has its own
 * namespace (`hold-ended:<holdId>`), so a client sending `Idempotency-Key: <holdId>:ended` can no longer take the
 * key (and event id) of that hold's capture, release and expiry. Found by a review, when the end key was
 * `hold:<holdId>:ended`: the capture was then refused by the store as a duplicate, decided again, and so on
 * forever. A second duplicate after a re-decision is now thrown, whatever caused it.
 */
const USER_ID = 'user-1';
const ANY_AMOUNT = { credits: 1, amountOverride: { amountMax: 1_000_000 } };
const now = () => new Date().toISOString();

function grant(key: string, amount: number): CreditsCommand {
  return {
    type: 'GrantBonus',
    data: { userId: USER_ID, amount, reason: 'test', metadata: {} },
    metadata: { idempotencyKey: `bonus:${key}`, now: now() },
  };
}

/** A hold as `PlaceHoldCommand` keys it: `hold:` and the client's Idempotency-Key. */
function placeHold(clientKey: string, amount: number): CreditsCommand {
  return {
    type: 'PlaceHold',
    data: {
      userId: USER_ID,
      feature: 'video',
      reference: clientKey,
      requestedAmount: amount,
      price: ANY_AMOUNT,
      metadata: {},
    },
    metadata: { idempotencyKey: `hold:${clientKey}`, now: now() },
  };
}

/** As `EndHoldHandler` runs a capture. */
function capture(holdId: string): CreditsCommand {
  return {
    type: 'CaptureHold',
    data: { userId: USER_ID, holdId },
    metadata: { idempotencyKey: holdEndedIdempotencyKey(holdId), now: now() },
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
    metadata: { idempotencyKey: `consume:${reference}`, now: now() },
  };
}

/** Appends past this many are a runaway loop: the wrapped store fails them, so the test ends. */
const APPENDS_MAX = 50;

/** The store, counting appends and failing those past `APPENDS_MAX` (PGlite answers in microtasks: a runaway
 * loop on it starves timers, so a timeout could never fire). */
function countingStore(store: EventStore): { store: EventStore; appends: () => number } {
  let appends = 0;
  const appendToStream: EventStore['appendToStream'] = (streamId, events, options) => {
    appends += 1;
    if (appends > APPENDS_MAX) return Promise.reject(new Error(`runaway: ${appends} appends`));
    return store.appendToStream(streamId, events, options);
  };
  return { store: Object.assign(Object.create(store) as EventStore, { appendToStream }), appends: () => appends };
}

describe('CreditsCommandRunner and a key shaped like a hold’s end key', () => {
  let store: EventStore;
  let counting: ReturnType<typeof countingStore>;
  let runner: CreditsCommandRunner;

  beforeEach(async () => {
    const driver = await PgliteDriver.open(undefined);
    await migrate(driver, EVENT_STORE_MIGRATIONS);
    store = new SqlEventStore(driver);
    counting = countingStore(store);
    runner = new CreditsCommandRunner(counting.store, 3, new CreditsMetrics(new MetricsRegistry()));
  });
  afterEach(() => store.close());

  it('answers the capture (and the user’s next commands) instead of retrying forever', async () => {
    await runner.run(grant('welcome', 100));
    const placed = await runner.run(placeHold('job-1', 30));
    expect(placed.kind).toBe('recorded');
    const holdId = (placed as Extract<CreditsCommandResult, { outcome: unknown }>).outcome.eventId;
    // Idempotency-Key: <holdId>:ended, 1 to 255 visible ASCII characters: accepted by idempotencyKeyFrom.
    const squatter = await runner.run(placeHold(`${holdId}:ended`, 10));
    expect(squatter.kind).toBe('recorded');

    const appendsBefore = counting.appends();
    const captured = await runner.run(capture(holdId)).catch((error: Error) => error.message);
    const nextCommand = await runner.run(consume('after', 1)).catch((error: Error) => error.message);

    // One capture is one append, two or three with a retry: never a loop.
    expect(counting.appends() - appendsBefore).toBeLessThanOrEqual(5);
    expect(captured).toMatchObject({ kind: expect.stringMatching(/recorded|refused/) });
    expect(nextCommand).toMatchObject({ kind: 'recorded' });
  });

  it('throws a duplicate found again after deciding anew, instead of deciding and appending forever', async () => {
    await runner.run(grant('welcome', 100));
    // Every append of the consumption is refused as a duplicate of an event no key of this stream explains; past
    // a few, a runaway loop (the bug) gets another error, so the test fails instead of hanging.
    let appends = 0;
    const refusing = Object.assign(Object.create(counting.store) as EventStore, {
      appendToStream: (streamId: string) => {
        appends += 1;
        if (appends > 10) return Promise.reject(new Error(`runaway: ${appends} appends`));
        return Promise.reject(new DuplicateEventIdError(streamId, ['00000000-0000-5000-8000-000000000000']));
      },
    });
    const stubborn = new CreditsCommandRunner(refusing, 3, new CreditsMetrics(new MetricsRegistry()));

    await expect(stubborn.run(consume('refused-as-duplicate', 1))).rejects.toBeInstanceOf(DuplicateEventIdError);
    expect(appends).toBe(2);
  });
});
