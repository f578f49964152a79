/**
 * `npm run bench -- compare --peers DIR [--reps 3] [--workloads w1,w2,w3]
 *   [--hot-grant 1000 --hot-ops 2000] [--out FILE.jsonl]`
 * Runs our ledger and both peers of DIR (the peers folder, its
 * dependencies installed) for each workload, `--reps` times, alternating, one
 * child process per run (as the peers' bench-all.mjs does), then prints the
 * medians and the ratios of our figures to the peers'. `--hot-grant/--hot-ops` go
 * to Emmett's W2 only (at the defaults it runs for about 19 minutes).
 * A tool, not a test: the figures depend on the machine.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerRecord } from './peer-format';
import { formatComparison } from './compare-report';

export const COMPARED_PEERS = ['ledger', 'seed', 'emmett'] as const;
export type ComparedPeer = (typeof COMPARED_PEERS)[number];
export type CompareRecord = Partial<PeerRecord> & { peer: string; workload: string; rep: number; crashed?: boolean };

type CompareOptions = {
  peersDir: string;
  reps: number;
  workloads: string[];
  emmettHotFlags: string[];
  out: string | undefined;
};

const USAGE =
  'usage: npm run bench -- compare --peers DIR [--reps 3] [--workloads w1,w2,w3] ' +
  '[--hot-grant 1000 --hot-ops 2000 (Emmett W2 only)] [--out FILE.jsonl]\n';

export function compare(argv: readonly string[]): number {
  const options = parseCompareOptions(argv);
  if (options === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  const records: CompareRecord[] = [];
  for (let rep = 1; rep <= options.reps; rep++) {
    for (const workload of options.workloads) {
      for (const peer of COMPARED_PEERS) records.push(runOnce(options, peer, workload, rep));
    }
  }
  process.stdout.write(formatComparison(records, options.emmettHotFlags));
  return records.every((record) => record.verified === true) ? 0 : 1;
}

function runOnce(options: CompareOptions, peer: ComparedPeer, workload: string, rep: number): CompareRecord {
  const started = Date.now();
  const [command, cwd] =
    peer === 'ledger'
      ? [[join(__dirname, 'main.js'), workload, '--json'], process.cwd()]
      : [peerArguments(options, peer, workload), options.peersDir];
  const child = spawnSync(process.execPath, command, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const record = parseRecord(child.stdout, peer, workload, rep, child.status, child.stderr);
  if (options.out !== undefined) appendFileSync(options.out, `${JSON.stringify(record)}\n`);
  const wallSeconds = ((Date.now() - started) / 1000).toFixed(1);
  const figures = record.crashed
    ? `CRASHED (exit ${child.status})`
    : `${record.ops_per_s} ops/s, p99 ${record.p99_ms} ms, verified ${record.verified}`;
  process.stderr.write(`[rep ${rep}] ${peer}/${workload}: ${figures} (${wallSeconds} s wall)\n`);
  return record;
}

function peerArguments(options: CompareOptions, peer: ComparedPeer, workload: string): string[] {
  const server = serverFlags(process.env.DATABASE_URL);
  const hot = peer === 'emmett' && workload === 'w2' ? options.emmettHotFlags : [];
  return ['run.mjs', '--peer', peer, '--workload', workload, '--json', ...server, ...hot];
}

/** The peers connect to --host/--port/--user (trust auth): those of DATABASE_URL when it is set. */
function serverFlags(databaseUrl: string | undefined): string[] {
  if (databaseUrl === undefined) return [];
  const url = new URL(databaseUrl);
  return ['--host', url.hostname, '--port', url.port || '5432', '--user', decodeURIComponent(url.username)];
}

function parseRecord(
  stdout: string | null,
  peer: string,
  workload: string,
  rep: number,
  exit: number | null,
  stderr: string | null,
): CompareRecord {
  const line = (stdout ?? '').trim().split('\n').filter(Boolean).pop();
  try {
    return { ...(JSON.parse(line ?? '') as PeerRecord), rep };
  } catch {
    return {
      peer,
      workload,
      rep,
      verified: false,
      crashed: true,
      errors: [`exit ${exit}: ${(stderr ?? '').slice(-2000)}`],
    };
  }
}

function parseCompareOptions(argv: readonly string[]): CompareOptions | undefined {
  const value = (flag: string) => {
    const index = argv.indexOf(`--${flag}`);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const peersDir = value('peers');
  if (peersDir === undefined || !existsSync(join(peersDir, 'run.mjs'))) return undefined;
  const reps = Number(value('reps') ?? 3);
  if (!Number.isInteger(reps) || reps < 1) return undefined;
  return {
    peersDir,
    reps,
    workloads: (value('workloads') ?? 'w1,w2,w3').split(','),
    emmettHotFlags: ['--hot-grant', value('hot-grant') ?? '1000', '--hot-ops', value('hot-ops') ?? '2000'],
    out: value('out'),
  };
}
