import type { EventStore } from './event-store.port';
import { PgliteDriver } from './pglite/pglite-driver';
import { PostgresDriver } from './postgres/postgres-driver';
import { type SqlMigration, migrate } from './sql/migrate';
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

/**
 * Opens the store and applies its pending migrations, and `extraMigrations`
 * after them (the read model's, which lives in the same database): a store
 * returned here is ready to use. Closing the store closes the driver.
 */
export async function openSqlEventStore(
  location: EventStoreLocation,
  extraMigrations: readonly SqlMigration[] = [],
): Promise<{ store: SqlEventStore; driver: SqlDriver }> {
  const driver = await openSqlDriver(location);
  try {
    await migrate(driver, [...EVENT_STORE_MIGRATIONS, ...extraMigrations]);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return { store: new SqlEventStore(driver), driver };
}

export async function openEventStore(location: EventStoreLocation): Promise<EventStore> {
  return (await openSqlEventStore(location)).store;
}
