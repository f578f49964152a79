import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import { Client } from 'pg';
import { FaultyTcpProxy } from '../../sim/infra/faulty-tcp-proxy';

const POSTGRES_URL = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const POSTGRES = {
  host: POSTGRES_URL.hostname,
  port: Number(POSTGRES_URL.port || 5432),
  user: decodeURIComponent(POSTGRES_URL.username) || 'postgres',
  password: decodeURIComponent(POSTGRES_URL.password) || undefined,
  database: decodeURIComponent(POSTGRES_URL.pathname.slice(1)) || 'postgres',
};

/** A pg client on `port` of 127.0.0.1 (the proxy's) or straight to the server; its socket errors are the test's to see. */
async function connect(port?: number): Promise<Client> {
  const client = new Client({ ...POSTGRES, ...(port === undefined ? {} : { host: '127.0.0.1', port }) });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function elapsedMs(work: () => Promise<unknown>): Promise<number> {
  const startedMs = performance.now();
  await work();
  return performance.now() - startedMs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The proxy the simulation puts between the ledger and PostgreSQL, against
 * the machine's server (DATABASE_URL, or postgres@127.0.0.1:5432): skipped
 * (with the reason) only outside CI when there is none.
 */
describe('FaultyTcpProxy in front of PostgreSQL', () => {
  let proxy: FaultyTcpProxy;
  let port: number;
  let skipReason: string | undefined;
  const clients: Client[] = [];

  beforeAll(async () => {
    try {
      await (await connect()).end();
    } catch (error) {
      if (process.env.CI === 'true') throw error;
      skipReason = `no PostgreSQL at ${POSTGRES.host}:${POSTGRES.port}: ${String(error)}`;
      console.warn(`FaultyTcpProxy PostgreSQL suite skipped: ${skipReason}`);
    }
  });

  beforeEach(async () => {
    proxy = new FaultyTcpProxy({ host: POSTGRES.host, port: POSTGRES.port });
    port = await proxy.start();
  });

  afterEach(async () => {
    await proxy.stop();
    await Promise.all(clients.splice(0).map((client) => client.end().catch(() => undefined)));
  });

  async function connectThroughProxy(): Promise<Client> {
    const client = await connect(port);
    clients.push(client);
    return client;
  }

  it('relays queries, and counts the open connections', async () => {
    if (skipReason) return;
    expect(port).toBe(proxy.port);
    const client = await connectThroughProxy();
    await expect(client.query('select 1 + 1 as two')).resolves.toMatchObject({ rows: [{ two: 2 }] });
    const params = await client.query<{ text: string }>('select $1::text as text', ['through the proxy']);
    expect(params.rows).toEqual([{ text: 'through the proxy' }]);
    expect(proxy.connections).toBe(1);
  });

  it('cuts every connection on cutAll: the next query fails', async () => {
    if (skipReason) return;
    const client = await connectThroughProxy();
    await client.query('select 1');
    expect(proxy.cutAll()).toBe(1);
    await expect(client.query('select 1')).rejects.toThrow();
    expect(proxy.connections).toBe(0);
  });

  it('cuts the connections that random() picks on cutSome', async () => {
    if (skipReason) return;
    const [first, second] = [await connectThroughProxy(), await connectThroughProxy()];
    const draws = [0.9, 0.1]; // the first pair is kept, the second cut
    expect(proxy.cutSome(() => draws.shift()!, 0.5)).toBe(1);
    await expect(first.query('select 1')).resolves.toBeDefined();
    await expect(second.query('select 1')).rejects.toThrow();
  });

  it('delays every chunk on setDelay, and no more once back to 0', async () => {
    if (skipReason) return;
    const client = await connectThroughProxy();
    proxy.setDelay(50);
    expect(await elapsedMs(() => client.query('select 1'))).toBeGreaterThanOrEqual(50);
    proxy.setDelay(0);
    expect(await elapsedMs(() => client.query('select 1'))).toBeLessThan(50);
  });

  it('holds a query for the stall, then lets it complete', async () => {
    if (skipReason) return;
    const client = await connectThroughProxy();
    const stalled = proxy.stall(300);
    const queryMs = await elapsedMs(() => client.query('select 1'));
    await stalled;
    expect(queryMs).toBeGreaterThanOrEqual(250);
    await expect(client.query('select 2 as two')).resolves.toMatchObject({ rows: [{ two: 2 }] });
  });

  it('holds the bytes of a connection opened during a stall too', async () => {
    if (skipReason) return;
    const stalled = proxy.stall(300);
    const connectMs = await elapsedMs(() => connectThroughProxy());
    await stalled;
    expect(connectMs).toBeGreaterThanOrEqual(250);
  });

  it('forwards an armed COMMIT, then cuts before its answer: the client cannot tell if it committed', async () => {
    if (skipReason) return;
    const table = `sim_proxy_commit_${randomUUID().replaceAll('-', '')}`;
    const direct = await connect();
    try {
      await direct.query(`create table ${table} (id int primary key)`);
      const client = await connectThroughProxy();
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      await client.query('begin');
      await client.query(`insert into ${table} values (1)`);
      proxy.cutAtNextCommits(1);
      await expect(client.query('commit')).rejects.toThrow();
      expect(proxy.commitCuts).toBe(1);
      const rows = await rowsOnceGone(direct, pid, table);
      // Either outcome is allowed; which one happened is reported.
      console.info(`cutAtNextCommits: the cut COMMIT ${rows === 1 ? 'committed' : 'did not commit'}`);
      expect([0, 1]).toContain(rows);
    } finally {
      await direct.query(`drop table if exists ${table}`);
      await direct.end();
    }
  });
});

/** The rows of `table` once the cut backend `pid` is gone: its transaction ended, committed or not. */
async function rowsOnceGone(direct: Client, pid: number, table: string): Promise<number> {
  for (let attempt = 0; attempt < 250; attempt += 1) {
    const left = await direct.query('select 1 from pg_stat_activity where pid = $1', [pid]);
    if (left.rowCount === 0) break;
    await sleep(20);
  }
  const result = await direct.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return result.rows[0].n;
}

/** The proxy's own behaviour, against a plain TCP server: no PostgreSQL needed. */
describe('FaultyTcpProxy in front of a TCP server', () => {
  let target: net.Server;
  let received: Buffer[];
  let proxy: FaultyTcpProxy;

  /** A server that records what it receives and answers each chunk with "ok:<chunk>". */
  beforeEach(async () => {
    received = [];
    target = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (bytes) => {
        received.push(bytes);
        socket.write(`ok:${bytes.toString()}`);
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    proxy = new FaultyTcpProxy({ host: '127.0.0.1', port: (target.address() as net.AddressInfo).port });
    await proxy.start();
  });

  afterEach(async () => {
    await proxy.stop();
    await new Promise<void>((resolve) => target.close(() => resolve()));
  });

  /** A raw socket through the proxy, collecting what comes back and whether it closed. */
  async function openSocket(): Promise<{ socket: net.Socket; answer: () => string; closed: Promise<void> }> {
    const socket = net.connect(proxy.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (bytes) => chunks.push(bytes));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return { socket, answer: () => Buffer.concat(chunks).toString(), closed };
  }

  it('finds a COMMIT split across two chunks, forwards it whole, and answers nothing', async () => {
    const { socket, answer, closed } = await openSocket();
    proxy.cutAtNextCommits(1);
    socket.write('Qselect 1; com');
    await sleep(50);
    expect(proxy.commitCuts).toBe(0);
    socket.write('MIT;\0');
    await closed;
    expect(proxy.commitCuts).toBe(1);
    expect(Buffer.concat(received).toString()).toBe('Qselect 1; comMIT;\0');
    expect(answer()).toBe('ok:Qselect 1; com');
  });

  it('cuts at only as many COMMITs as armed', async () => {
    proxy.cutAtNextCommits(1);
    const first = await openSocket();
    first.socket.write('COMMIT');
    await first.closed;
    const second = await openSocket();
    second.socket.write('COMMIT');
    await sleep(50);
    expect(second.answer()).toBe('ok:COMMIT');
    expect(proxy.commitCuts).toBe(1);
    second.socket.destroy();
  });

  it('keeps the order of bytes in each direction under a delay', async () => {
    const { socket, answer } = await openSocket();
    proxy.setDelay(30);
    for (const letter of 'abcdef') {
      socket.write(letter);
      await sleep(5);
    }
    await sleep(150);
    expect(Buffer.concat(received).toString()).toBe('abcdef');
    expect(answer().replaceAll('ok:', '')).toBe('abcdef');
    socket.destroy();
  });

  it('closes the client when the target cannot be reached', async () => {
    const port = proxy.port;
    await proxy.stop();
    const closedTarget = (target.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => target.close(() => resolve()));
    target = net.createServer(); // for afterEach
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    proxy = new FaultyTcpProxy({ host: '127.0.0.1', port: closedTarget });
    await proxy.start();
    expect(proxy.port).not.toBe(port);
    const { closed } = await openSocket();
    await closed;
    expect(proxy.connections).toBe(0);
  });
});
