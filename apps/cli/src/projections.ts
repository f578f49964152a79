import { performance } from 'node:perf_hooks';
import { PROJECTOR_BATCH_SIZE_DEFAULT, eventStoreLocationFrom, exitWhenFlushed, failStartup } from '@libs/config';
import { type EventStore, type SqlDriver, openStores } from '@libs/event-store';
import {
  PROJECTIONS,
  READ_MODEL_MIGRATIONS,
  type Projection,
  projectionLag,
  projectionNamed,
  rebuildProjection,
} from '@projections';
import { Presets, SingleBar } from 'cli-progress';

const USAGE = `usage: npm run projections -- status [--json]
       npm run projections -- rebuild [name ...]   (names: ${PROJECTIONS.map((p) => p.name).join(', ')}; default all)`;

/**
 * `npm run projections -- status | rebuild`: where each projection stands, or
 * rebuild some from zero into fresh tables swapped in at the end. On PGlite,
 * stop the service first: one process at a time opens a data directory.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'status' && command !== 'rebuild') {
    console.error(USAGE);
    return 2;
  }
  const opened = await openStores(eventStoreLocationFrom(), READ_MODEL_MIGRATIONS);
  const { store, readModel } = opened;
  try {
    if (command === 'status') await printStatus(readModel, store, rest.includes('--json'));
    else await rebuild(readModel, store, rest.length === 0 ? PROJECTIONS : rest.map(projectionNamed));
    return 0;
  } finally {
    await opened.close();
  }
}

async function printStatus(driver: SqlDriver, store: EventStore, json: boolean): Promise<void> {
  const lags = await Promise.all(PROJECTIONS.map(({ name }) => projectionLag(driver, store, name)));
  if (json) {
    console.log(JSON.stringify(lags));
    return;
  }
  console.table(
    lags.map(({ projection, position, lagEvents, lagSeconds }) => ({
      projection,
      checkpoint: position ?? '(start)',
      lagEvents,
      lagSeconds: Number(lagSeconds.toFixed(3)),
    })),
  );
}

async function rebuild(driver: SqlDriver, store: EventStore, projections: readonly Projection[]): Promise<void> {
  const total = await store.countEventsAfter(undefined, Number.MAX_SAFE_INTEGER);
  for (const projection of projections) {
    const bar = process.stdout.isTTY
      ? new SingleBar(
          { format: `${projection.name} [{bar}] {value}/{total} events | {speed} events/s | ETA {eta}s` },
          Presets.shades_classic,
        )
      : undefined;
    const started = performance.now();
    bar?.start(total, 0, { speed: 0 });
    const progress = await rebuildProjection(driver, store, projection, {
      batchSize: PROJECTOR_BATCH_SIZE_DEFAULT,
      onProgress: ({ eventsRead }) => {
        const seconds = (performance.now() - started) / 1000;
        bar?.update(eventsRead, { speed: Math.round(eventsRead / Math.max(seconds, 0.001)) });
      },
    });
    bar?.stop();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${projection.name}: rebuilt from ${progress.eventsRead} events in ${seconds.toFixed(1)} s ` +
        `(${Math.round(progress.eventsRead / Math.max(seconds, 0.001))} events/s), swapped in at position ${progress.position ?? '(start)'}`,
    );
  }
}

main(process.argv.slice(2)).then(exitWhenFlushed, failStartup);
