import type { EventStore } from './event-store.port';
import { PgliteDriver } from './pglite/pglite-driver';
import { PostgresDriver } from './postgres/postgres-driver';
import { migrate } from './sql/migrate';
import { EVENT_STORE_MIGRATIONS } from './sql/migrations';
import type { SqlDriver } from './sql/sql-driver';
import { SqlEventStore } from './sql/sql-event-store';

export type EventStoreLocation =
  | { kind: 'postgres'; connectionString: string; poolSize: number }
  /** `dataDir` undefined: in memory, for tests. */
  | { kind: 'pglite'; dataDir: string | undefined };

export async function openSqlDriver(location: EventStoreLocation): Promise<SqlDriver> {
  return location.kind === 'postgres'
    ? new PostgresDriver({ connectionString: location.connectionString, max: location.poolSize })
    : PgliteDriver.open(location.dataDir);
}

/** Opens the store and applies pending migrations: a store returned here is ready to use. */
export async function openEventStore(location: EventStoreLocation): Promise<EventStore> {
  const driver = await openSqlDriver(location);
  try {
    await migrate(driver, EVENT_STORE_MIGRATIONS);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlEventStore(driver);
}
