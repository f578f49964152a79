import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';

/**
 * How a CLI run ended. A process killed by a signal has no exit code: `code`
 * is then 128 + the signal's number, as a shell reports it, so that a crash
 * never reads as success.
 */
export type CliRun = { code: number; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** A built CLI (jest's global setup builds `dist/`), by its path under `dist/apps`. */
export function builtCli(pathUnderApps: string): string {
  return join(__dirname, '../../dist/apps', pathUnderApps);
}

/**
 * Runs a CLI as a real process with only PATH and the given environment
 * (DATABASE_URL empty unless given: the embedded store), to its exit. Its
 * stdout and stderr are pipes, as under `npm run health | jq`.
 */
export function runCli(cli: string, env: Record<string, string>, ...args: string[]): Promise<CliRun> {
  return run(cli, env, args, 0);
}

/**
 * As `runCli`, with a reader that leaves stdout unread for `delayMs`, as a
 * slow consumer would: a CLI that exits before its output is flushed loses
 * whatever the pipe (64 KiB on Linux) could not hold by then.
 */
export function runCliReadLate(
  cli: string,
  env: Record<string, string>,
  delayMs: number,
  ...args: string[]
): Promise<CliRun> {
  return run(cli, env, args, delayMs);
}

function run(cli: string, env: Record<string, string>, args: string[], stdoutDelayMs: number): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (stdoutDelayMs > 0) {
      // Paused before any listener, so that the 'data' listener below does not start the flow.
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), stdoutDelayMs);
    }
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // Could not start at all (no such executable): no run to report.
    child.on('error', reject);
    // Node gives one of the two: the exit code, or the signal that ended the process.
    child.on('close', (code, signal) =>
      resolve({ code: code ?? 128 + constants.signals[signal as NodeJS.Signals], signal, stdout, stderr }),
    );
  });
}
