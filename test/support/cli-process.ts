import { execFile } from 'node:child_process';
import { join } from 'node:path';

export type CliRun = { code: number; stdout: string; stderr: string };

/** A built CLI (jest's global setup builds `dist/`), by its path under `dist/apps`. */
export function builtCli(pathUnderApps: string): string {
  return join(__dirname, '../../dist/apps', pathUnderApps);
}

/**
 * Runs a CLI as a real process with only PATH and the given environment
 * (DATABASE_URL empty unless given: the embedded store), to its exit.
 */
export function runCli(cli: string, env: Record<string, string>, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { PATH: process.env.PATH ?? '', DATABASE_URL: '', ...env } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
    );
  });
}
