import type { EventStore } from './event-store.port';
import { PgliteDriver } from './pglite/pglite-driver';
import { PostgresDriver } from './postgres/postgres-driver';
import { assertTransactionCounterAhead } from './sql/commit-order-guard';
import { type SqlMigration, migrate } from './sql/migrate';
import { EVENT_STORE_MIGRATIONS } from './sql/migrations';
import type { SqlDriver } from './sql/sql-driver';
import { SqlEventStore } from './sql/sql-event-store';

export type EventStoreLocation =
  | { kind: 'postgres'; connectionString: string; poolSize: number }
  /** `dataDir` undefined: in memory, for tests. */
  | { kind: 'pglite'; dataDir: string | undefined }
  /** Events in KurrentDB (`kurrentdb://` or `esdb://`); the read model stays in PostgreSQL (`readModel`). */
  | { kind: 'kurrentdb'; connectionString: string; readModel: { connectionString: string; poolSize: number } };

/** The SQL database that holds the events (and the read model beside them). */
export async function openSqlDriver(location: EventStoreLocation): Promise<SqlDriver> {
  switch (location.kind) {
    case 'postgres':
      return new PostgresDriver({ connectionString: location.connectionString, max: location.poolSize });
    case 'pglite':
      return PgliteDriver.open(location.dataDir);
    case 'kurrentdb':
      throw new NotSqlEventStoreError(location.kind);
  }
}

/**
 * The SQL database of the read model: the events' database, or on KurrentDB
 * the PostgreSQL of DATABASE_URL. Only the read model's migrations belong
 * there when the events are in KurrentDB.
 */
export async function openReadModelDriver(location: EventStoreLocation): Promise<SqlDriver> {
  if (location.kind !== 'kurrentdb') return openSqlDriver(location);
  return new PostgresDriver({
    connectionString: location.readModel.connectionString,
    max: location.readModel.poolSize,
  });
}

/** For start-up messages: where the events are, without credentials. */
export function describeEventStoreLocation(location: EventStoreLocation): string {
  switch (location.kind) {
    case 'postgres':
      return 'PostgreSQL';
    case 'kurrentdb':
      return 'KurrentDB (read model in PostgreSQL)';
    case 'pglite':
      return `PGlite in ${location.dataDir ?? 'memory'}`;
  }
}

/** openSqlEventStore was asked for a store that is not SQL. */
export class NotSqlEventStoreError extends Error {
  override readonly name = 'NotSqlEventStoreError';
  constructor(readonly kind: EventStoreLocation['kind']) {
    super(
      `the ${kind} event store is not an SQL store: open it with openStores, ` +
        'which opens the events in KurrentDB and the read model in the PostgreSQL of DATABASE_URL',
    );
  }
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
  if (location.kind === 'kurrentdb') throw new NotSqlEventStoreError(location.kind);
  const driver = await openSqlDriver(location);
  try {
    await migrate(driver, [...EVENT_STORE_MIGRATIONS, ...extraMigrations]);
    await assertTransactionCounterAhead(driver);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return { store: new SqlEventStore(driver), driver };
}

/** Opens the store of `location`; a KurrentDB store needs no migration (the read model's are applied apart). */
export async function openEventStore(location: EventStoreLocation): Promise<EventStore> {
  if (location.kind === 'kurrentdb') {
    // Loaded only when chosen: the client loads a native module (@kurrent/bridge)
    // that deployments on PostgreSQL or PGlite must never depend on.
    const { KurrentDbEventStore } = await import('./kurrentdb/kurrentdb-event-store');
    return KurrentDbEventStore.connect(location.connectionString);
  }
  return (await openSqlEventStore(location)).store;
}

/** The event store and the SQL database of the read model, as a process uses them. */
export type OpenedStores = {
  store: EventStore;
  /** The events' database on PostgreSQL and PGlite; on KurrentDB, the PostgreSQL of DATABASE_URL. */
  readModel: SqlDriver;
  /** Closes both (once: on SQL stores they share one driver). */
  close(): Promise<void>;
};

/**
 * Opens the store of `location` and the read model's database, with every
 * migration applied: on PostgreSQL and PGlite one database holds both, and
 * gets the event store's migrations then `readModelMigrations`; on KurrentDB
 * the events need none, and PostgreSQL gets the read model's only.
 * `kurrentDbStore` replaces the KurrentDB store of `location` (tests over a
 * model of the client, where no server runs); it is closed with the rest.
 */
export async function openStores(
  location: EventStoreLocation,
  readModelMigrations: readonly SqlMigration[],
  options: { kurrentDbStore?: EventStore } = {},
): Promise<OpenedStores> {
  if (location.kind !== 'kurrentdb') {
    if (options.kurrentDbStore !== undefined)
      throw new Error(`a KurrentDB store given for a ${location.kind} location`);
    const { store, driver } = await openSqlEventStore(location, readModelMigrations);
    return { store, readModel: driver, close: () => store.close() };
  }
  const store = options.kurrentDbStore ?? (await openEventStore(location));
  const readModel = await openReadModelDriver(location);
  const close = async () => {
    const failed = (await Promise.allSettled([store.close(), readModel.close()])).find(
      (result) => result.status === 'rejected',
    );
    if (failed !== undefined) throw failed.reason;
  };
  try {
    await migrate(readModel, readModelMigrations);
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return { store, readModel, close };
}
