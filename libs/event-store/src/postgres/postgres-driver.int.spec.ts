import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Client } from 'pg';
import { createTestDatabase, describeOnPostgres, type TestDatabase } from '../../../../test/support/test-stores';
import { VersionConflictError } from '../event-store.errors';
import { POSTGRES_POOL_DEFAULTS, PostgresDriver } from './postgres-driver';

describeOnPostgres('PostgresDriver', () => {
  let database: TestDatabase;
  let driver: PostgresDriver;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());
  // One connection: a test sees whether the pool kept it or opened another.
  beforeEach(() => {
    driver = new PostgresDriver({ connectionString: database.url, max: 1 });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await driver.close();
  });

  describe('transaction', () => {
    it('keeps the connection when the work throws an error of its own, such as a version conflict', async () => {
      const before = await backendPid(driver);
      const conflict = new VersionConflictError('stream', 1, 2);

      await expect(
        driver.transaction(async (tx) => {
          await tx.query('select 1');
          throw conflict;
        }),
      ).rejects.toBe(conflict);

      expect(await backendPid(driver)).toBe(before);
    });

    it('throws the error of the work, not that of the rollback, and then destroys the connection', async () => {
      const before = await backendPid(driver);
      failQueriesOnPostgres('rollback', { code: '57014', message: 'canceling statement due to user request' });

      const failure = driver.transaction((tx) => tx.query('select 1 / 0'));

      await expect(failure).rejects.toMatchObject({ code: '22012' });
      jest.restoreAllMocks();
      // Returned to the pool, the connection would still be in the aborted transaction (25P02).
      expect(await driver.query('select 1 as one')).toEqual([{ one: 1 }]);
      expect(await backendPid(driver)).not.toBe(before);
    });

    it('throws the error of the work when the connection died under it, and then reconnects', async () => {
      const failure = new Error('the work failed after its connection was closed');

      await expect(
        driver.transaction(async (tx) => {
          const [{ pid }] = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
          await terminateBackend(database, pid);
          throw failure;
        }),
      ).rejects.toBe(failure);

      expect(await driver.query('select 1 as one')).toEqual([{ one: 1 }]);
    });
  });

  describe('withExclusiveLock', () => {
    it('throws the error of the work when the unlock fails too, and releases the lock', async () => {
      failQueriesOnPostgres('pg_advisory_unlock', { message: 'Connection terminated unexpectedly' });
      const failure = new Error('the migration failed');

      await expect(driver.withExclusiveLock('contract:lock', () => Promise.reject(failure))).rejects.toBe(failure);

      jest.restoreAllMocks();
      await expectLockToBeTakenBy(database, 'contract:lock');
    });

    it('returns the result of the work when only the unlock fails, and releases the lock', async () => {
      failQueriesOnPostgres('pg_advisory_unlock', { message: 'Connection terminated unexpectedly' });

      expect(await driver.withExclusiveLock('contract:lock', () => Promise.resolve('done'))).toBe('done');

      jest.restoreAllMocks();
      await expectLockToBeTakenBy(database, 'contract:lock');
    });
  });

  describe('connecting', () => {
    let silentServer: Server;
    const sockets = new Set<Socket>();
    beforeEach(async () => {
      // Accepts connections and never answers, like a server behind a dead network path.
      silentServer = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve));
    });
    afterEach(async () => {
      jest.useRealTimers();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silentServer.close(resolve));
    });

    it(`gives up after ${POSTGRES_POOL_DEFAULTS.connectionTimeoutMillis} ms by default`, async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
      const { port } = silentServer.address() as AddressInfo;
      const unanswered = new PostgresDriver({ host: '127.0.0.1', port, user: 'postgres', max: 1 });
      const query = unanswered.query('select 1');
      let settled = false;
      query.catch(() => undefined).finally(() => (settled = true));

      await jest.advanceTimersByTimeAsync(POSTGRES_POOL_DEFAULTS.connectionTimeoutMillis - 1);
      expect(settled).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await new Promise(setImmediate);
      expect(settled).toBe(true);

      await expect(query).rejects.toThrow(/timeout/i);
      jest.useRealTimers();
      await unanswered.close();
    });
  });
});

async function backendPid(driver: PostgresDriver): Promise<number> {
  const [{ pid }] = await driver.query<{ pid: number }>('select pg_backend_pid() as pid');
  return pid;
}

/** Fault injection: every query whose text contains `text` fails on the client with `failure`. */
function failQueriesOnPostgres(text: string, failure: { code?: string; message: string }): void {
  const query = Client.prototype.query;
  jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
    if (typeof args[0] === 'string' && args[0].includes(text)) {
      return Promise.reject(Object.assign(new Error(failure.message), failure.code ? { code: failure.code } : {}));
    }
    return (query as (...queryArgs: unknown[]) => unknown).apply(this, args);
  });
}

async function withClient<T>(database: TestDatabase, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Ends the backend and waits (up to 5 s) until it is gone. */
async function terminateBackend(database: TestDatabase, pid: number): Promise<void> {
  await withClient(database, (client) => client.query('select pg_terminate_backend($1, 5000)', [pid]));
}

/** Another session takes the lock, waiting for it at most 5 s. */
async function expectLockToBeTakenBy(database: TestDatabase, lockName: string): Promise<void> {
  await withClient(database, async (client) => {
    await client.query(`set lock_timeout = '5s'`);
    await client.query('select pg_advisory_lock(hashtext($1))', [lockName]);
  });
}
