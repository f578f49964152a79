import { setTimeout as sleep } from 'node:timers/promises';
import {
  PgliteDriver,
  PostgresDriver,
  SqlEventStore,
  appendInTransaction,
  migrate,
  EVENT_STORE_MIGRATIONS,
} from '@libs/event-store';
import { createTestDatabase, storeKindsUnderTest } from '../support/test-stores';
import { eventStoreContract, type OpenTransaction } from './event-store.contract';

describe.each(storeKindsUnderTest())('SQL event store on %s', (kind) => {
  eventStoreContract(kind, async () => {
    if (kind === 'pglite') {
      const driver = await PgliteDriver.open(undefined);
      await migrate(driver, EVENT_STORE_MIGRATIONS);
      const store = new SqlEventStore(driver);
      return { store, close: () => store.close() };
    }
    const database = await createTestDatabase();
    const driver = new PostgresDriver({ connectionString: database.url, max: 8 });
    await migrate(driver, EVENT_STORE_MIGRATIONS);
    const store = new SqlEventStore(driver);
    return {
      store,
      openTransaction: () => openTransaction(driver),
      close: async () => {
        await store.close();
        await database.drop();
      },
    };
  });
});

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
