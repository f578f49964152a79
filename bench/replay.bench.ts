/**
 * `npm run bench -- replay`: a full health-check replay of 1,000,000 events
 * in 10,000 streams on PostgreSQL, as operators run it: `npm run health` as
 * its own process, over a read model the projector has caught up. Prints one
 * JSON line with the replay's events per second (the check's own time, from
 * its report, without the process start) and the process's peak resident
 * memory; verified when every event was replayed and the read model and the
 * streams agree.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type EventStore, type SqlDriver, openSqlEventStore } from '@libs/event-store';
import { PROJECTIONS, READ_MODEL_MIGRATIONS, catchUp } from '@projections';
import { runCli } from '../test/support/cli-process';
import { writeHistory } from '../test/support/credits-history';
import { temporaryDatabase } from './temporary-database';

const STREAMS = 10_000;
const EVENTS_PER_STREAM = 100;
const HEALTH_CLI = join(__dirname, '../apps/api/src/health-check/health-check.cli.js');

type Report = {
  startedAt: string;
  finishedAt: string;
  eventsReplayed: number;
  streamsReplayed: number;
  checks: Array<{ name: string; status: string }>;
};

export async function replayBench(): Promise<boolean> {
  if (!process.env.DATABASE_URL) {
    console.error('replay: set DATABASE_URL; this figure is measured on PostgreSQL');
    return false;
  }
  const database = await temporaryDatabase('replay');
  try {
    const setup = await fillAndProject(database.location);
    const run = await runCli(
      HEALTH_CLI,
      {
        DATABASE_URL: (database.location as { connectionString: string }).connectionString,
        LOG_LEVEL: 'silent',
        API_KEYS: 'bench:audit:bench-secret-0123456789',
      },
      '--json',
      '--findings',
      '3',
    );
    const report = JSON.parse(run.stdout) as Report;
    const peak = /peak resident memory (\d+) MiB/.exec(run.stderr);
    const seconds = (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000;
    const agreed = ['read-model-vs-replay', 'transaction-integrity'].every(
      (name) => report.checks.find((check) => check.name === name)?.status === 'ok',
    );
    const verified =
      agreed && report.eventsReplayed === STREAMS * EVENTS_PER_STREAM && report.streamsReplayed === STREAMS;
    console.log(
      JSON.stringify({
        workload: 'replay',
        store: 'postgres',
        events: report.eventsReplayed,
        streams: report.streamsReplayed,
        seconds: Math.round(seconds * 100) / 100,
        events_per_s: Math.round(report.eventsReplayed / seconds),
        peak_rss_mib: peak === null ? null : Number(peak[1]),
        setup_seconds: setup,
        verified,
      }),
    );
    return verified;
  } finally {
    await database.drop();
  }
}

/** Untimed: the history written, then every projection caught up, as on a live system. */
async function fillAndProject(
  location: Parameters<typeof openSqlEventStore>[0],
): Promise<{ write: number; project: number }> {
  const { store, driver } = await openSqlEventStore(location, READ_MODEL_MIGRATIONS);
  try {
    const started = performance.now();
    await writeHistory(store, { users: STREAMS, eventsPerUser: EVENTS_PER_STREAM, prefix: 'bench', concurrency: 8 });
    const written = performance.now();
    await projectEverything(driver, store);
    return { write: round((written - started) / 1000), project: round((performance.now() - written) / 1000) };
  } finally {
    await store.close();
  }
}

async function projectEverything(driver: SqlDriver, store: EventStore): Promise<void> {
  await Promise.all(PROJECTIONS.map((projection) => catchUp(driver, store, projection, { batchSize: 5000 })));
}

function round(seconds: number): number {
  return Math.round(seconds * 10) / 10;
}
