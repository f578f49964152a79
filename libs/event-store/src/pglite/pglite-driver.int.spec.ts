import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformFileSync } from '@swc/core';
import { DataDirectoryLockedError } from './data-directory-lock';
import { PgliteDriver } from './pglite-driver';

describe('PgliteDriver on a data directory', () => {
  let parent: string;
  let dataDir: string;
  let lockFile: string;
  const drivers: PgliteDriver[] = [];
  async function open(): Promise<PgliteDriver> {
    const driver = await PgliteDriver.open(dataDir);
    drivers.push(driver);
    return driver;
  }
  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'credits-pglite-lock-'));
    dataDir = join(parent, 'pglite');
    lockFile = join(parent, 'pglite.lock');
  });
  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((driver) => driver.close()));
    rmSync(parent, { recursive: true, force: true });
  });

  it('refuses a directory already open in this process, and opens it once that one is closed', async () => {
    const first = await open();
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(process.pid));
    await first.query('create table marks (mark text)');
    await first.query(`insert into marks values ('kept')`);

    const second = PgliteDriver.open(dataDir);

    await expect(second).rejects.toThrow(DataDirectoryLockedError);
    await expect(second).rejects.toMatchObject({ pid: process.pid, message: expect.stringContaining(dataDir) });
    await first.close();
    expect(existsSync(lockFile)).toBe(false);
    const reopened = await open();
    expect(await reopened.query('select mark from marks')).toEqual([{ mark: 'kept' }]);
  });

  it('releases the lock once however often it is closed', async () => {
    const driver = await open();
    await driver.close();
    const reopened = await open();

    await driver.close();

    expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(process.pid));
    await expect(PgliteDriver.open(dataDir)).rejects.toThrow(DataDirectoryLockedError);
    expect(await reopened.query('select 1 as one')).toEqual([{ one: 1 }]);
  });

  describe('when another process has it open', () => {
    let holder: ChildProcess | undefined;
    afterEach(async () => {
      if (holder?.exitCode === null && holder.signalCode === null) {
        holder.kill('SIGKILL');
        await once(holder, 'exit');
      }
      holder = undefined;
    });

    it('refuses it while that process lives, and takes it over once it died without releasing it', async () => {
      holder = await lockInChildProcess(dataDir, parent);

      await expect(PgliteDriver.open(dataDir)).rejects.toMatchObject({
        name: 'DataDirectoryLockedError',
        pid: holder.pid,
        message: expect.stringContaining(`process ${holder.pid}`),
      });

      holder.kill('SIGKILL');
      await once(holder, 'exit');
      await open();
      expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(process.pid));
    });
  });
});

/**
 * A child process that takes the lock with the same code and keeps it until
 * killed. The lock module imports only Node's modules, so the child runs it
 * compiled to JavaScript.
 */
async function lockInChildProcess(dataDir: string, workDir: string): Promise<ChildProcess> {
  const lockModule = join(workDir, 'data-directory-lock.js');
  const compiled = transformFileSync(join(__dirname, 'data-directory-lock.ts'), {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    swcrc: false,
  });
  writeFileSync(lockModule, compiled.code);
  const script = `require(${JSON.stringify(lockModule)}).lockDataDirectory(${JSON.stringify(dataDir)});
    process.stdout.write('locked\\n');
    setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the child process exited with ${String(code)} before it held the lock`);
  });
  exited.catch(() => undefined);
  const [firstOutput] = await Promise.race([once(child.stdout, 'data'), exited]);
  expect(String(firstOutput)).toBe('locked\n');
  return child;
}
