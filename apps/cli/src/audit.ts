import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { eventStoreLocationFrom, exitWhenFlushed, failStartup } from '@libs/config';
import {
  CREDITS_STREAM_PREFIX,
  HISTORY_FIELDS,
  type HistoryStop,
  MOVEMENT_FIELDS,
  type RecordedCreditsEvent,
  creditsStreamId,
  historyOf,
  movementOf,
  parseCreditsEvent,
  userIdOfStream,
} from '@libs/credits';
import { type EventStore, openEventStore } from '@libs/event-store';
import { Presets, SingleBar } from 'cli-progress';
import { stringify } from 'csv-stringify';
import { stringify as stringifyNow } from 'csv-stringify/sync';

const USAGE = `usage: npm run audit -- replay <userId> [--as-of TIME | --at-version N] [--format table|json|csv]
       npm run audit -- export --since TIME [--until TIME] --out FILE.csv`;

/** A usage mistake: exit 2 with the usage, as for every CLI here. */
class UsageError extends Error {}

/**
 * `npm run audit`: what an auditor or an accountant reads, straight from the
 * event store (never the read model). `replay` folds one user's stream with
 * the domain's `evolve`; `export` streams every credit movement of a window
 * to CSV, in the store's feed order, holding one batch at a time.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'replay') return await replay(rest);
    if (command === 'export') return await exportMovements(rest);
    throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}`);
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError && 'code' in error)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    return 2;
  }
}

async function replay(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'as-of': { type: 'string' }, 'at-version': { type: 'string' }, format: { type: 'string' } },
  });
  const [userId] = positionals;
  if (userId === undefined || positionals.length > 1) throw new UsageError('replay needs one user id');
  const format = values.format ?? 'table';
  if (!['table', 'json', 'csv'].includes(format)) throw new UsageError('--format is table, json or csv');
  const stop = stopOf(values['as-of'], values['at-version']);
  const store = await openEventStore(eventStoreLocationFrom());
  try {
    const events: RecordedCreditsEvent[] = [];
    for await (const stored of store.readStream(creditsStreamId(userId))) events.push(parseCreditsEvent(stored));
    printHistory(userId, historyOf(events, stop), format);
    return 0;
  } finally {
    await store.close();
  }
}

function printHistory(userId: string, history: ReturnType<typeof historyOf>, format: string): void {
  if (format === 'json') return console.log(JSON.stringify({ userId, ...history }));
  if (format === 'csv')
    return void process.stdout.write(stringifyNow(history.entries, { header: true, columns: [...HISTORY_FIELDS] }));
  console.table(
    history.entries.map(
      ({ version, occurredAt, type, delta, balanceAfter, apiKey, stripeEventId, idempotencyKey }) => ({
        version,
        occurredAt,
        type,
        delta,
        balanceAfter,
        causedBy: apiKey ?? stripeEventId ?? '',
        idempotencyKey,
      }),
    ),
  );
  console.log(`${userId}: balance ${history.balance} at version ${history.version} (frozen ${history.frozenCredits})`);
}

async function exportMovements(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { since: { type: 'string' }, until: { type: 'string' }, out: { type: 'string' } },
  });
  if (values.since === undefined || values.out === undefined) throw new UsageError('export needs --since and --out');
  const since = timeOf(values.since, '--since');
  const until = values.until === undefined ? Number.POSITIVE_INFINITY : timeOf(values.until, '--until');
  const store = await openEventStore(eventStoreLocationFrom());
  try {
    const exported = await writeMovements(store, since, until, values.out);
    console.log(`exported ${exported} credit movements to ${values.out}`);
    return 0;
  } finally {
    await store.close();
  }
}

/** Every event of every credits stream decided in [since, until) that moved credits, as CSV rows. */
async function writeMovements(store: EventStore, since: number, until: number, path: string): Promise<number> {
  const csv = stringify({ header: true, columns: ['userId', ...MOVEMENT_FIELDS] });
  const output = csv.pipe(createWriteStream(path));
  const total = await store.countEventsAfter(undefined, Number.MAX_SAFE_INTEGER);
  const bar = progressBar(total);
  let read = 0;
  let exported = 0;
  for await (const stored of store.readAll({ batchSize: 1000 })) {
    bar?.update(++read);
    if (!stored.streamId.startsWith(CREDITS_STREAM_PREFIX)) continue;
    const event = parseCreditsEvent(stored);
    const decidedAt = Date.parse(event.metadata.occurredAt);
    const movement = movementOf(event);
    if (decidedAt < since || decidedAt >= until || movement.delta === 0) continue;
    // Waits when the file is slower than the store: memory holds one batch, whatever the window.
    if (!csv.write({ userId: userIdOfStream(stored.streamId), ...movement })) await onceDrained(csv);
    exported++;
  }
  bar?.stop();
  csv.end();
  await finished(output);
  return exported;
}

function progressBar(total: number): SingleBar | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new SingleBar(
    { format: 'export [{bar}] {value}/{total} events | {speed} | ETA {eta}s', stream: process.stderr },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  return bar;
}

function onceDrained(stream: NodeJS.WritableStream | ReturnType<typeof stringify>): Promise<void> {
  return new Promise((resolve) => stream.once('drain', () => resolve()));
}

function stopOf(asOf: string | undefined, atVersion: string | undefined): HistoryStop {
  if (asOf !== undefined && atVersion !== undefined) throw new UsageError('give --as-of or --at-version, not both');
  if (asOf !== undefined) return { asOf: new Date(timeOf(asOf, '--as-of')).toISOString() };
  if (atVersion === undefined) return {};
  const version = /^[0-9]{1,10}$/.test(atVersion) ? Number(atVersion) : 0;
  if (version < 1) throw new UsageError('--at-version is a whole number from 1');
  return { atVersion: version };
}

function timeOf(value: string, flag: string): number {
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) throw new UsageError(`${flag} is an ISO 8601 time, e.g. 2026-11-01T00:00:00Z`);
  return time;
}

main(process.argv.slice(2)).then(exitWhenFlushed, failStartup);
