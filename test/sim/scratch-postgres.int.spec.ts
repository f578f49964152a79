import * as fs from 'node:fs';
import { Client } from 'pg';
import { ScratchPostgres, ScratchPostgresUnavailable } from '../../sim/infra/scratch-postgres';

const TEST_TIMEOUT_MS = 120_000;
const DATABASE = 'scratch_spec';

/**
 * The simulation's own PostgreSQL cluster: made, used, crashed and restarted,
 * and removed. Skipped (with the reason) only outside CI when this machine
 * cannot make one.
 */
describe('ScratchPostgres', () => {
  let cluster: ScratchPostgres | undefined;
  const clients: Client[] = [];

  beforeAll(async () => {
    try {
      cluster = await ScratchPostgres.start();
    } catch (error) {
      if (!(error instanceof ScratchPostgresUnavailable) || process.env.CI === 'true') throw error;
      console.warn(`ScratchPostgres suite skipped: ${error.message}`);
    }
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await cluster?.destroy();
  }, TEST_TIMEOUT_MS);

  async function connect(database: string): Promise<Client> {
    const client = new Client({ connectionString: cluster!.url(database) });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    return client;
  }

  it(
    'listens on 127.0.0.1 at a port of its own, and makes databases that take queries',
    async () => {
      if (!cluster) return;
      expect(cluster.port).not.toBe(5432);
      expect(cluster.url('x')).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/x`);
      await cluster.createDatabase(DATABASE);
      const client = await connect(DATABASE);
      const result = await client.query<{ database: string; sync: string; commitSync: string }>(
        `select current_database() as database, current_setting('fsync') as sync,
                current_setting('synchronous_commit') as "commitSync"`,
      );
      // synchronous_commit on: commits acknowledged just before restart('immediate') must survive it.
      expect(result.rows).toEqual([{ database: DATABASE, sync: 'off', commitSync: 'on' }]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'terminates the backend it picks, and its next query fails',
    async () => {
      if (!cluster) return;
      await cluster.createDatabase('scratch_spec_terminate'); // only the two clients below are in it
      const kept = await connect('scratch_spec_terminate');
      const victim = await connect('scratch_spec_terminate');
      const victimPid = (await victim.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      const keptPid = (await kept.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      const victimIndex = victimPid > keptPid ? 1 : 0; // candidates come in pid order
      const offered: number[] = [];
      const terminated = await cluster.terminateBackends('scratch_spec_terminate', 1, (n) => {
        offered.push(n);
        return victimIndex;
      });
      expect({ terminated, offered }).toEqual({ terminated: 1, offered: [2] });
      await expect(victim.query('select 1')).rejects.toThrow();
      await expect(kept.query('select 1 as one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'terminates no more backends than there are',
    async () => {
      if (!cluster) return;
      expect(await cluster.terminateBackends('no_such_database', 3, () => 0)).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'crashes and recovers on restart(immediate), keeping what was committed',
    async () => {
      if (!cluster) return;
      const before = await connect(DATABASE);
      await before.query('create table kept (id int primary key)');
      await before.query('insert into kept values (1), (2)');
      await cluster.restart('immediate');
      await expect(before.query('select 1')).rejects.toThrow();
      const after = await connect(DATABASE);
      const result = await after.query<{ id: number }>('select id from kept order by id');
      expect(result.rows).toEqual([{ id: 1 }, { id: 2 }]);
      const log = fs.readFileSync(`${cluster.dataDirectory}/server.log`, 'utf8');
      expect(log).toMatch(/database system was not properly shut down; automatic recovery in progress/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'restarts cleanly on restart() too',
    async () => {
      if (!cluster) return;
      await cluster.restart();
      const client = await connect(DATABASE);
      expect((await client.query('select count(*)::int as n from kept')).rows).toEqual([{ n: 2 }]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'stops the server and removes its directory on destroy, twice without harm',
    async () => {
      if (!cluster) return;
      const { dataDirectory, port } = cluster;
      expect(fs.existsSync(dataDirectory)).toBe(true);
      await cluster.destroy();
      await cluster.destroy();
      expect(fs.existsSync(dataDirectory)).toBe(false);
      const client = new Client({ host: '127.0.0.1', port, user: 'postgres', connectionTimeoutMillis: 2000 });
      client.on('error', () => undefined);
      await expect(client.connect()).rejects.toThrow();
    },
    TEST_TIMEOUT_MS,
  );
});
