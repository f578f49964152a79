import type { SqlExecutor } from '@libs/event-store';
import { HOLD_COLUMNS_SELECTED, type HoldRecord, type HoldRow, toHoldRow } from './holds.projection';

/**
 * A hold as a reader sees it at a moment: `expired` once its expiry is
 * recorded or its `expiresAt` has passed uncaptured (the expiry process may
 * be behind; nothing can be captured from it any more).
 */
export type HoldView = HoldRow & { state: HoldRow['status'] };
export type HoldStateFilter = HoldView['state'] | 'all';

export function holdViewOf(row: HoldRow, now: Date): HoldView {
  const lapsed = row.status === 'active' && Date.parse(row.expiresAt) <= now.getTime();
  return { ...row, state: lapsed ? 'expired' : row.status };
}

/** SQL of each state at `$2` (the moment of the query): the same rules as `holdViewOf`. */
const STATE_CONDITIONS: Record<HoldStateFilter, string> = {
  active: `(status = 'active' and expires_at > $2::timestamptz)`,
  captured: `status = 'captured'`,
  released: `status = 'released'`,
  expired: `(status = 'expired' or (status = 'active' and expires_at <= $2::timestamptz))`,
  all: 'true',
};

/** A user's holds in the order they were placed, from `afterSequence` on; `limit + 1` read to tell a next page. */
export async function listHolds(
  db: SqlExecutor,
  userId: string,
  options: { state: HoldStateFilter; now: Date; afterSequence: number; limit: number },
): Promise<{ holds: HoldView[]; nextAfterSequence: number | null }> {
  const records = await db.query<HoldRecord>(
    `select ${HOLD_COLUMNS_SELECTED} from holds
     where user_id = $1 and sequence > $3 and ${STATE_CONDITIONS[options.state]}
       and $2::timestamptz is not null -- typed even where the state's condition leaves the moment out
     order by sequence limit $4`,
    [userId, options.now.toISOString(), options.afterSequence, options.limit + 1],
  );
  const holds = records.slice(0, options.limit).map((record) => holdViewOf(toHoldRow(record), options.now));
  const more = records.length > options.limit;
  return { holds, nextAfterSequence: more ? holds[holds.length - 1].sequence : null };
}

/** Credits a user's active holds reserve: until the expiry process releases them, even past their expiry. */
export async function heldCreditsOf(db: SqlExecutor, userId: string): Promise<number> {
  const [row] = await db.query<{ held: string }>(
    `select coalesce(sum(amount), 0)::text as held from holds where user_id = $1 and status = 'active'`,
    [userId],
  );
  return Number(row.held);
}
