import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EVENT_STORE_MIGRATIONS, PostgresDriver } from '@libs/event-store';
import { READ_MODEL_MIGRATIONS } from '@projections';
import { createTestDatabase, describeOnPostgres } from '../support/test-stores';

const CLI = join(__dirname, '../../dist/apps/cli/src/migrate.js');

/** `npm run migrate`, as a real process (built by the global setup). */
async function migrateCli(env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI], {
    env: { ...process.env, EVENTSTORE_URL: '', DATA_DIR: '', ...env },
  });
  return stdout;
}

async function tablesOf(url: string): Promise<string[]> {
  const driver = new PostgresDriver({ connectionString: url, max: 1 });
  try {
    const rows = await driver.query<{ name: string }>(
      "select table_name as name from information_schema.tables where table_schema = 'public'",
    );
    return rows.map((row) => row.name);
  } finally {
    await driver.close();
  }
}

describeOnPostgres('npm run migrate', () => {
  it('on PostgreSQL alone applies the event store migrations, then the read model ones', async () => {
    const database = await createTestDatabase();
    try {
      const applied = await migrateCli({ DATABASE_URL: database.url });

      const names = [...EVENT_STORE_MIGRATIONS, ...READ_MODEL_MIGRATIONS].map((migration) => migration.name);
      expect(applied.trim()).toBe(`PostgreSQL: applied ${names.join(', ')}`);
      expect(await tablesOf(database.url)).toContain('events');
      expect((await migrateCli({ DATABASE_URL: database.url })).trim()).toBe('PostgreSQL: up to date');
    } finally {
      await database.drop();
    }
  });

  // Needs no KurrentDB server: the events need no migration, so the CLI never connects to it.
  it("with EVENTSTORE_URL applies the read model's migrations only, to the PostgreSQL of DATABASE_URL", async () => {
    const database = await createTestDatabase();
    try {
      const env = { DATABASE_URL: database.url, EVENTSTORE_URL: 'kurrentdb://127.0.0.1:1?tls=false' };

      const applied = await migrateCli(env);

      const names = READ_MODEL_MIGRATIONS.map((migration) => migration.name);
      expect(applied.trim()).toBe(`KurrentDB (read model in PostgreSQL): applied ${names.join(', ')}`);
      expect(await tablesOf(database.url)).not.toContain('events');
    } finally {
      await database.drop();
    }
  });
});
