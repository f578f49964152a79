import { Umzug, type UmzugStorage } from 'umzug';
import type { SqlDriver } from './sql-driver';

export type SqlMigration = { name: string; up: string };

/** Umzug keeps its record of applied migrations in this table. */
class SqlMigrationStorage implements UmzugStorage {
  constructor(private readonly driver: SqlDriver) {}

  async logMigration({ name }: { name: string }): Promise<void> {
    await this.driver.query('insert into schema_migrations (name) values ($1) on conflict do nothing', [name]);
  }

  async unlogMigration({ name }: { name: string }): Promise<void> {
    await this.driver.query('delete from schema_migrations where name = $1', [name]);
  }

  async executed(): Promise<string[]> {
    await this.driver.exec(
      'create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())',
    );
    const rows = await this.driver.query<{ name: string }>('select name from schema_migrations order by name');
    return rows.map((row) => row.name);
  }
}

/**
 * Applies the migrations not yet applied, each in its own transaction, while
 * holding a database-wide lock so two processes starting at once do not race.
 * Returns the names applied.
 */
export async function migrate(driver: SqlDriver, migrations: readonly SqlMigration[]): Promise<string[]> {
  return driver.withExclusiveLock('credits-ledger:migrations', async () => {
    const umzug = new Umzug({
      migrations: migrations.map((migration) => ({
        name: migration.name,
        up: () => driver.transaction((tx) => tx.exec(migration.up)),
      })),
      storage: new SqlMigrationStorage(driver),
      logger: undefined,
    });
    const applied = await umzug.up();
    return applied.map((migration) => migration.name);
  });
}
