import { eventStoreLocationFrom, failStartup } from '@libs/config';
import {
  EVENT_STORE_MIGRATIONS,
  describeEventStoreLocation,
  migrate,
  openReadModelDriver,
  openSqlDriver,
} from '@libs/event-store';
import { READ_MODEL_MIGRATIONS } from '@projections';

/**
 * `npm run migrate`: applies pending migrations (event store, then read model) and
 * says which. The API also migrates at start; this is for deploys that
 * migrate first. Idempotent: a second run applies nothing. On KurrentDB the
 * events need no migration: only the read model's are applied, to the
 * PostgreSQL of DATABASE_URL.
 */
async function main(): Promise<void> {
  const location = eventStoreLocationFrom();
  const onKurrentDb = location.kind === 'kurrentdb';
  const driver = onKurrentDb ? await openReadModelDriver(location) : await openSqlDriver(location);
  try {
    const applied = await migrate(
      driver,
      onKurrentDb ? READ_MODEL_MIGRATIONS : [...EVENT_STORE_MIGRATIONS, ...READ_MODEL_MIGRATIONS],
    );
    const where = describeEventStoreLocation(location);
    console.log(applied.length === 0 ? `${where}: up to date` : `${where}: applied ${applied.join(', ')}`);
  } finally {
    await driver.close();
  }
}

main().catch(failStartup);
