import { randomUUID } from 'node:crypto';
import { type EventStore, type EventToAppend, type SqlDriver, openSqlEventStore } from '@libs/event-store';
import { READ_MODEL_MIGRATIONS } from '@projections';
import { type StoreKind, createTestDatabase } from './test-stores';

export type ReadModelDatabase = {
  store: EventStore;
  driver: SqlDriver;
  url: string | undefined;
  close(): Promise<void>;
};

/**
 * A fresh store with the read model's tables: a new PostgreSQL database, or an
 * in-memory PGlite. `close` drops the database.
 */
export async function openReadModelDatabase(kind: StoreKind): Promise<ReadModelDatabase> {
  const database = kind === 'postgres' ? await createTestDatabase() : undefined;
  const { store, driver } = await openSqlEventStore(
    database
      ? { kind: 'postgres', connectionString: database.url, poolSize: 6 }
      : { kind: 'pglite', dataDir: undefined },
    READ_MODEL_MIGRATIONS,
  );
  return {
    store,
    driver,
    url: database?.url,
    close: async () => {
      await store.close();
      await database?.drop();
    },
  };
}

/** A bonus event as the store takes it, with fresh ids. */
export function bonusToAppend(amount: number): EventToAppend {
  return {
    id: randomUUID(),
    type: 'BonusGranted',
    schemaVersion: 1,
    data: { amount, reason: 'test', metadata: {} },
    metadata: { idempotencyKey: randomUUID(), payloadFingerprint: 'test', occurredAt: new Date().toISOString() },
  };
}
