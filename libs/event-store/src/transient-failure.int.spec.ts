import { createTestDatabase, storeKindsUnderTest } from '../../../test/support/test-stores';
import { PgliteDriver } from './pglite/pglite-driver';
import { PostgresDriver } from './postgres/postgres-driver';
import type { SqlDriver } from './sql/sql-driver';
import { isTransientStoreFailure } from './transient-failure';

/**
 * What the real drivers throw, classified: a statement given fewer parameters
 * than it names is a bug of this service, though PostgreSQL reports it in the
 * class of connection exceptions (08P01, protocol violation): never a 503.
 */
describe.each(storeKindsUnderTest())('store failures as %s reports them', (kind) => {
  let driver: SqlDriver;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (kind === 'pglite') {
      driver = await PgliteDriver.open(undefined);
      return;
    }
    const database = await createTestDatabase();
    driver = new PostgresDriver({ connectionString: database.url, max: 1 });
    drop = () => database.drop();
  });
  afterAll(async () => {
    await driver?.close();
    await drop?.();
  });

  async function errorOf(statement: string, params: unknown[]): Promise<{ code?: string }> {
    return driver.query(statement, params).then(
      () => ({ code: 'none: the statement succeeded' }),
      (error: unknown) => error as { code?: string },
    );
  }

  it.each([
    ['a statement given fewer parameters than it names (08P01)', 'select $1::int + $2::int as sum', [1], '08P01'],
    ['a NUL in a jsonb value (22P05)', 'select $1::jsonb as value', ['"a\\u0000b"'], '22P05'],
    ['a division by zero (22012)', 'select 1 / $1::int as value', [0], '22012'],
    ['an unknown table (42P01)', 'select * from no_such_table', [], '42P01'],
  ])('%s is a bug: not transient', async (_, statement, params, code) => {
    const error = await errorOf(statement, params);

    expect({ code: error.code, transient: isTransientStoreFailure(error) }).toEqual({ code, transient: false });
  });
});
