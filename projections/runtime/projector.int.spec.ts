import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CREDITS_STREAM_PREFIX,
  balanceDelta,
  type CreditsEvent,
  type CreditsEventMetadata,
  type CreditsState,
  creditsStreamId,
  evolve,
  initialState,
  parseCreditsEvent,
  userIdOfStream,
} from '@libs/credits';
import {
  type AppendResult,
  type EventStore,
  type EventStoreLocation,
  type ReadAllOptions,
  type RecordedEvent,
  type SqlDriver,
  type SqlExecutor,
  openSqlEventStore,
} from '@libs/event-store';
import { type StoreKind, collect, createTestDatabase, storeKindsUnderTest } from '../../test/support/test-stores';
import { balanceProjection } from '../balance/balance.projection';
import { findBalance } from '../balance/balance.queries';
import { ledgerEntryCounts } from '../ledger/ledger.queries';
import { PROJECTIONS, READ_MODEL_MIGRATIONS } from '../read-model';
import { catchUp } from './catch-up';
import { CHECKPOINTS_TABLE, readCheckpoint } from './checkpoints';
import { type Projection, ProjectionGapError, ProjectionInvariantError, type TableNames } from './projection';
import { LAG_EVENTS_COUNT_MAX, projectionLag } from './projection-lag';
import { Projector, type ProjectorLog, type ProjectorOptions } from './projector';
import { rebuildProjection } from './rebuild';
import { ProjectionBehindError, waitForPosition } from './wait-for-position';

/** How long a running projector may take to apply what was appended: far below the suite's timeout. */
const CAUGHT_UP_TIMEOUT_MS = 5_000;
/** Long enough that a test passing within CAUGHT_UP_TIMEOUT_MS cannot have waited for the poll. */
const POLL_NEVER_MS = 60_000;
const USERS_COUNT = 12;

describe.each(storeKindsUnderTest())('projections on %s', (kind) => {
  let subject: OpenedSubject;
  let writer: CreditsWriter;
  const cleanups: Array<() => Promise<void>> = [];

  // One store per kind (PGlite takes seconds to start), emptied before each test.
  beforeAll(async () => {
    subject = await openSubject(kind);
  });
  afterAll(() => subject?.close());

  beforeEach(async () => {
    await emptyStore(subject.driver);
    writer = new CreditsWriter(subject.store, USERS_COUNT);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A projector with short polls and lock retries, stopped after the test. */
  function startProjector(
    driver: SqlDriver,
    store: EventStore,
    options: Partial<ProjectorOptions> & { projections?: readonly Projection[] } = {},
  ): Projector {
    const { projections = PROJECTIONS, ...overrides } = options;
    const projector = new Projector(driver, store, projections, {
      batchSize: 50,
      idlePollMs: 10,
      lockRetryMs: 20,
      log: SILENT_LOG,
      ...overrides,
    });
    projector.start();
    cleanups.push(() => projector.stop());
    return projector;
  }

  describe('catchUp', () => {
    describe('given the streams of many users, interleaved, and a stream that is not a credits stream', () => {
      it('applies every event: balance and version of the fold of each stream, one ledger entry per event, one recharge row per RechargeCompleted', async () => {
        await writer.appendMany(200);
        await appendOtherStreamEvent(subject.store);
        await feedShowsEveryEvent(subject);
        const eventsCount = (await collect(subject.store.readAll())).length;

        for (const projection of PROJECTIONS) {
          const progress = await catchUp(subject.driver, subject.store, projection, { batchSize: 17 });
          expect(progress).toEqual({ eventsRead: eventsCount, position: await lastPositionInFeed(subject.store) });
        }

        await expectReadModelToBeTheFold(subject.driver, subject.store);
      });
    });

    describe('when one append holds the events at positions 9 and 10', () => {
      it('applies them in stream order: positions are ordered as numbers, never as text', async () => {
        const [firstUser, secondUser] = writer.userIds;
        await writer.appendTo(firstUser, 8);

        const straddling = await writer.appendTo(secondUser, 2);
        await feedShowsEveryEvent(subject);
        for (const projection of PROJECTIONS) {
          await catchUp(subject.driver, subject.store, projection, { batchSize: 50 });
        }

        expect(straddling.events.map(({ globalPosition }) => globalPosition)).toEqual(['9', '10']);
        await expectReadModelToBeTheFold(subject.driver, subject.store);
      });
    });

    describe('when the checkpoint is moved back over events already applied', () => {
      it('applies them again without changing a row (idempotent by stream version)', async () => {
        await writer.appendMany(120);
        await catchUpAll(subject);
        const applied = await readModelContents(subject.driver, { withTimes: true });
        const feed = await collect(subject.store.readAll());
        const middle = feed[Math.floor(feed.length / 2)].globalPosition;

        for (const [movedBackTo, eventsAgain] of [
          [middle, feed.length - Math.floor(feed.length / 2) - 1],
          [null, feed.length],
        ] as const) {
          await subject.driver.query(`update ${CHECKPOINTS_TABLE} set global_position = $1::bigint`, [movedBackTo]);
          for (const projection of PROJECTIONS) {
            const progress = await catchUp(subject.driver, subject.store, projection, { batchSize: 13 });
            expect(progress.eventsRead).toBe(eventsAgain);
          }
          expect(await readModelContents(subject.driver, { withTimes: true })).toEqual(applied);
        }
        await expectReadModelToBeTheFold(subject.driver, subject.store);
      });
    });

    describe('when a stream misses a version', () => {
      it('throws ProjectionGapError, rolls back the batch holding the gap, and keeps the checkpoint before it', async () => {
        const [gapUser, otherUser] = writer.userIds;
        await writer.appendMany(40);
        await catchUpAll(subject);
        const caughtUp = await readModelContents(subject.driver, { withTimes: true });
        const beforeGap = await writer.appendTo(otherUser, 2);
        const gapVersion = writer.versionOf(gapUser) + 2;
        const gapPosition = await insertBySql(subject.driver, gapUser, gapVersion, bonusGranted(10));
        await writer.appendTo(otherUser, 1);
        await feedShowsEveryEvent(subject);

        for (const projection of PROJECTIONS) {
          const wholeBatch = await failureOf(catchUp(subject.driver, subject.store, projection, { batchSize: 1_000 }));
          expect(wholeBatch).toBeInstanceOf(ProjectionGapError);
          expect(wholeBatch).toMatchObject({
            projection: projection.name,
            userId: gapUser,
            appliedVersion: gapVersion - 2,
            eventVersion: gapVersion,
          });
        }
        expect(await readModelContents(subject.driver, { withTimes: true })).toEqual(caughtUp);

        for (const projection of PROJECTIONS) {
          const eventByEvent = await failureOf(catchUp(subject.driver, subject.store, projection, { batchSize: 1 }));
          expect(eventByEvent).toBeInstanceOf(ProjectionGapError);
          const { position } = await readCheckpoint(subject.driver, projection.name);
          expect(position).toBe(beforeGap.lastGlobalPosition);
          expect(await subject.store.hasPassed(position, gapPosition)).toBe(false);
        }
      });
    });
  });

  describe('Projector', () => {
    describe('when it runs', () => {
      it('follows events appended after start, and no more after stop', async () => {
        const projector = startProjector(subject.driver, subject.store);
        await writer.appendMany(60);
        await allCaughtUp(subject);
        await expectReadModelToBeTheFold(subject.driver, subject.store);
        expect(projector.status().map(({ active, failure }) => ({ active, failure }))).toEqual(
          PROJECTIONS.map(() => ({ active: true, failure: undefined })),
        );

        await projector.stop();
        await writer.appendMany(3);
        await feedShowsEveryEvent(subject);
        await sleep(100);

        for (const { name } of PROJECTIONS) {
          expect((await projectionLag(subject.driver, subject.store, name)).lagEvents).toBeGreaterThan(0);
        }
        expect(projector.status().every(({ active }) => !active)).toBe(true);
      });

      it('applies an append at once on wake(), without waiting for its poll', async () => {
        const first = await writer.appendMany(5);
        await feedShowsEveryEvent(subject);
        const projector = startProjector(subject.driver, subject.store, { idlePollMs: POLL_NEVER_MS });
        // Each loop pauses for its poll as soon as it has recorded the position it reached.
        await eventually('every loop caught up and paused', () =>
          projector.status().every(({ position }) => position === first.at(-1)!.lastGlobalPosition),
        );

        await writer.appendMany(5);
        await feedShowsEveryEvent(subject);
        projector.wake();

        await allCaughtUp(subject);
        await expectReadModelToBeTheFold(subject.driver, subject.store);
      });

      it('does not lose a wake() that comes while it is reading the feed', async () => {
        const reads = holdingReads(subject.store);
        const projector = startProjector(subject.driver, reads.store, {
          idlePollMs: POLL_NEVER_MS,
          projections: [balanceProjection],
        });
        // The loop has read the (empty) feed and has not paused yet when the append and its wake come.
        await reads.firstReadDone;

        await writer.appendMany(1);
        await feedShowsEveryEvent(subject);
        projector.wake();
        reads.release();

        await caughtUp(subject, [balanceProjection]);
      });
    });

    describe('when an event breaks an invariant', () => {
      it('stops a projection at a gap, reports it in status(), and applies nothing more of it', async () => {
        const log = recordingLog();
        const projector = startProjector(subject.driver, subject.store, { log });
        const [gapUser, otherUser] = writer.userIds;
        await writer.appendMany(30);
        const gapVersion = writer.versionOf(gapUser) + 2;
        await insertBySql(subject.driver, gapUser, gapVersion, bonusGranted(10));

        await eventually('every projection failed', () => projector.status().every(({ failure }) => failure));
        for (const progress of projector.status()) {
          expect(progress.failure).toBeInstanceOf(ProjectionGapError);
          expect(progress.failure).toMatchObject({
            projection: progress.projection,
            userId: gapUser,
            appliedVersion: gapVersion - 2,
            eventVersion: gapVersion,
          });
        }
        expect(log.errors).toEqual(
          expect.arrayContaining(PROJECTIONS.map(({ name }) => expect.stringContaining(`projection ${name} stopped`))),
        );

        const stoppedAt = await checkpoints(subject.driver);
        await writer.appendTo(otherUser, 2);
        await feedShowsEveryEvent(subject);
        await sleep(100);
        expect(await checkpoints(subject.driver)).toEqual(stoppedAt);
      });

      it('stops balance and ledger at an event that would overdraw, while recharges and holds go on', async () => {
        const projector = startProjector(subject.driver, subject.store);
        const [overdrawnUser] = writer.userIds;
        await writer.appendMany(30);
        await insertBySql(
          subject.driver,
          overdrawnUser,
          writer.versionOf(overdrawnUser) + 1,
          creditsConsumed(writer.balanceOf(overdrawnUser) + 1),
        );
        await writer.appendMany(10);

        // Recharges and holds follow no balance: a consumption is nothing to them.
        const goingOn = ['recharges', 'holds'];
        await eventually('balance and ledger failed', () =>
          projector.status().every(({ projection, failure }) => goingOn.includes(projection) || failure),
        );
        const recharges = PROJECTIONS.filter(({ name }) => goingOn.includes(name));
        await caughtUp(subject, recharges);
        const [balance, ledger, recharge] = projector.status();
        for (const stopped of [balance, ledger]) {
          expect(stopped.failure).toBeInstanceOf(ProjectionInvariantError);
          expect(stopped.failure).not.toBeInstanceOf(ProjectionGapError);
          expect(stopped.failure!.message).toContain(`user ${overdrawnUser} would go below zero`);
        }
        expect(recharge).toMatchObject({ projection: 'recharges', active: true, failure: undefined });
      });
    });

    describe('when two instances run on one database', () => {
      it('applies every event exactly once, with one instance active per projection; the other takes over on stop', async () => {
        const second = kind === 'postgres' ? await openSqlEventStore(subject.location, READ_MODEL_MIGRATIONS) : subject;
        if (second !== subject) cleanups.push(() => second.store.close());
        const applied = new Map<string, string[]>(PROJECTIONS.map(({ name }) => [name, []]));
        const counted = PROJECTIONS.map((projection) => countingApplies(projection, applied.get(projection.name)!));
        const instances = [
          startProjector(subject.driver, subject.store, { projections: counted, batchSize: 7 }),
          startProjector(second.driver, second.store, { projections: counted, batchSize: 7 }),
        ];

        await writer.appendMany(150);
        await allCaughtUp(subject);

        await expectReadModelToBeTheFold(subject.driver, subject.store);
        const credits = await creditsPositions(subject.store);
        for (const positions of applied.values()) expect([...positions].sort()).toEqual(credits);
        const activeInstances = (name: string) =>
          instances.filter((instance) => instance.status().find(({ projection }) => projection === name)!.active);
        for (const { name } of PROJECTIONS) expect(activeInstances(name)).toHaveLength(1);

        const [stopped] = activeInstances('balance');
        const remaining = instances.find((instance) => instance !== stopped);
        await stopped.stop();
        await writer.appendMany(30);
        await allCaughtUp(subject);

        await expectReadModelToBeTheFold(subject.driver, subject.store);
        const allCredits = await creditsPositions(subject.store);
        for (const positions of applied.values()) expect([...positions].sort()).toEqual(allCredits);
        for (const { name } of PROJECTIONS) expect(activeInstances(name)).toEqual([remaining]);
      });
    });
  });

  describe('rebuildProjection', () => {
    describe('when no projector runs', () => {
      it('rebuilds the same rows as the incremental model, moves no checkpoint, and leaves no table behind', async () => {
        await writer.appendMany(150);
        await catchUpAll(subject);
        const incremental = await readModelContents(subject.driver, { withTimes: false });
        const checkpointsBefore = await checkpoints(subject.driver);

        for (const projection of PROJECTIONS) {
          const progress = await rebuildProjection(subject.driver, subject.store, projection, { batchSize: 23 });
          expect(progress.position).toBe(await lastPositionInFeed(subject.store));
        }

        expect(await readModelContents(subject.driver, { withTimes: false })).toEqual(incremental);
        expect(await checkpoints(subject.driver)).toEqual(checkpointsBefore);
        expect(await tablesNamedLike(subject.driver, '%\\_\\_%')).toEqual([]);
      });
    });

    describe('when the feed holds a gap', () => {
      it('throws ProjectionGapError and leaves the live model as it was, with no table or checkpoint of its own behind', async () => {
        const [gapUser] = writer.userIds;
        await writer.appendMany(40);
        await catchUpAll(subject);
        const live = await readModelContents(subject.driver, { withTimes: true });
        const checkpointsBefore = await checkpoints(subject.driver);
        await insertBySql(subject.driver, gapUser, writer.versionOf(gapUser) + 2, bonusGranted(10));
        await feedShowsEveryEvent(subject);

        const failure = await failureOf(
          rebuildProjection(subject.driver, subject.store, balanceProjection, { batchSize: 10 }),
        );

        expect(failure).toBeInstanceOf(ProjectionGapError);
        expect(await readModelContents(subject.driver, { withTimes: true })).toEqual(live);
        expect(await tablesNamedLike(subject.driver, '%\\_\\_%')).toEqual([]);
        expect(await checkpoints(subject.driver)).toEqual(checkpointsBefore);
      });
    });

    describe('while a projector runs and appends keep arriving', () => {
      it('ends with the rows of a model caught up from the first event, and the projector goes on', async () => {
        const projector = startProjector(subject.driver, subject.store, { batchSize: 20 });
        await writer.appendMany(200);
        const appender = keepAppending(writer);

        const appendsBefore = appender.appendsCount();
        const checkpointWatch = watchBalanceCheckpoint(subject);
        for (const projection of PROJECTIONS) {
          await rebuildProjection(subject.driver, subject.store, projection, { batchSize: 20 });
        }
        const appendsDuring = appender.appendsCount() - appendsBefore;
        // A reader that waited for a position must never see the model go back before it.
        expect(await checkpointWatch.stop()).toEqual([]);
        await sleep(50);
        await appender.stop();
        await allCaughtUp(subject);

        expect(appendsDuring).toBeGreaterThan(0);
        expect(projector.status().map(({ failure }) => failure)).toEqual(PROJECTIONS.map(() => undefined));
        await expectReadModelToBeTheFold(subject.driver, subject.store);
        const reference = await catchUpIntoReferenceTables(subject);
        for (const [live, referenceTable] of reference) {
          expect(await tableContents(subject.driver, live, { withTimes: false })).toEqual(
            await tableContents(subject.driver, referenceTable, { withTimes: false }),
          );
        }
        expect(await tablesNamedLike(subject.driver, '%\\_\\_%')).toEqual([]);
      });
    });
  });

  describe('waitForPosition', () => {
    describe('when the projector runs', () => {
      it('resolves once the projection has applied the position: the write can then be read', async () => {
        startProjector(subject.driver, subject.store);
        const [userId] = writer.userIds;

        const appended = await writer.appendTo(userId, 3);
        await waitForPosition(
          subject.driver,
          subject.store,
          'balance',
          appended.lastGlobalPosition,
          CAUGHT_UP_TIMEOUT_MS,
        );

        expect(await findBalance(subject.driver, userId)).toMatchObject({
          version: 3,
          balance: writer.balanceOf(userId),
        });
      });
    });

    describe('when the projector is stopped', () => {
      it('throws ProjectionBehindError, naming the checkpoint, once its timeout has passed', async () => {
        const projector = startProjector(subject.driver, subject.store);
        await writer.appendMany(10);
        await allCaughtUp(subject);
        await projector.stop();
        const { position: checkpoint } = await readCheckpoint(subject.driver, 'balance');

        const appended = await writer.appendMany(1);
        const position = appended[0].lastGlobalPosition;
        const startedAt = Date.now();
        const behind = await failureOf(waitForPosition(subject.driver, subject.store, 'balance', position, 150));

        expect(Date.now() - startedAt).toBeGreaterThanOrEqual(150);
        expect(behind).toBeInstanceOf(ProjectionBehindError);
        expect(behind).toMatchObject({ projection: 'balance', position, checkpoint });
      });
    });
  });

  describe('projectionLag', () => {
    describe('when the store is empty', () => {
      it('reports no position and no lag', async () => {
        expect(await projectionLag(subject.driver, subject.store, 'balance')).toEqual({
          projection: 'balance',
          position: undefined,
          lagEvents: 0,
          lagSeconds: 0,
        });
      });
    });

    describe('when events were committed after the checkpoint', () => {
      it('counts them, of every stream, and the age of the oldest', async () => {
        await writer.appendTo(writer.userIds[0], 3);
        await feedShowsEveryEvent(subject);
        await catchUp(subject.driver, subject.store, balanceProjection, { batchSize: 10 });

        await writer.appendTo(writer.userIds[1], 2);
        await appendOtherStreamEvent(subject.store);
        await feedShowsEveryEvent(subject);
        await sleep(300);

        const lag = await projectionLag(subject.driver, subject.store, 'balance');
        expect(lag.lagEvents).toBe(3);
        expect(lag.lagSeconds).toBeGreaterThanOrEqual(0.25);
        expect((await projectionLag(subject.driver, subject.store, 'ledger')).lagEvents).toBe(6);
      });
    });

    describe('when the projection applied every event', () => {
      it('reports the last position and no lag', async () => {
        await writer.appendMany(20);
        await appendOtherStreamEvent(subject.store);
        await catchUpAll(subject);

        expect(await projectionLag(subject.driver, subject.store, 'balance')).toEqual({
          projection: 'balance',
          position: await lastPositionInFeed(subject.store),
          lagEvents: 0,
          lagSeconds: 0,
        });
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The store under test

type Subject = { location: EventStoreLocation; store: EventStore; driver: SqlDriver };
type OpenedSubject = Subject & { close(): Promise<void> };

/** No event, no checkpoint, no row; the read model's tables only (what a rebuild or a test left is dropped). */
async function emptyStore(driver: SqlDriver): Promise<void> {
  const tables = PROJECTIONS.flatMap((projection) => Object.values(projection.tables));
  const leftovers = await driver.query<{ tablename: string }>(
    `select tablename from pg_tables where schemaname = 'public' and not (tablename = any($1::text[]))`,
    [['events', 'schema_migrations', CHECKPOINTS_TABLE, ...tables]],
  );
  for (const { tablename } of leftovers) await driver.exec(`drop table if exists ${tablename} cascade`);
  await driver.exec(`truncate events, ${CHECKPOINTS_TABLE}, ${tables.join(', ')} restart identity`);
}

async function openSubject(kind: StoreKind): Promise<OpenedSubject> {
  const database = kind === 'postgres' ? await createTestDatabase() : undefined;
  const location: EventStoreLocation = database
    ? { kind: 'postgres', connectionString: database.url, poolSize: 8 }
    : { kind: 'pglite', dataDir: undefined };
  const { store, driver } = await openSqlEventStore(location, READ_MODEL_MIGRATIONS);
  return {
    location,
    store,
    driver,
    close: async () => {
      await store.close();
      await database?.drop();
    },
  };
}

const SILENT_LOG: ProjectorLog = { error: () => undefined };

function recordingLog(): ProjectorLog & { errors: string[] } {
  const errors: string[] = [];
  return { error: (message) => errors.push(message), errors };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing events

/**
 * Appends valid credits events to the streams of a few users, as the command
 * handlers would: each stream's balance never goes below zero, every event has
 * its own id and idempotency key. Random, but the same sequence on every run.
 */
class CreditsWriter {
  readonly userIds: string[];
  private readonly streams = new Map<string, { version: number; balance: number }>();
  private readonly random = seededRandom(20_250_301);

  constructor(
    private readonly store: EventStore,
    usersCount: number,
  ) {
    this.userIds = Array.from({ length: usersCount }, () => `user-${randomUUID()}`);
    for (const userId of this.userIds) this.streams.set(userId, { version: 0, balance: 0 });
  }

  /** Appends `eventsCount` events, one to three per append, to users taken at random. */
  async appendMany(eventsCount: number): Promise<AppendResult[]> {
    const results: AppendResult[] = [];
    for (let appended = 0; appended < eventsCount;) {
      const count = Math.min(eventsCount - appended, 1 + Math.floor(this.random() * 3));
      results.push(await this.appendTo(this.userIds[Math.floor(this.random() * this.userIds.length)], count));
      appended += count;
    }
    return results;
  }

  async appendTo(userId: string, eventsCount: number): Promise<AppendResult> {
    const stream = this.streams.get(userId)!;
    let balance = stream.balance;
    const events = Array.from({ length: eventsCount }, () => {
      const event = this.nextEvent(balance);
      balance += balanceDelta(event);
      return event;
    });
    const result = await this.store.appendToStream(creditsStreamId(userId), events, {
      expectedVersion: stream.version,
    });
    this.streams.set(userId, { version: result.nextStreamVersion, balance });
    return result;
  }

  versionOf(userId: string): number {
    return this.streams.get(userId)!.version;
  }

  balanceOf(userId: string): number {
    return this.streams.get(userId)!.balance;
  }

  private nextEvent(balance: number): CreditsEvent {
    const roll = this.random();
    if (balance === 0 || roll < 0.25) return rechargeCompleted(10 + Math.floor(this.random() * 500));
    if (roll < 0.4) return bonusGranted(1 + Math.floor(this.random() * 50));
    return creditsConsumed(1 + Math.floor(this.random() * balance));
  }
}

/** Appends in a loop, until stopped, while the test does something else. */
function keepAppending(writer: CreditsWriter) {
  let running = true;
  let appendsCount = 0;
  let failure: Error | undefined;
  const loop = (async () => {
    while (running) {
      await writer.appendMany(1 + Math.floor(Math.random() * 3));
      appendsCount += 1;
      await sleep(2);
    }
  })().catch((error: Error) => (failure = error));
  return {
    appendsCount: () => appendsCount,
    stop: async () => {
      running = false;
      await loop;
      if (failure !== undefined) throw failure;
    },
  };
}

/** What no command handler would ever append (a gap, an overdraft): written around the store, straight into `events`. */
async function insertBySql(driver: SqlDriver, userId: string, version: number, event: CreditsEvent): Promise<string> {
  const [row] = await driver.query<{ global_position: string }>(
    `insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
     values ($1, $2, $3::uuid, $4, $5, $6::jsonb, $7::jsonb) returning global_position::text as global_position`,
    [
      creditsStreamId(userId),
      version,
      event.id,
      event.type,
      event.schemaVersion,
      JSON.stringify(event.data),
      JSON.stringify(event.metadata),
    ],
  );
  return row.global_position;
}

/** An event of another kind of stream, in the same feed: projections read past it. */
async function appendOtherStreamEvent(store: EventStore): Promise<void> {
  await store.appendToStream(
    `invoices-${randomUUID()}`,
    [{ id: randomUUID(), type: 'InvoiceSent', schemaVersion: 1, data: { invoice: 'in_1' }, metadata: {} }],
    { expectedVersion: 'no_stream' },
  );
}

function rechargeCompleted(credits: number): CreditsEvent {
  const rechargeId = `recharge-${randomUUID()}`;
  return {
    type: 'RechargeCompleted',
    schemaVersion: 3,
    id: randomUUID(),
    data: {
      rechargeId,
      credits,
      amountPaid: credits * 10,
      currency: 'eur',
      source: { kind: 'stripe', stripeEventId: `evt_${rechargeId}`, checkoutSessionId: `cs_${rechargeId}` },
      metadata: {},
      category: 'paid',
      priority: 200,
    },
    metadata: eventMetadata(),
  };
}

function creditsConsumed(amount: number): CreditsEvent {
  return {
    type: 'CreditsConsumed',
    schemaVersion: 2,
    id: randomUUID(),
    data: { amount, feature: 'document-upload', reference: `upload-${randomUUID()}`, metadata: {} },
    metadata: eventMetadata(),
  };
}

function bonusGranted(amount: number): CreditsEvent {
  return {
    type: 'BonusGranted',
    schemaVersion: 2,
    id: randomUUID(),
    data: { amount, reason: 'welcome', metadata: {}, category: 'promotional', priority: 100 },
    metadata: eventMetadata(),
  };
}

function eventMetadata(): CreditsEventMetadata {
  return {
    idempotencyKey: randomUUID(),
    payloadFingerprint: randomUUID(),
    occurredAt: new Date().toISOString(),
  };
}

/** mulberry32: a small seeded generator, so a failing history can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Running projections

async function catchUpAll(subject: Subject): Promise<void> {
  const { driver, store } = subject;
  await feedShowsEveryEvent(subject);
  for (const projection of PROJECTIONS) await catchUp(driver, store, projection, { batchSize: 50 });
}

async function allCaughtUp(subject: Subject): Promise<void> {
  await caughtUp(subject, PROJECTIONS);
}

/** Waits until a running projector has applied every committed event. */
async function caughtUp(subject: Subject, projections: readonly Projection[]): Promise<void> {
  const { driver, store } = subject;
  await feedShowsEveryEvent(subject);
  const names = projections.map(({ name }) => name).join(', ');
  await eventually(`${names} caught up`, async () => {
    const lags = await Promise.all(projections.map(({ name }) => projectionLag(driver, store, name)));
    return lags.every(({ lagEvents }) => lagEvents === 0);
  });
}

/**
 * Waits until `readAll` shows every committed event. On PostgreSQL it hides
 * the events of transactions younger than the oldest one still running on the
 * server, in any database (another suite's, running in parallel): a test that
 * catches up right after appending could otherwise read fewer events.
 */
async function feedShowsEveryEvent({ driver, store }: Subject): Promise<void> {
  await eventually('every committed event in the feed', async () => {
    const [{ committed }] = await driver.query<{ committed: number }>('select count(*)::int as committed from events');
    return (await store.countEventsAfter(undefined, LAG_EVENTS_COUNT_MAX)) === committed;
  });
}

async function eventually(
  what: string,
  holds: () => boolean | Promise<boolean>,
  timeoutMs = CAUGHT_UP_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** The error a promise rejects with; fails the test if it resolves. */
function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection, but it resolved');
    },
    (error: unknown) => error,
  );
}

/** The projection, recording the position of every event it applies (to count applications across instances). */
function countingApplies(projection: Projection, positions: string[]): Projection {
  return {
    ...projection,
    apply: async (tx, events, names) => {
      await projection.apply(tx, events, names);
      positions.push(...events.map(({ globalPosition }) => globalPosition));
    },
  };
}

/** The store, except that every `readAll` holds what it read until `release`: a projector is caught mid-read. */
function holdingReads(store: EventStore) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let readDone!: () => void;
  const firstReadDone = new Promise<void>((resolve) => (readDone = resolve));
  async function* readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    const events = await collect(store.readAll(options));
    readDone();
    await released;
    yield* events;
  }
  const held: EventStore = {
    refusesEventIdsOfOtherStreams: store.refusesEventIdsOfOtherStreams,
    appendToStream: (streamId, events, options) => store.appendToStream(streamId, events, options),
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll,
    listStreams: (options) => store.listStreams(options),
    headPosition: () => store.headPosition(),
    countEventsAfter: (afterPosition, countMax) => store.countEventsAfter(afterPosition, countMax),
    recordedAtOfNextEvent: (afterPosition) => store.recordedAtOfNextEvent(afterPosition),
    hasPassed: (checkpoint, position) => store.hasPassed(checkpoint, position),
    ping: () => store.ping(),
    close: () => store.close(),
  };
  return { store: held, firstReadDone, release };
}

/** Every projection caught up from the first event into tables of its own; pairs of [live, reference] table. */
async function catchUpIntoReferenceTables({ driver, store }: Subject): Promise<Array<[string, string]>> {
  const pairs: Array<[string, string]> = [];
  for (const projection of PROJECTIONS) {
    const tables: TableNames = Object.fromEntries(
      Object.entries(projection.tables).map(([table, live]) => [table, `reference_${live}`]),
    );
    await driver.exec(projection.createTables(tables));
    await catchUp(driver, store, projection, { checkpointName: `reference_${projection.name}`, tables, batchSize: 9 });
    for (const [table, live] of Object.entries(projection.tables)) pairs.push([live, tables[table]]);
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading what was projected

/** The fold of each credits stream (evolve from initialState), against the balances, ledger and recharges. */
async function expectReadModelToBeTheFold(db: SqlExecutor, store: EventStore): Promise<void> {
  const states = new Map<string, CreditsState>();
  const recharges: RechargeFacts[] = [];
  for (const recorded of await collect(store.readAll())) {
    if (!recorded.streamId.startsWith(CREDITS_STREAM_PREFIX)) continue;
    const userId = userIdOfStream(recorded.streamId);
    const event = parseCreditsEvent(recorded);
    states.set(userId, evolve(states.get(userId) ?? initialState(), event));
    if (event.type === 'RechargeCompleted') {
      recharges.push({
        user_id: userId,
        recharge_id: event.data.rechargeId,
        credits: event.data.credits,
        amount_paid: event.data.amountPaid,
        checkout_session_id: event.data.source.checkoutSessionId ?? null,
        event_id: event.id,
        global_position: event.globalPosition,
      });
    }
  }

  const balances = await db.query<{ user_id: string; balance: number; version: number }>(
    'select user_id, balance::int as balance, version from balances',
  );
  expect(sortedBy(balances, 'user_id')).toEqual(
    sortedBy(
      [...states].map(([userId, { balance, version }]) => ({ user_id: userId, balance, version })),
      'user_id',
    ),
  );
  expect(await ledgerEntryCounts(db)).toEqual(new Map([...states].map(([userId, { version }]) => [userId, version])));
  const rechargeRows = await db.query<RechargeFacts>(
    `select user_id, recharge_id, credits::int as credits, amount_paid::int as amount_paid, checkout_session_id,
            event_id::text as event_id, global_position::text as global_position
     from recharges`,
  );
  expect(sortedBy(rechargeRows, 'event_id')).toEqual(sortedBy(recharges, 'event_id'));
}

type RechargeFacts = {
  user_id: string;
  recharge_id: string;
  credits: number;
  amount_paid: number;
  checkout_session_id: string | null;
  event_id: string;
  global_position: string;
};

function sortedBy<Row, Key extends keyof Row>(rows: Row[], key: Key): Row[] {
  return [...rows].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
}

/** Positions of every credits event in the store, sorted as text. */
async function creditsPositions(store: EventStore): Promise<string[]> {
  return (await collect(store.readAll()))
    .filter(({ streamId }) => streamId.startsWith(CREDITS_STREAM_PREFIX))
    .map(({ globalPosition }) => globalPosition)
    .sort();
}

async function lastPositionInFeed(store: EventStore): Promise<string | undefined> {
  return (await collect(store.readAll())).at(-1)?.globalPosition;
}

/** Every row of every read-model table; `withTimes: false` leaves out when each row was written. */
async function readModelContents(db: SqlExecutor, options: { withTimes: boolean }): Promise<Record<string, string[]>> {
  const tables = PROJECTIONS.flatMap((projection) => Object.values(projection.tables));
  return Object.fromEntries(
    await Promise.all(tables.map(async (table) => [table, await tableContents(db, table, options)] as const)),
  );
}

async function tableContents(db: SqlExecutor, table: string, { withTimes }: { withTimes: boolean }) {
  const times = withTimes ? '' : ` - 'projected_at' - 'updated_at'`;
  const rows = await db.query<{ row: string }>(`select (to_jsonb(t)${times})::text as row from ${table} t`);
  return rows.map(({ row }) => row).sort();
}

async function checkpoints(db: SqlExecutor) {
  return db.query<{ projection: string; position: string | null }>(
    `select projection, global_position::text as position from ${CHECKPOINTS_TABLE} order by projection`,
  );
}

async function tablesNamedLike(db: SqlExecutor, pattern: string): Promise<string[]> {
  const rows = await db.query<{ tablename: string }>(
    `select tablename from pg_tables where schemaname = 'public' and tablename like $1`,
    [pattern],
  );
  return rows.map(({ tablename }) => tablename);
}

/** Samples the live balance checkpoint and reports every move backwards in feed order. */
function watchBalanceCheckpoint(subject: { driver: SqlDriver; store: EventStore }) {
  const backwards: string[] = [];
  let watching = true;
  const done = (async () => {
    let previous: string | undefined;
    while (watching) {
      const { position } = await readCheckpoint(subject.driver, 'balance');
      if (previous !== undefined && (position === undefined || !(await subject.store.hasPassed(position, previous)))) {
        backwards.push(`${previous} -> ${position ?? '(start)'}`);
      }
      previous = position;
      await sleep(2);
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await done;
      return backwards;
    },
  };
}
