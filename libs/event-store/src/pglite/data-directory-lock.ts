import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** A live process has the PGlite data directory open: a second one would silently lose its writes. */
export class DataDirectoryLockedError extends Error {
  override readonly name = 'DataDirectoryLockedError';
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    /** The process holding the lock; undefined when the lock file names none. */
    readonly pid: number | undefined,
  ) {
    super(
      pid === undefined
        ? `PGlite data directory ${dataDir} is locked by ${lockFile}, which names no process; delete it if no process uses the directory`
        : `PGlite data directory ${dataDir} is in use by process ${pid} (lock file ${lockFile}); stop that process first`,
    );
  }
}

/** `release` deletes the lock file; calling it again does nothing. */
export type DataDirectoryLock = { lockFile: string; release(): void };

/** Each lock file is taken at most this many times in a row (another process may be taking it over too). */
const LOCK_ATTEMPTS_MAX = 3;

/**
 * The lock files this process holds. A process-wide fact, kept per process on
 * purpose: a lock file naming this process's pid but absent here was left by a
 * previous process that had the same pid (a container restarted), so it is stale.
 */
const lockFilesHeld = new Set<string>();

/**
 * Takes `<dataDir>.lock`, a file beside the directory holding the pid of its
 * owner, created only if absent (`wx`). A lock file whose process is gone is
 * taken over; one whose process lives is refused. Pids are only meaningful on
 * one host: processes on two machines sharing the directory are not detected.
 */
export function lockDataDirectory(dataDir: string): DataDirectoryLock {
  const directory = resolve(dataDir);
  const lockFile = join(dirname(directory), `${basename(directory)}.lock`);
  for (let attempt = 1; attempt <= LOCK_ATTEMPTS_MAX; attempt++) {
    if (createdLockFile(lockFile)) {
      lockFilesHeld.add(lockFile);
      let released = false;
      // Once only: a later holder of the same file, in this process, keeps its lock.
      const release = () => {
        if (!released) releaseLockFile(lockFile);
        released = true;
      };
      return { lockFile, release };
    }
    const holder = readHolder(lockFile);
    if (holder === 'gone') continue;
    if (holder === 'unreadable' || isHeld(lockFile, holder)) {
      throw new DataDirectoryLockedError(directory, lockFile, holder === 'unreadable' ? undefined : holder);
    }
    removeStaleLockFile(lockFile, holder);
  }
  throw new DataDirectoryLockedError(directory, lockFile, undefined);
}

function createdLockFile(lockFile: string): boolean {
  try {
    writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
}

/** The pid in the lock file; 'gone' when there is no file, 'unreadable' when it names no pid. */
function readHolder(lockFile: string): number | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(lockFile, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 'gone';
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 'unreadable';
}

function isHeld(lockFile: string, pid: number): boolean {
  if (pid === process.pid) return lockFilesHeld.has(lockFile);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return errorCode(error) === 'EPERM';
  }
}

/**
 * Moves the stale file aside before deleting it, so that of two processes
 * taking it over at once only one removes it. If the file moved aside is not
 * the stale one (the other process took over first), it is put back.
 */
function removeStaleLockFile(lockFile: string, stalePid: number): void {
  const aside = `${lockFile}.${process.pid}.stale`;
  try {
    renameSync(lockFile, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  try {
    if (readHolder(aside) !== stalePid) linkSync(aside, lockFile);
  } finally {
    rmSync(aside, { force: true });
  }
}

function releaseLockFile(lockFile: string): void {
  if (!lockFilesHeld.delete(lockFile)) return;
  if (readHolder(lockFile) === process.pid) rmSync(lockFile, { force: true });
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}
