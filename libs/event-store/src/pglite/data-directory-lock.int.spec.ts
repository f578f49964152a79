import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DataDirectoryLock, DataDirectoryLockedError, lockDataDirectory } from './data-directory-lock';

describe('the lock file of a PGlite data directory', () => {
  let parent: string;
  let dataDir: string;
  let lockFile: string;
  const locks: DataDirectoryLock[] = [];
  function lock(): DataDirectoryLock {
    const taken = lockDataDirectory(dataDir);
    locks.push(taken);
    return taken;
  }
  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'credits-data-directory-lock-'));
    dataDir = join(parent, 'pglite');
    lockFile = join(parent, 'pglite.lock');
  });
  afterEach(() => {
    for (const taken of locks.splice(0)) taken.release();
    rmSync(parent, { recursive: true, force: true });
  });

  it('is created beside the directory, names this process, and is deleted on release', () => {
    const taken = lock();
    expect(taken.lockFile).toBe(lockFile);
    expect(readFileSync(lockFile, 'utf8')).toBe(`${process.pid}\n`);

    taken.release();

    expect(existsSync(lockFile)).toBe(false);
  });

  it('is taken over when the process it names is gone', () => {
    const gonePid = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(lockFile, `${gonePid}\n`);

    lock();

    expect(readFileSync(lockFile, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => lockDataDirectory(dataDir)).toThrow(DataDirectoryLockedError);
  });

  it('is taken over when it names this process but this process does not hold it (a restarted container)', () => {
    writeFileSync(lockFile, `${process.pid}\n`);

    lock();

    expect(() => lockDataDirectory(dataDir)).toThrow(DataDirectoryLockedError);
  });

  it('is refused while the process it names lives, naming the directory and the process', () => {
    writeFileSync(lockFile, `${process.ppid}\n`);

    expect(() => lockDataDirectory(dataDir)).toThrow(
      expect.objectContaining({
        name: 'DataDirectoryLockedError',
        pid: process.ppid,
        message: expect.stringMatching(new RegExp(`${dataDir}.*process ${process.ppid}`)),
      }),
    );
    expect(readFileSync(lockFile, 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('is refused when it names no process, naming the file to delete', () => {
    writeFileSync(lockFile, '');

    expect(() => lockDataDirectory(dataDir)).toThrow(
      expect.objectContaining({ pid: undefined, message: expect.stringContaining(lockFile) }),
    );
  });

  it('is released once: a second release leaves the next holder its lock', () => {
    const first = lock();
    first.release();
    lock();

    first.release();

    expect(() => lockDataDirectory(dataDir)).toThrow(DataDirectoryLockedError);
  });

  it('is deleted on release only if it still names this process', () => {
    const taken = lock();
    writeFileSync(lockFile, `${process.ppid}\n`);

    taken.release();

    expect(readFileSync(lockFile, 'utf8')).toBe(`${process.ppid}\n`);
  });
});
