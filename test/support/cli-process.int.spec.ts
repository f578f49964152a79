import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli-process';

/** The helper every CLI suite reads exit codes through: a crash must never read as success. */
describe('runCli', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-process-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const script = (name: string, source: string) => {
    const path = join(dir, name);
    writeFileSync(path, source);
    return path;
  };

  it('reports the exit code and both outputs', async () => {
    const cli = script('exits-3.js', `console.log('out'); console.error('err'); process.exitCode = 3;`);

    expect(await runCli(cli, {})).toEqual({ code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  it('reports a process killed by a signal as 128 + its number, never 0', async () => {
    const cli = script('killed.js', `process.kill(process.pid, 'SIGKILL');`);

    expect(await runCli(cli, {})).toMatchObject({ code: 128 + 9, signal: 'SIGKILL' });
  });
});
