/**
 * `npm run bench -- projection`: how fast the projector catches up from zero
 * on 100,000 events, and how long a committed command takes to show in the
 * read model under a steady load. Prints one JSON line; checks the read model
 * against the fold of every stream and exits 1 if it differs.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECTOR_BATCH_SIZE_DEFAULT } from '@libs/config';
import { CREDITS_STREAM_PREFIX, creditsStreamId, rechargeEventId } from '@libs/credits';
import { type EventStore, type EventStoreLocation, type SqlDriver, openSqlEventStore } from '@libs/event-store';
import { PROJECTIONS, READ_MODEL_MIGRATIONS, Projector, readCheckpoint } from '@projections';
import { foldEveryStream, writeHistory } from '../test/support/credits-history';
import { latencyPercentiles } from './bench-figures';
import { temporaryDatabase } from './temporary-database';

const USERS = 1000;
const EVENTS_PER_USER = 100;
const STEADY_RATE_PER_SECOND = 200;
const STEADY_SECONDS = 10;

export async function projectionBench(): Promise<boolean> {
  const database = await temporaryDatabase('projection');
  const { store, driver } = await openSqlEventStore(database.location, READ_MODEL_MIGRATIONS);
  try {
    await writeHistory(store, { users: USERS, eventsPerUser: EVENTS_PER_USER, prefix: 'bench' });
    const catchUp = await timeCatchUp(driver, store);
    const verified = await readModelEqualsFold(driver, store);
    const delays = await commitToProjectionDelays(driver, store);
    console.log(
      JSON.stringify({
        workload: 'projection',
        store: database.location.kind,
        events: USERS * EVENTS_PER_USER,
        projections: PROJECTIONS.map(({ name }) => name),
        catchUpSeconds: round(catchUp.seconds),
        catchUpEventsPerSecond: Math.round((USERS * EVENTS_PER_USER) / catchUp.seconds),
        commitToProjection: {
          ratePerSecond: STEADY_RATE_PER_SECOND,
          samples: delays.length,
          ...latencyPercentiles(delays),
        },
        verified,
      }),
    );
    return verified;
  } finally {
    await store.close();
    await database.drop();
  }
}

/** Every projection from zero at once, as a projector process starting on an existing store does. */
async function timeCatchUp(driver: SqlDriver, store: EventStore): Promise<{ seconds: number }> {
  const projector = newProjector(driver, store);
  const started = performance.now();
  projector.start();
  while (!(await caughtUp(driver, store))) await sleep(20);
  const seconds = (performance.now() - started) / 1000;
  await projector.stop();
  return { seconds };
}

/**
 * One writer appends at a steady rate while the projector runs in the same
 * process (ROLE=all: appends wake it). A watcher polls the balance checkpoint;
 * with one sequential writer, feed order is position order, so a checkpoint
 * at or past a position means that append is projected.
 */
async function commitToProjectionDelays(driver: SqlDriver, store: EventStore) {
  const projector = newProjector(driver, store);
  const stopWaking = store.subscribeToAppends?.(() => projector.wake(), { streamPrefixes: [CREDITS_STREAM_PREFIX] });
  projector.start();
  const pending: Array<{ position: bigint; committedAt: number }> = [];
  const delays: number[] = [];
  let writing = true;
  const watcher = (async () => {
    while (writing || pending.length > 0) {
      const { position } = await readCheckpoint(driver, 'balance');
      const now = performance.now();
      while (pending.length > 0 && position !== undefined && pending[0].position <= BigInt(position)) {
        delays.push(now - pending.shift()!.committedAt);
      }
      await sleep(1);
    }
  })();
  const intervalMs = 1000 / STEADY_RATE_PER_SECOND;
  const started = performance.now();
  for (let index = 0; index < STEADY_RATE_PER_SECOND * STEADY_SECONDS; index++) {
    const appended = await store.appendToStream(creditsStreamId(`steady-${index % 50}`), [steadyEvent(index)], {
      expectedVersion: 'any',
    });
    pending.push({ position: BigInt(appended.lastGlobalPosition), committedAt: performance.now() });
    const next = started + (index + 1) * intervalMs;
    await sleep(Math.max(0, next - performance.now()));
  }
  writing = false;
  await watcher;
  stopWaking?.();
  await projector.stop();
  return delays;
}

function steadyEvent(index: number) {
  const rechargeId = `steady-${index}`;
  return {
    id: rechargeEventId(rechargeId),
    type: 'RechargeCompleted',
    schemaVersion: 1,
    data: { rechargeId, credits: 1, amountPaid: 1, currency: 'usd', source: { kind: 'manual' }, metadata: {} },
    metadata: {
      idempotencyKey: `recharge:${rechargeId}`,
      payloadFingerprint: 'bench',
      occurredAt: new Date().toISOString(),
    },
  };
}

function newProjector(driver: SqlDriver, store: EventStore): Projector {
  return new Projector(driver, store, PROJECTIONS, {
    batchSize: PROJECTOR_BATCH_SIZE_DEFAULT,
    idlePollMs: 100,
    lockRetryMs: 100,
    log: { error: (message) => console.error(message) },
  });
}

/**
 * No projection has an event left: one counted each, not the whole lag
 * (projectionLag counts up to 100,000 events, three times every 20 ms, which
 * loads the database the catch-up is measured on).
 */
async function caughtUp(driver: SqlDriver, store: EventStore): Promise<boolean> {
  const left = await Promise.all(
    PROJECTIONS.map(async ({ name }) => store.countEventsAfter((await readCheckpoint(driver, name)).position, 1)),
  );
  return left.every((count) => count === 0);
}

async function readModelEqualsFold(driver: SqlDriver, store: EventStore): Promise<boolean> {
  const folded = await foldEveryStream(store);
  const rows = await driver.query<{ user_id: string; balance: string; version: number }>(
    'select user_id, balance::text as balance, version from balances',
  );
  return (
    rows.length === folded.size &&
    rows.every((row) => {
      const state = folded.get(row.user_id);
      return state !== undefined && state.balance === Number(row.balance) && state.version === row.version;
    })
  );
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export type { EventStoreLocation };
