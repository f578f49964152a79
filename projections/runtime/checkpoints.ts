import type { SqlExecutor } from '@libs/event-store';

/** The table of every projection's place in the feed, moved in the same transaction as its read model. */
export const CHECKPOINTS_TABLE = 'projection_checkpoints';

export const createCheckpointsTable = `
  create table if not exists ${CHECKPOINTS_TABLE} (
    projection text primary key,
    global_position bigint,
    updated_at timestamptz not null default now()
  );`;

export type Checkpoint = { position: string | undefined; updatedAt: string };

/** Another projector instance moved the checkpoint first: this batch must not commit. */
export class CheckpointMovedError extends Error {
  override readonly name = 'CheckpointMovedError';
  constructor(readonly projection: string) {
    super(`projection ${projection}: the checkpoint moved under this projector (another instance applied the batch)`);
  }
}

export async function readCheckpoint(db: SqlExecutor, projection: string): Promise<Checkpoint> {
  const select = () =>
    db.query<{ global_position: string | null; updated_at: Date | string }>(
      `select global_position::text as global_position, updated_at from ${CHECKPOINTS_TABLE} where projection = $1`,
      [projection],
    );
  let [row] = await select();
  if (row === undefined) {
    // A projection's first read makes its row, at the start of the feed.
    await db.query(`insert into ${CHECKPOINTS_TABLE} (projection) values ($1) on conflict do nothing`, [projection]);
    [row] = await select();
  }
  return { position: row.global_position ?? undefined, updatedAt: new Date(row.updated_at).toISOString() };
}

/**
 * Moves the checkpoint from `expected` to `next`, or throws when it is no
 * longer at `expected`: exactly-once even if two instances ever ran at once.
 */
export async function moveCheckpoint(
  tx: SqlExecutor,
  projection: string,
  expected: string | undefined,
  next: string | undefined,
): Promise<void> {
  const moved = await tx.query(
    `update ${CHECKPOINTS_TABLE} set global_position = $3::bigint, updated_at = now()
     where projection = $1 and global_position is not distinct from $2::bigint returning projection`,
    [projection, expected ?? null, next ?? null],
  );
  if (moved.length !== 1) throw new CheckpointMovedError(projection);
}
