import { randomBytes } from 'node:crypto';
import { type EventStore, type SqlDriver, SqlEventStore, type SqlExecutor, feedHasPassed } from '@libs/event-store';
import { CHECKPOINTS_TABLE, readCheckpoint } from './checkpoints';
import { type CatchUpProgress, catchUp } from './catch-up';
import type { Projection, TableNames } from './projection';

/**
 * Rebuilds a projection from the first event into fresh tables, then swaps
 * them in in one transaction: readers see the old model until the swap and
 * the whole new one after it, never a half-built one. A live projector goes
 * on meanwhile; at the swap its checkpoint takes the rebuild's, and a batch
 * it had in flight fails its checkpoint check and is applied again, on the new
 * tables. The swap never moves the live checkpoint backwards: if the live
 * projector got further meanwhile, the rebuild catches up again and retries.
 * One rebuild of a projection at a time (an advisory lock). On PGlite, run it
 * with the service stopped (one process per data directory).
 */
export async function rebuildProjection(
  driver: SqlDriver,
  store: EventStore,
  projection: Projection,
  options: { batchSize: number; onProgress?: (progress: CatchUpProgress) => void },
): Promise<CatchUpProgress> {
  const session = await driver.openLockSession();
  try {
    if (!(await session.tryLock(`credits-ledger:rebuild:${projection.name}`))) {
      throw new Error(`a rebuild of ${projection.name} is already running`);
    }
    return await rebuildIntoFreshTables(driver, store, projection, options);
  } finally {
    await session.close();
  }
}

const SWAP_ATTEMPTS_MAX = 50;

async function rebuildIntoFreshTables(
  driver: SqlDriver,
  store: EventStore,
  projection: Projection,
  options: { batchSize: number; onProgress?: (progress: CatchUpProgress) => void },
): Promise<CatchUpProgress> {
  const suffix = `__rebuild_${randomBytes(4).toString('hex')}`;
  const fresh = renamed(projection.tables, suffix);
  const checkpointName = `${projection.name}${suffix}`;
  await driver.exec(projection.createTables(fresh));
  try {
    for (let attempt = 1; ; attempt++) {
      const progress = await catchUp(driver, store, projection, { ...options, checkpointName, tables: fresh });
      if (await swapIn(driver, store, projection, fresh, checkpointName)) return progress;
      if (attempt >= SWAP_ATTEMPTS_MAX)
        throw new Error(`rebuild of ${projection.name}: the live projector stayed ahead`);
    }
  } catch (error) {
    await dropTables(driver, fresh).catch(() => undefined);
    await driver
      .query(`delete from ${CHECKPOINTS_TABLE} where projection = $1`, [checkpointName])
      .catch(() => undefined);
    throw error;
  }
}

/** Swaps the fresh tables in, unless the live model is further than them: then false, and nothing changed. */
async function swapIn(
  driver: SqlDriver,
  store: EventStore,
  projection: Projection,
  fresh: TableNames,
  checkpointName: string,
) {
  // Events in this database: compared in the transaction. Elsewhere (KurrentDB): asked of the store, whose
  // order of positions no transaction here can change.
  const hasPassed =
    store instanceof SqlEventStore && store.isOn(driver)
      ? (tx: SqlExecutor, checkpoint: string, position: string) => feedHasPassed(tx, checkpoint, position)
      : (_tx: SqlExecutor, checkpoint: string, position: string) => store.hasPassed(checkpoint, position);
  await readCheckpoint(driver, projection.name);
  return driver.transaction(async (tx) => {
    // Waits for the live projector's batch in flight, and holds its next one until the swap commits.
    await tx.query(`select from ${CHECKPOINTS_TABLE} where projection = $1 for update`, [projection.name]);
    const { position } = await readCheckpoint(tx, checkpointName);
    const { position: live } = await readCheckpoint(tx, projection.name);
    if (live !== undefined && (position === undefined || !(await hasPassed(tx, position, live)))) return false;
    const old = renamed(projection.tables, `__old_${randomBytes(4).toString('hex')}`);
    for (const [table, live] of Object.entries(projection.tables)) {
      await tx.exec(`alter table ${live} rename to ${old[table]}; alter table ${fresh[table]} rename to ${live};`);
    }
    await tx.exec(
      Object.values(old)
        .map((table) => `drop table ${table};`)
        .join('\n'),
    );
    await tx.query(
      `update ${CHECKPOINTS_TABLE} set global_position = $2::bigint, updated_at = now() where projection = $1`,
      [projection.name, position ?? null],
    );
    await tx.query(`delete from ${CHECKPOINTS_TABLE} where projection = $1`, [checkpointName]);
    return true;
  });
}

async function dropTables(driver: SqlDriver, tables: TableNames) {
  await driver.exec(
    Object.values(tables)
      .map((table) => `drop table if exists ${table};`)
      .join('\n'),
  );
}

function renamed(tables: TableNames, suffix: string): TableNames {
  return Object.fromEntries(Object.entries(tables).map(([table, live]) => [table, `${live}${suffix}`]));
}
