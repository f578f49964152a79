import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The built entry point every role starts from (`npm run build`): `dist/apps/main.js`, whether the simulation
 * runs built (`npm run sim`, from `dist/sim`) or from its sources (the test suite).
 */
const REPOSITORY = __dirname.includes(`${sep}dist${sep}`)
  ? __dirname.split(`${sep}dist${sep}`)[0]
  : join(__dirname, '../..');
const MAIN = join(REPOSITORY, 'dist/apps/main.js');

export type ProcessName = 'api-1' | 'api-2' | 'projector';
export const PROCESS_NAMES: readonly ProcessName[] = ['api-1', 'api-2', 'projector'];

type Managed = { name: ProcessName; port: number; env: Record<string, string>; child?: ChildProcess; starts: number };

/**
 * The ledger as it is deployed: two API processes (`ROLE=api`) and a projector process (`ROLE=projector`, with
 * the expiry process and the webhook dispatcher), real Node processes on one database. Each keeps its port
 * across restarts, so a client's URL outlives a SIGKILL; each one's stderr goes to a log file beside the trace.
 */
export class LedgerProcesses {
  private readonly processes = new Map<ProcessName, Managed>();

  private constructor(
    private readonly commonEnv: Record<string, string>,
    private readonly logDirectory: string,
  ) {}

  /** `envOf` adds to a process's environment (the projector's own database URL, say). */
  static async start(
    commonEnv: Record<string, string>,
    logDirectory: string,
    envOf: (name: ProcessName) => Record<string, string> = () => ({}),
  ): Promise<LedgerProcesses> {
    const system = new LedgerProcesses(commonEnv, logDirectory);
    for (const name of PROCESS_NAMES) {
      const role = name === 'projector' ? 'projector' : 'api';
      system.processes.set(name, { name, port: await freePort(), env: { ...envOf(name), ROLE: role }, starts: 0 });
    }
    // The projector first: it migrates the database while the API processes are not yet racing it.
    for (const name of PROCESS_NAMES) await system.startProcess(name);
    return system;
  }

  /** The API processes' base URLs, in a fixed order. */
  get apiUrls(): string[] {
    return (['api-1', 'api-2'] as const).map((name) => `http://127.0.0.1:${this.managed(name).port}`);
  }

  isRunning(name: ProcessName): boolean {
    const child = this.managed(name).child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** SIGKILL: no shutdown hook runs, whatever was in flight is lost mid-way. */
  async kill(name: ProcessName): Promise<void> {
    const child = this.managed(name).child;
    if (child === undefined || !this.isRunning(name)) return;
    child.kill('SIGKILL');
    await exited(child);
  }

  async startProcess(name: ProcessName): Promise<void> {
    const managed = this.managed(name);
    if (this.isRunning(name)) return;
    managed.starts++;
    const log = createWriteStream(join(this.logDirectory, `${name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [MAIN], {
      env: { ...this.commonEnv, ...managed.env, PORT: String(managed.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('exit', (code, signal) => log.end(`--- ${name} exited: ${code ?? signal}\n`));
    managed.child = child;
    await this.untilListening(managed);
  }

  /** Every process that is not running, started again. */
  async startStopped(): Promise<void> {
    for (const name of PROCESS_NAMES) if (!this.isRunning(name)) await this.startProcess(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all(PROCESS_NAMES.map((name) => this.kill(name)));
  }

  /** The running process's id, for sampling its resident memory. */
  pid(name: ProcessName): number | undefined {
    return this.isRunning(name) ? this.managed(name).child?.pid : undefined;
  }

  starts(name: ProcessName): number {
    return this.managed(name).starts;
  }

  /** Until the process answers `GET /health/live` (every role serves it), or it exits. */
  private async untilListening(managed: Managed): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (!this.isRunning(managed.name)) {
        throw new Error(`${managed.name} exited while starting; see ${managed.name}.log in ${this.logDirectory}`);
      }
      try {
        const response = await fetch(`http://127.0.0.1:${managed.port}/health/live`, {
          signal: AbortSignal.timeout(1_000),
        });
        if (response.ok) return;
      } catch {
        // Not listening yet (or the database is down while it starts): ask again.
      }
      await sleep(100);
    }
    throw new Error(`${managed.name} did not start within 60 s`);
  }

  private managed(name: ProcessName): Managed {
    const managed = this.processes.get(name);
    if (managed === undefined) throw new Error(`no process ${name}`);
    return managed;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A port free on loopback now (the OS picks it); a process binds it soon after. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
