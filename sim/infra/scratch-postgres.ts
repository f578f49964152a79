import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';

/** Where the caller wants the cluster's progress and its tools' output (default: nowhere). */
export type ScratchPostgresOptions = { log?: (line: string) => void };

/**
 * The cluster cannot be made on this machine (no PostgreSQL binaries, no
 * `runuser` or `postgres` user when root, initdb or the server failing): a
 * caller may skip rather than fail, since nothing of the ledger is at fault.
 */
export class ScratchPostgresUnavailable extends Error {
  override readonly name = 'ScratchPostgresUnavailable';
}

const POSTGRES_BIN_ROOT = '/usr/lib/postgresql';
const OS_USER = 'postgres';
const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 100;
const COMMAND_TIMEOUT_MS = 60_000;
const START_ATTEMPTS_MAX = 3;
const SETTINGS_FILE = 'scratch.conf';

/**
 * The settings of a throwaway cluster: fast, and unsafe on a crash of the
 * machine, never on a crash of the server. synchronous_commit stays on: with
 * fsync off a commit costs one write() to the OS's cache, which survives
 * `restart('immediate')`; with it off, commits acknowledged in the last few
 * hundred ms (WAL still in shared memory) are lost by that crash, and the
 * simulation would report a durability bug the ledger does not have.
 */
function settingsOf(port: number, socketDirectory: string): string {
  return [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${socketDirectory}'`,
    `fsync = off`,
    `synchronous_commit = on`,
    `full_page_writes = off`,
    `max_connections = 200`,
    `shared_buffers = 64MB`,
    '',
  ].join('\n');
}

/**
 * A PostgreSQL cluster of the simulation's own, in a temporary directory: the
 * machine's server is never touched, and this one can be restarted, crashed
 * (`restart('immediate')`) or have its backends killed as a fault.
 */
export class ScratchPostgres {
  private destroyed: Promise<void> | undefined;
  private readonly destroyAtExit = (): void => this.destroyNow();

  private constructor(
    private readonly tools: Tools,
    private readonly rootDirectory: string,
    readonly dataDirectory: string,
    readonly port: number,
  ) {}

  /**
   * Creates (initdb, trust auth, user postgres), starts on a free 127.0.0.1
   * port, waits until it accepts connections. Throws ScratchPostgresUnavailable
   * with a reason when it cannot (no binaries, runuser missing, ...).
   */
  static async start(options: ScratchPostgresOptions = {}): Promise<ScratchPostgres> {
    const tools = toolsOf(options.log ?? (() => undefined));
    const rootDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'scratch-postgres-'));
    try {
      return await ScratchPostgres.create(tools, rootDirectory);
    } catch (error) {
      fs.rmSync(rootDirectory, { recursive: true, force: true });
      throw error instanceof ScratchPostgresUnavailable
        ? error
        : new ScratchPostgresUnavailable(`scratch PostgreSQL did not start: ${messageOf(error)}`, { cause: error });
    }
  }

  private static async create(tools: Tools, rootDirectory: string): Promise<ScratchPostgres> {
    const dataDirectory = path.join(rootDirectory, 'data');
    tools.handOver(rootDirectory);
    await tools.run('initdb', ['-D', dataDirectory, '-U', OS_USER, '-A', 'trust', '-E', 'UTF8', '--no-sync']);
    fs.appendFileSync(path.join(dataDirectory, 'postgresql.conf'), `\ninclude '${SETTINGS_FILE}'\n`);
    let lastError: unknown;
    for (let attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt += 1) {
      const port = await freePort();
      fs.writeFileSync(path.join(dataDirectory, SETTINGS_FILE), settingsOf(port, rootDirectory));
      tools.handOver(path.join(dataDirectory, SETTINGS_FILE));
      const cluster = new ScratchPostgres(tools, rootDirectory, dataDirectory, port);
      try {
        await cluster.pgCtl(['start']);
        await cluster.waitUntilReady();
        liveClusters.add(cluster.destroyAtExit);
        tools.log(`scratch PostgreSQL ready on 127.0.0.1:${port} in ${dataDirectory}`);
        return cluster;
      } catch (error) {
        lastError = error;
        tools.log(
          `scratch PostgreSQL start ${attempt}/${START_ATTEMPTS_MAX} on port ${port} failed: ${messageOf(error)}`,
        );
        await cluster.pgCtl(['stop', '-m', 'immediate']).catch(() => undefined);
      }
    }
    throw lastError;
  }

  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database = 'postgres'): string {
    return `postgres://${OS_USER}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** CREATE DATABASE <name> (via pg on the postgres db): each simulated run gets a database of its own. */
  async createDatabase(name: string): Promise<void> {
    await this.withClient((client) => client.query(`create database ${quoteIdentifier(name)}`));
  }

  /**
   * pg_ctl restart -m <mode> ('fast' default, or 'immediate': a crash, recovery
   * on start); resolves when it accepts connections again. The fault of a
   * database that goes away under the ledger and comes back.
   */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.pgCtl(['restart', '-m', mode]);
    await this.waitUntilReady();
  }

  /**
   * pg_terminate_backend of up to `count` client backends of `database` other
   * than the caller's, picked by `pick(n)` (returns an index in [0, n)), so that
   * a seeded run kills the same ones; returns how many it terminated.
   */
  async terminateBackends(database: string, count: number, pick: (n: number) => number): Promise<number> {
    return this.withClient(async (client) => {
      const candidates = await clientBackendsOf(client, database);
      const chosen = pickDistinct(candidates, count, pick);
      let terminated = 0;
      for (const pid of chosen) {
        const result = await client.query<{ done: boolean }>('select pg_terminate_backend($1) as done', [pid]);
        if (result.rows[0]?.done === true) terminated += 1;
      }
      return terminated;
    });
  }

  /**
   * Stops the cluster cleanly, runs `pg_resetwal <args>` on its data directory (as its owner), and starts it
   * again: what an operator does to advance the transaction counter of a cluster a dump was restored into.
   */
  async resetWal(args: string[]): Promise<void> {
    await this.pgCtl(['stop', '-m', 'fast']);
    await this.tools.run('pg_resetwal', [...args, this.dataDirectory]);
    await this.pgCtl(['start']);
    await this.waitUntilReady();
  }

  /** pg_ctl stop -m immediate and remove the directory. Idempotent, never throws: safe in any `finally`. */
  destroy(): Promise<void> {
    this.destroyed ??= this.stopAndRemove();
    return this.destroyed;
  }

  private async stopAndRemove(): Promise<void> {
    liveClusters.delete(this.destroyAtExit);
    try {
      await this.pgCtl(['stop', '-m', 'immediate']);
    } catch (error) {
      this.tools.log(`pg_ctl stop failed (${messageOf(error)}): signalling the postmaster`);
      killPostmaster(this.dataDirectory);
    }
    try {
      fs.rmSync(this.rootDirectory, { recursive: true, force: true });
    } catch (error) {
      this.tools.log(`could not remove ${this.rootDirectory}: ${messageOf(error)}`);
    }
  }

  /** The synchronous twin of `destroy`, for the process's exit, when nothing asynchronous runs any more. */
  private destroyNow(): void {
    liveClusters.delete(this.destroyAtExit);
    try {
      this.tools.runNow('pg_ctl', ['-D', this.dataDirectory, '-w', 'stop', '-m', 'immediate']);
    } catch {
      killPostmaster(this.dataDirectory);
    }
    fs.rmSync(this.rootDirectory, { recursive: true, force: true });
  }

  private pgCtl(args: string[]): Promise<void> {
    const logFile = path.join(this.dataDirectory, 'server.log');
    return this.tools.run('pg_ctl', ['-D', this.dataDirectory, '-l', logFile, '-w', '-t', '30', ...args]);
  }

  private async waitUntilReady(): Promise<void> {
    const deadlineMs = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        await this.withClient((client) => client.query('select 1'));
        return;
      } catch (error) {
        if (Date.now() >= deadlineMs) {
          throw new Error(`no connection within ${READY_TIMEOUT_MS} ms: ${messageOf(error)}`, { cause: error });
        }
        await sleep(READY_POLL_MS);
      }
    }
  }

  private async withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ host: '127.0.0.1', port: this.port, user: OS_USER, database: 'postgres' });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** The pids of the client backends of `database`, other than this session's, in a stable order. */
async function clientBackendsOf(client: Client, database: string): Promise<number[]> {
  const result = await client.query<{ pid: number }>(
    `select pid from pg_stat_activity
      where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid()
      order by pid`,
    [database],
  );
  return result.rows.map((row) => row.pid);
}

/** Up to `count` distinct items, each chosen by `pick` among those left. */
function pickDistinct<T>(items: readonly T[], count: number, pick: (n: number) => number): T[] {
  const left = [...items];
  const chosen: T[] = [];
  while (chosen.length < count && left.length > 0) {
    const index = pick(left.length);
    if (!Number.isInteger(index) || index < 0 || index >= left.length) {
      throw new RangeError(`pick(${left.length}) returned ${index}, not an index in [0, ${left.length})`);
    }
    chosen.push(...left.splice(index, 1));
  }
  return chosen;
}

/** How the PostgreSQL tools are run: directly, or as the `postgres` user when root (initdb and pg_ctl refuse root). */
type Tools = {
  log: (line: string) => void;
  run(tool: string, args: string[]): Promise<void>;
  runNow(tool: string, args: string[]): void;
  /** Gives a path to the user the tools run as. */
  handOver(target: string): void;
};

function toolsOf(log: (line: string) => void): Tools {
  const binDirectory = binDirectoryOf();
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? ownerOf(OS_USER) : undefined;
  const commandOf = (tool: string, args: string[]): [string, string[]] => {
    const file = path.join(binDirectory, tool);
    return asRoot ? [runuserPath(), ['-u', OS_USER, '--', file, ...args]] : [file, args];
  };
  return {
    log,
    run: (tool, args) => runCommand(commandOf(tool, args), log),
    runNow: (tool, args) => {
      const [file, fileArgs] = commandOf(tool, args);
      execFileSync(file, fileArgs, { cwd: os.tmpdir(), stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
    },
    handOver: (target) => {
      if (owner) fs.chownSync(target, owner.uid, owner.gid);
    },
  };
}

/** runuser where util-linux puts it, which a PATH without sbin misses; else whatever PATH finds. */
function runuserPath(): string {
  return ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((file) => fs.existsSync(file)) ?? 'runuser';
}

/** PG_BIN, or the bin directory of the newest version under /usr/lib/postgresql. */
function binDirectoryOf(): string {
  const fromEnvironment = process.env.PG_BIN;
  const candidates = fromEnvironment ? [fromEnvironment] : installedBinDirectories();
  const found = candidates.find((directory) => fs.existsSync(path.join(directory, 'pg_ctl')));
  if (!found) {
    throw new ScratchPostgresUnavailable(
      fromEnvironment
        ? `PG_BIN=${fromEnvironment} has no pg_ctl`
        : `no PostgreSQL binaries under ${POSTGRES_BIN_ROOT}/<version>/bin (set PG_BIN)`,
    );
  }
  return found;
}

function installedBinDirectories(): string[] {
  if (!fs.existsSync(POSTGRES_BIN_ROOT)) return [];
  return fs
    .readdirSync(POSTGRES_BIN_ROOT)
    .filter((version) => /^\d+(\.\d+)?$/.test(version))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => path.join(POSTGRES_BIN_ROOT, version, 'bin'));
}

/** The uid and gid of an OS user, from /etc/passwd. */
function ownerOf(user: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new ScratchPostgresUnavailable(
      `running as root, and there is no OS user ${user} to run initdb and pg_ctl as`,
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Runs a command to its end; its output goes to `log`; a failure carries its stderr. */
function runCommand([file, args]: [string, string[]], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: os.tmpdir(), timeout: COMMAND_TIMEOUT_MS }, (error, stdout, stderr) => {
      for (const line of `${stdout}${stderr}`.split('\n'))
        if (line.trim() !== '') log(`${path.basename(file)}: ${line}`);
      if (!error) return resolve();
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new ScratchPostgresUnavailable(`${file} not found`, { cause: error }));
      }
      reject(new Error(`${[file, ...args].join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
    });
  });
}

/** A last resort when pg_ctl cannot stop the server: SIGQUIT to the postmaster, an immediate shutdown. */
function killPostmaster(dataDirectory: string): void {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDirectory, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGQUIT');
  } catch {
    // No pid file or no such process: the server is not running.
  }
}

/** A port free now on 127.0.0.1 (another process may take it before the server does: start retries). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How to destroy each cluster not destroyed yet: done when the process exits, so that a crashed run leaves no server behind. */
const liveClusters = new Set<() => void>();
process.on('exit', () => {
  for (const destroyNow of liveClusters) {
    try {
      destroyNow();
    } catch {
      // Exiting: nothing more can be done.
    }
  }
});
