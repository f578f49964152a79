import { createTestDatabase, describeOnPostgres } from '../../../test/support/test-stores';
import { KurrentDbEventStore } from './kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from './kurrentdb/testing/kurrentdb-model';
import { openStores } from './open-event-store';
import type { SqlMigration } from './sql/migrate';

const READ_MODEL_MIGRATION: SqlMigration = { name: 'read-model-test-0001', up: 'create table balances_test (id int)' };

/** KurrentDB replaced by an in-memory model of its client calls: no server can run here. */
describeOnPostgres('opening the stores on KurrentDB (a model of its client) with the read model in PostgreSQL', () => {
  it("applies the read model's migrations only: the events' tables belong to the SQL stores", async () => {
    const database = await createTestDatabase();
    const store = new KurrentDbEventStore(new KurrentDbModel());
    try {
      const opened = await openStores(
        {
          kind: 'kurrentdb',
          connectionString: 'kurrentdb://model.invalid',
          readModel: { connectionString: database.url, poolSize: 2 },
        },
        [READ_MODEL_MIGRATION],
        { kurrentDbStore: store },
      );
      const tables = await opened.readModel.query<{ name: string }>(
        "select table_name as name from information_schema.tables where table_schema = 'public' order by 1",
      );
      expect(opened.store).toBe(store);
      expect(tables.map((table) => table.name)).not.toContain('events');
      expect(tables.map((table) => table.name)).toContain('balances_test');
      await opened.close();
    } finally {
      await database.drop();
    }
  });
});
