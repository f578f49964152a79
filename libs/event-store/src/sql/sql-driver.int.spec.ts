import { type TestDatabase, createTestDatabase, storeKindsUnderTest } from '../../../../test/support/test-stores';
import { PgliteDriver } from '../pglite/pglite-driver';
import { PostgresDriver } from '../postgres/postgres-driver';
import type { LockSession, SqlDriver } from './sql-driver';

describe.each(storeKindsUnderTest())('lock sessions on %s', (kind) => {
  let database: TestDatabase | undefined;
  let driver: SqlDriver;
  const sessions: LockSession[] = [];
  async function openSession(): Promise<LockSession> {
    const session = await driver.openLockSession();
    sessions.push(session);
    return session;
  }
  beforeAll(async () => {
    database = kind === 'postgres' ? await createTestDatabase() : undefined;
    driver = database
      ? new PostgresDriver({ connectionString: database.url, max: 2 })
      : await PgliteDriver.open(undefined);
  });
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.close()));
  });
  afterAll(async () => {
    await driver?.close();
    await database?.drop();
  });

  it('refuse a lock that another session holds, and grant it once that session unlocks', async () => {
    const first = await openSession();
    const second = await openSession();
    expect(await first.tryLock('projection:balance')).toBe(true);

    expect(await second.tryLock('projection:balance')).toBe(false);
    expect(await second.tryLock('projection:ledger')).toBe(true);

    await first.unlock('projection:balance');
    expect(await second.tryLock('projection:balance')).toBe(true);
  });

  it('grant the locks of a session once it is closed', async () => {
    const first = await openSession();
    const second = await openSession();
    expect(await first.tryLock('projection:balance')).toBe(true);
    expect(await second.tryLock('projection:balance')).toBe(false);

    await first.close();

    expect(await second.tryLock('projection:balance')).toBe(true);
  });

  it('grant a session the lock it already holds, and release it at one unlock however often it was taken', async () => {
    const first = await openSession();
    const second = await openSession();
    expect(await first.tryLock('projection:balance')).toBe(true);
    expect(await first.tryLock('projection:balance')).toBe(true);

    await first.unlock('projection:balance');

    expect(await second.tryLock('projection:balance')).toBe(true);
  });

  it('ignore an unlock of a lock the session does not hold', async () => {
    const first = await openSession();
    const second = await openSession();
    expect(await first.tryLock('projection:balance')).toBe(true);

    await second.unlock('projection:balance');

    expect(await second.tryLock('projection:balance')).toBe(false);
  });
});
