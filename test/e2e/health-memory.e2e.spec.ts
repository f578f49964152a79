import { openSqlEventStore } from '@libs/event-store';
import { READ_MODEL_MIGRATIONS } from '@projections';
import { builtCli, runCli } from '../support/cli-process';
import { writeHistory } from '../support/credits-history';
import { type TestDatabase, createTestDatabase, describeOnPostgres } from '../support/test-stores';

/**
 * The health check's replay holds a page of streams at a time, never the
 * store: its memory must not grow with the number of events. Measured as the
 * peak resident memory (`maxRSS`) of `npm run health` as a real process on
 * PostgreSQL, replaying 20,000 and then 200,000 events (100 per stream).
 *
 * Left alone, V8 grows its heap lazily (seen: 174 MiB at 200,000 events, 225
 * MiB at 400,000, though nothing is kept), so the old generation is capped at
 * 64 MiB: a replay that kept events would run out of memory there; this one
 * peaks at the same ~130 MiB at 20,000, 200,000 and 400,000 events.
 * PostgreSQL only: the figure is the CLI process's, and a second process
 * cannot open a PGlite directory the test holds.
 */
const CLI = builtCli('api/src/health-check/health-check.cli.js');
const HEAP_MIB = 64;
/** Node, Nest, the pg pool and the capped heap; seen ~130 MiB. */
const PEAK_MIB_MAX = 200;
/** Ten times the events may cost at most this much more resident memory. */
const GROWTH_MIB_MAX = 16;

describeOnPostgres('the health check replay on 200,000 events', () => {
  const databases: TestDatabase[] = [];

  afterAll(async () => {
    await Promise.all(databases.map((database) => database.drop()));
  });

  async function peakMiBReplaying(users: number): Promise<{ peakMiB: number; events: number }> {
    const database = await createTestDatabase();
    databases.push(database);
    const { store } = await openSqlEventStore(
      { kind: 'postgres', connectionString: database.url, poolSize: 4 },
      READ_MODEL_MIGRATIONS,
    );
    try {
      await writeHistory(store, { users, eventsPerUser: 100, concurrency: 8 });
    } finally {
      await store.close();
    }
    const environment = {
      DATABASE_URL: database.url,
      LOG_LEVEL: 'silent',
      API_KEYS: 'ops:audit:ops-secret-0123456789',
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}`,
    };
    const result = await runCli(CLI, environment, '--json', '--findings', '3');
    const effort = /replayed (\d+) events .* peak resident memory (\d+) MiB/.exec(result.stderr);
    if (effort === null || result.code === 2) throw new Error(`the health check did not run: ${result.stderr}`);
    return { events: Number(effort[1]), peakMiB: Number(effort[2]) };
  }

  it(`runs in a ${HEAP_MIB} MiB heap under ${PEAK_MIB_MAX} MiB resident, ten times the events costing under ${GROWTH_MIB_MAX} MiB more`, async () => {
    const small = await peakMiBReplaying(200);
    const large = await peakMiBReplaying(2_000);

    console.log(
      `health check replay: peak ${small.peakMiB} MiB for ${small.events} events, ${large.peakMiB} MiB for ${large.events}`,
    );
    expect(small.events).toBe(20_000);
    expect(large.events).toBe(200_000);
    expect(large.peakMiB).toBeLessThan(PEAK_MIB_MAX);
    expect(large.peakMiB - small.peakMiB).toBeLessThan(GROWTH_MIB_MAX);
  });
});
