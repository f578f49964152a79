import { EVENT_STORE_MIGRATIONS, PgliteDriver, PostgresDriver, SqlEventStore, migrate } from '@libs/event-store';
import { type StoreKind, createTestDatabase } from './test-stores';

export type OpenedSqlEventStore = {
  store: SqlEventStore;
  /** The PostgreSQL driver and its database's URL; undefined on PGlite. */
  postgres?: { driver: PostgresDriver; url: string };
  close(): Promise<void>;
};

/** A migrated SQL event store on a fresh in-memory PGlite, or on a new PostgreSQL database of its own. */
export async function openSqlEventStore(kind: StoreKind, poolSize = 8): Promise<OpenedSqlEventStore> {
  if (kind === 'pglite') {
    const driver = await PgliteDriver.open(undefined);
    await migrate(driver, EVENT_STORE_MIGRATIONS);
    const store = new SqlEventStore(driver);
    return { store, close: () => store.close() };
  }
  const database = await createTestDatabase();
  const driver = new PostgresDriver({ connectionString: database.url, max: poolSize });
  await migrate(driver, EVENT_STORE_MIGRATIONS);
  const store = new SqlEventStore(driver);
  return {
    store,
    postgres: { driver, url: database.url },
    close: async () => {
      await store.close();
      await database.drop();
    },
  };
}
