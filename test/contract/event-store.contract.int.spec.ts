import {
  PgliteDriver,
  PostgresDriver,
  SqlEventStore,
  appendInTransaction,
  migrate,
  EVENT_STORE_MIGRATIONS,
} from '@libs/event-store';
import { createTestDatabase, storeKindsUnderTest } from '../support/test-stores';
import { eventStoreContract, type HeldAppend } from './event-store.contract';

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
      holdAppendOpen: (streamId, events) =>
        new Promise<HeldAppend>((resolveHeld, rejectHeld) => {
          let commit!: () => void;
          const committed = driver.transaction(async (tx) => {
            const appended = await appendInTransaction(tx, streamId, events, 'no_stream');
            const released = new Promise<void>((resolve) => (commit = resolve));
            resolveHeld({ appended, commit: async () => (commit(), await committed) });
            await released;
          });
          committed.catch(rejectHeld);
        }),
      close: async () => {
        await store.close();
        await database.drop();
      },
    };
  });
});
