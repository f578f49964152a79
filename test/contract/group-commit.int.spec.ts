import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { EventToAppend, SqlEventStore } from '@libs/event-store';
import { type OpenedSqlEventStore, openSqlEventStore } from '../support/sql-event-stores';
import { collect, describeOnPostgres, storeKindsUnderTest } from '../support/test-stores';

/**
 * The group commit writes the appends of many streams in one statement: what
 * one append does wrong, or a race between two processes' batches, must
 * never fail the other appends of the batch.
 */

function event(data: Record<string, unknown> = { amount: 1 }, id: string = randomUUID()): EventToAppend {
  return { id, type: 'BonusGranted', schemaVersion: 1, data, metadata: {} };
}

/**
 * Two appends go at once, each alone (two batches in flight); appends made
 * while they are written wait and form the next batch together.
 */
function occupyBothFlushes(store: SqlEventStore): Promise<unknown> {
  return Promise.all([
    store.appendToStream(`filler-${randomUUID()}`, [event()], { expectedVersion: 0 }),
    store.appendToStream(`filler-${randomUUID()}`, [event()], { expectedVersion: 0 }),
  ]);
}

describe.each(storeKindsUnderTest())('group commit on %s', (kind) => {
  let opened: OpenedSqlEventStore;
  beforeAll(async () => {
    opened = await openSqlEventStore(kind, 4);
  });
  afterAll(() => opened?.close());

  it.each([
    ['a NUL character', { reason: 'bad\u0000' }],
    ['a lone surrogate', { reason: 'bad\ud800' }],
    ['a NUL in a key', { ['key\u0000']: 'value' }],
  ])('fails only the append whose data the database refuses (%s), never the others of its batch', async (_, bad) => {
    const { store } = opened;
    const fillers = occupyBothFlushes(store);
    const [before, refused, after] = await Promise.allSettled([
      store.appendToStream(`good-${randomUUID()}`, [event()], { expectedVersion: 0 }),
      store.appendToStream(`bad-${randomUUID()}`, [event(bad)], { expectedVersion: 0 }),
      store.appendToStream(`good-${randomUUID()}`, [event()], { expectedVersion: 0 }),
    ]);
    await fillers;

    expect(before.status).toBe('fulfilled');
    expect(refused.status).toBe('rejected');
    expect(after.status).toBe('fulfilled');
  });

  it('writes a batch in stream id order, whatever the order its appends came in', async () => {
    const { store } = opened;
    const prefix = randomUUID();
    const fillers = occupyBothFlushes(store);
    const [last, first] = await Promise.all([
      store.appendToStream(`${prefix}-b`, [event()], { expectedVersion: 0 }),
      store.appendToStream(`${prefix}-a`, [event()], { expectedVersion: 0 }),
    ]);
    await fillers;

    expect(BigInt(first.lastGlobalPosition)).toBeLessThan(BigInt(last.lastGlobalPosition));
  });
});

describeOnPostgres('group commit on postgres: a deadlock with another transaction', () => {
  let opened: OpenedSqlEventStore;
  let other: Client;
  beforeAll(async () => {
    opened = await openSqlEventStore('postgres', 4);
    other = new Client({ connectionString: opened.postgres!.url });
    await other.connect();
    // The server checks for a deadlock after this long waiting on a lock; the default (1 s) only slows the test.
    await other.query(
      `alter database ${new URL(opened.postgres!.url).pathname.slice(1)} set deadlock_timeout = '300ms'`,
    );
  });
  afterAll(async () => {
    await other?.end();
    await opened?.close();
  });

  /** Until the store's connection waits on a lock held by `other`. */
  async function storeWaitsOnALock(): Promise<void> {
    for (;;) {
      const { rows } = await other.query<{ waiting: number }>(
        `select count(*)::int as waiting from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
      );
      if (rows[0].waiting > 0) return;
      await sleep(10);
    }
  }

  it('is a lost race: the append is tried again, never failed with the deadlock', async () => {
    const { store } = opened;
    const stream = `deadlock-${randomUUID()}`;
    const sharedId = randomUUID();
    const insert = (streamId: string, eventId: string) =>
      other.query(
        `insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
         values ($1, 1, $2, 'BonusGranted', 1, '{}', '{}')`,
        [streamId, eventId],
      );
    // The other transaction holds an event id the store is about to write...
    await other.query('begin');
    await insert(`other-${randomUUID()}`, sharedId);
    const appended = store.appendToStream(stream, [event(), event({ amount: 2 }, sharedId)], { expectedVersion: 0 });
    await storeWaitsOnALock();
    // ...then waits for the version the store wrote first: a cycle, and the store (waiting longest) is chosen.
    await insert(stream, randomUUID());
    await other.query('rollback');

    const result = await appended;

    expect(result.nextStreamVersion).toBe(2);
    expect((await collect(store.readStream(stream))).map((stored) => stored.id)).toEqual(
      result.events.map((stored) => stored.id),
    );
  });
});
