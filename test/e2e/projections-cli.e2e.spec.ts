import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type EventStoreLocation, openSqlEventStore } from '@libs/event-store';
import { READ_MODEL_MIGRATIONS } from '@projections';
import { foldEveryStream, writeHistory } from '../support/credits-history';
import { createTestDatabase, storeKindsUnderTest } from '../support/test-stores';

const CLI = join(__dirname, '../../dist/apps/cli/src/projections.js');

/** `npm run projections -- ...`, as a real process (built by the global setup). */
async function projections(env: Record<string, string>, ...args: string[]) {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], {
    env: { ...process.env, DATABASE_URL: '', ...env },
  });
  return stdout;
}

describe.each(storeKindsUnderTest())('npm run projections on %s', (kind) => {
  it('reports the lag with status, and rebuild brings every projection to the fold of the streams', async () => {
    const database = kind === 'postgres' ? await createTestDatabase() : undefined;
    const dataDir = mkdtempSync(join(tmpdir(), 'credits-cli-'));
    const env: Record<string, string> = database ? { DATABASE_URL: database.url } : { DATA_DIR: dataDir };
    const location: EventStoreLocation = database
      ? { kind: 'postgres', connectionString: database.url, poolSize: 2 }
      : { kind: 'pglite', dataDir: join(dataDir, 'pglite') };
    try {
      const opened = await openSqlEventStore(location, READ_MODEL_MIGRATIONS);
      await writeHistory(opened.store, { users: 20, eventsPerUser: 10 });
      await opened.store.close();

      const before = JSON.parse(await projections(env, 'status', '--json')) as Array<{ lagEvents: number }>;
      expect(before.map((lag) => lag.lagEvents)).toEqual([200, 200, 200, 200, 200]);

      const rebuilt = await projections(env, 'rebuild');
      expect(rebuilt).toContain('balance: rebuilt from 200 events');

      const after = JSON.parse(await projections(env, 'status', '--json')) as Array<{ lagEvents: number }>;
      expect(after.map((lag) => lag.lagEvents)).toEqual([0, 0, 0, 0, 0]);
      const { store, driver } = await openSqlEventStore(location, READ_MODEL_MIGRATIONS);
      const folded = await foldEveryStream(store);
      const rows = await driver.query<{ user_id: string; balance: string }>(
        'select user_id, balance::text as balance from balances',
      );
      expect(new Map(rows.map((row) => [row.user_id, Number(row.balance)]))).toEqual(
        new Map([...folded].map(([userId, state]) => [userId, state.balance])),
      );
      const grants = await driver.query<{ user_id: string; remaining: string }>(
        'select user_id, sum(remaining)::text as remaining from grants group by user_id',
      );
      expect(new Map(grants.map((row) => [row.user_id, Number(row.remaining)]))).toEqual(
        new Map([...folded].map(([userId, state]) => [userId, state.balance])),
      );
      await store.close();
    } finally {
      await database?.drop();
    }
  });

  it('refuses an unknown command or projection', async () => {
    await expect(
      projections({ DATA_DIR: mkdtempSync(join(tmpdir(), 'credits-cli-')) }, 'explode'),
    ).rejects.toMatchObject({
      code: 2,
    });
  });
});
