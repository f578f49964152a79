import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const PROJECTOR_MAIN = join(__dirname, '../../dist/apps/projector/src/main.js');

/** A real projector process (`ROLE=projector`, built by the global setup) on the given database. */
export function startProjectorProcess(databaseUrl: string, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [PROJECTOR_MAIN], {
    env: {
      ...process.env,
      ROLE: 'projector',
      DATABASE_URL: databaseUrl,
      PORT: '0',
      LOG_LEVEL: 'error',
      PROJECTOR_POLL_MS: '20',
      PROJECTOR_LOCK_RETRY_MS: '50',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', () => undefined);
  return child;
}

/** Resolves when the process has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
