import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, describeOnPostgres } from '../../../../test/support/test-stores';
import { type EventStoreLocation, openSqlEventStore } from '../open-event-store';
import { TransactionCounterBehindError } from './commit-order-guard';

/**
 * A database restored from `pg_dump` into another cluster keeps its events' transaction ids while the
 * cluster's counter starts lower: new events would sort before the restored ones in the feed and never be
 * projected. Opening such a store fails with the way out in its message. Here the newest event is given an id
 * the server has not reached yet, as such a restore leaves it.
 */
async function expectRefusedAfterCounterFallsBehind(location: EventStoreLocation): Promise<void> {
  const { store, driver } = await openSqlEventStore(location);
  await store.appendToStream(
    `stream-${randomUUID()}`,
    [{ id: randomUUID(), type: 'Tested', schemaVersion: 1, data: {}, metadata: {} }],
    {
      expectedVersion: 'no_stream',
    },
  );
  await driver.exec(
    `update events set transaction_id = ((pg_snapshot_xmax(pg_current_snapshot())::text)::bigint + 5000000)::text::xid8`,
  );
  await store.close();
  const reopening = openSqlEventStore(location);
  await expect(reopening).rejects.toBeInstanceOf(TransactionCounterBehindError);
  await expect(reopening).rejects.toThrow(/restored from a logical dump .* pg_resetwal -e 1 </);
}

describe('opening a SQL store whose server counter is behind its events', () => {
  it('opens a store whose events are all older than the counter, as always', async () => {
    const { store } = await openSqlEventStore({ kind: 'pglite', dataDir: undefined });
    await store.appendToStream(
      'stream-1',
      [{ id: randomUUID(), type: 'Tested', schemaVersion: 1, data: {}, metadata: {} }],
      {
        expectedVersion: 'no_stream',
      },
    );
    await store.close();
  });

  it('refuses on PGlite', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'counter-behind-'));
    try {
      await expectRefusedAfterCounterFallsBehind({ kind: 'pglite', dataDir });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describeOnPostgres('opening a PostgreSQL store whose server counter is behind its events', () => {
  it('refuses, naming the pg_resetwal arguments that move the counter past them', async () => {
    const database = await createTestDatabase();
    try {
      await expectRefusedAfterCounterFallsBehind({ kind: 'postgres', connectionString: database.url, poolSize: 2 });
    } finally {
      await database.drop();
    }
  });
});
