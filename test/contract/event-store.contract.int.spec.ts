import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { type PostgresDriver, type SqlEventStore, appendInTransaction } from '@libs/event-store';
import { collect, postgresUrlUnderTest, storeKindsUnderTest } from '../support/test-stores';
import { openSqlEventStore } from '../support/sql-event-stores';
import { eventStoreContract, type OpenTransaction } from './event-store.contract';

describe.each(storeKindsUnderTest())('SQL event store on %s', (kind) => {
  eventStoreContract(kind, async () => {
    const { store, postgres, close } = await openSqlEventStore(kind);
    return { store, openTransaction: postgres && (() => openTransaction(postgres.driver)), close };
  });
});

const describeOnPostgres = storeKindsUnderTest().includes('postgres') ? describe : describe.skip;

// PostgreSQL only: PGlite is one database with one connection, and KurrentDB has no transactions.
describeOnPostgres('SQL event store on postgres: the feed and transactions of other databases', () => {
  let store: SqlEventStore;
  let driver: PostgresDriver;
  let databaseUrl: string;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const opened = await openSqlEventStore('postgres', 4);
    ({ store, close } = opened);
    ({ driver, url: databaseUrl } = opened.postgres!);
  });
  afterAll(() => close?.());

  it('is not held back by a transaction open in another database of the server', async () => {
    const elsewhere = await transactionWithAnId(postgresUrlUnderTest());
    try {
      const appended = await store.appendToStream(`stream-${randomUUID()}`, [anyEvent()], {
        expectedVersion: 'no_stream',
      });
      const read = await collect(store.readAll({ batchSize: 10_000 }));
      expect(read.map((event) => event.globalPosition)).toContain(appended.lastGlobalPosition);
    } finally {
      await elsewhere.end();
    }
  });

  it('is still held back by a transaction open in its own database', async () => {
    const before = await collect(store.readAll({ batchSize: 10_000 }));
    const here = await transactionWithAnId(databaseUrl);
    let appended;
    try {
      appended = await store.appendToStream(`stream-${randomUUID()}`, [anyEvent()], { expectedVersion: 'no_stream' });
      const whileOpen = await collect(store.readAll({ batchSize: 10_000 }));
      expect(whileOpen).toHaveLength(before.length);
    } finally {
      await here.end();
    }
    const afterwards = await collect(store.readAll({ batchSize: 10_000 }));
    expect(afterwards.map((event) => event.globalPosition)).toContain(appended.lastGlobalPosition);
  });

  it('holds back, for a reader inside a transaction that wrote, its own event and every later one', async () => {
    const [{ count: before }] = await driver.query<{ count: number }>('select count(*)::int as count from events');
    await driver.transaction(async (tx) => {
      await appendInTransaction(tx, `stream-${randomUUID()}`, [anyEvent()], 'no_stream');
      const later = await store.appendToStream(`stream-${randomUUID()}`, [anyEvent()], {
        expectedVersion: 'no_stream',
      });
      const page = await tx.query<{ global_position: string }>(
        `select global_position::text as global_position from events_feed_page('0', 0, 10000)`,
      );
      expect(page.map((row) => row.global_position)).not.toContain(later.lastGlobalPosition);
      expect(page).toHaveLength(before);
    });
  });
});

/** A connection inside a transaction that holds a transaction id (as one that wrote would); `end` rolls it back. */
async function transactionWithAnId(connectionString: string): Promise<Client> {
  const client = new Client({ connectionString });
  await client.connect();
  await client.query('begin');
  await client.query('select pg_current_xact_id()');
  return client;
}

function anyEvent() {
  return { id: randomUUID(), type: 'Tested', schemaVersion: 1, data: {}, metadata: {} };
}

/** How long `waitUntilAnotherWaits` polls before failing the test. */
const WAIT_FOR_WAITER_MS_MAX = 5_000;

/** A transaction of `driver` that runs the test's steps until the test commits it. */
function openTransaction(driver: PostgresDriver): Promise<OpenTransaction> {
  return new Promise<OpenTransaction>((opened, failed) => {
    const committed = driver.transaction(async (tx) => {
      let commit!: () => void;
      const released = new Promise<void>((resolve) => (commit = resolve));
      const [{ pid }] = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
      opened({
        takeTransactionId: async () => {
          await tx.query('select pg_current_xact_id()');
        },
        append: (streamId, events, expectedVersion = 'any') =>
          appendInTransaction(tx, streamId, events, expectedVersion),
        waitUntilAnotherWaits: () => waitUntilAnotherWaitsFor(driver, pid),
        commit: async () => {
          commit();
          await committed;
        },
      });
      await released;
    });
    committed.catch(failed);
  });
}

async function waitUntilAnotherWaitsFor(driver: PostgresDriver, pid: number): Promise<void> {
  const deadline = Date.now() + WAIT_FOR_WAITER_MS_MAX;
  while (Date.now() < deadline) {
    const [{ waited }] = await driver.query<{ waited: boolean }>(
      'select exists (select from pg_stat_activity where $1::integer = any (pg_blocking_pids(pid))) as waited',
      [pid],
    );
    if (waited) return;
    await sleep(5);
  }
  throw new Error(`no transaction waited for backend ${pid} within ${WAIT_FOR_WAITER_MS_MAX} ms`);
}
