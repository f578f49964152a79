import { createTestDatabase, describeOnPostgres, storeKindsUnderTest } from '../../../../test/support/test-stores';
import { PgliteDriver } from '../pglite/pglite-driver';
import { PostgresDriver } from '../postgres/postgres-driver';
import { migrate } from './migrate';
import { EVENT_STORE_MIGRATIONS } from './migrations';

describe.each(storeKindsUnderTest())('migrations on %s', (kind) => {
  it('apply once; a second run applies nothing and keeps the data', async () => {
    const database = kind === 'postgres' ? await createTestDatabase() : undefined;
    const driver = database
      ? new PostgresDriver({ connectionString: database.url, max: 2 })
      : await PgliteDriver.open(undefined);
    try {
      expect(await migrate(driver, EVENT_STORE_MIGRATIONS)).toEqual([
        '0001-create-events',
        '0002-index-stream-ids',
        '0003-feed-page',
      ]);
      await driver.query(
        `insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
         values ('s', 1, gen_random_uuid(), 'T', 1, '{}', '{}')`,
      );
      expect(await migrate(driver, EVENT_STORE_MIGRATIONS)).toEqual([]);
      expect(await driver.query('select stream_id from events')).toEqual([{ stream_id: 's' }]);
    } finally {
      await driver.close();
      await database?.drop();
    }
  });
});

// Two processes starting at once on PostgreSQL (PGlite has one process by construction).
describeOnPostgres('migrations started by several processes at once on PostgreSQL', () => {
  it('are applied exactly once, and every process starts', async () => {
    const database = await createTestDatabase();
    const drivers = Array.from({ length: 4 }, () => new PostgresDriver({ connectionString: database.url, max: 2 }));
    try {
      const applied = await Promise.all(drivers.map((driver) => migrate(driver, EVENT_STORE_MIGRATIONS)));
      expect(applied.flat()).toEqual(['0001-create-events', '0002-index-stream-ids', '0003-feed-page']);
    } finally {
      await Promise.all(drivers.map((driver) => driver.close()));
      await database.drop();
    }
  });
});
