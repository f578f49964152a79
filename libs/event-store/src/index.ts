export * from './event-store.errors';
export * from './event-store.port';
export * from './expected-version';
export * from './transient-failure';
export * from './open-event-store';
export { TransactionCounterBehindError, epochPast } from './sql/commit-order-guard';
export { type SqlMigration, migrate } from './sql/migrate';
export { EVENT_STORE_MIGRATIONS } from './sql/migrations';
export type { LockSession, SqlDriver, SqlExecutor } from './sql/sql-driver';
export { SqlEventStore, appendInTransaction, feedHasPassed, readStreamWith } from './sql/sql-event-store';
export { DataDirectoryLockedError } from './pglite/data-directory-lock';
export { PgliteDriver } from './pglite/pglite-driver';
export { PostgresDriver } from './postgres/postgres-driver';
// The KurrentDB adapter is not exported here: openEventStore loads it (and its
// native client) only when EVENTSTORE_URL chooses it. Import it by path.
