import type { GrantCategory } from '@libs/credits';
import type { SqlExecutor } from '@libs/event-store';
import { safeInteger } from '../runtime/sql-values';
import { GRANT_COLUMNS_SELECTED, type GrantRecord, type GrantRow, toGrantRow } from './grants.projection';

/**
 * A grant as a reader sees it at a moment: `expired` once its expiry is
 * recorded or its `expiresAt` has passed (the expiry process may be behind),
 * `depleted` when nothing is left of it, `voided` once voided, else `active`.
 */
export type GrantView = GrantRow & { state: 'active' | 'depleted' | 'expired' | 'voided' };
export type GrantStateFilter = GrantView['state'] | 'all';

export function viewOf(row: GrantRow, now: Date): GrantView {
  const lapsed = row.expiresAt !== undefined && Date.parse(row.expiresAt) <= now.getTime();
  if (row.status === 'voided') return { ...row, state: 'voided' };
  if (row.status === 'expired' || (lapsed && row.remaining > row.frozen)) return { ...row, state: 'expired' };
  return { ...row, state: row.remaining === 0 ? 'depleted' : 'active' };
}

/** SQL of each state at `$2` (the moment of the query): the same rules as `viewOf`. */
const STATE_CONDITIONS: Record<GrantStateFilter, string> = {
  voided: `status = 'voided'`,
  expired: `(status = 'expired' or (status = 'active' and expires_at <= $2::timestamptz and remaining > frozen))`,
  depleted: `(status = 'active' and remaining = 0)`,
  active: `(status = 'active' and remaining > 0
    and (expires_at is null or expires_at > $2::timestamptz or remaining = frozen))`,
  all: 'true',
};

/** A user's grants in the order they were made, from `afterSequence` on; `limit + 1` read to tell a next page. */
export async function listGrants(
  db: SqlExecutor,
  userId: string,
  options: { state: GrantStateFilter; now: Date; afterSequence: number; limit: number },
): Promise<{ grants: GrantView[]; nextAfterSequence: number | null }> {
  const condition = STATE_CONDITIONS[options.state];
  const records = await db.query<GrantRecord>(
    `select ${GRANT_COLUMNS_SELECTED} from grants
     where user_id = $1 and sequence > $3 and ${condition}
       and $2::timestamptz is not null -- typed even where the state's condition leaves the moment out
     order by sequence limit $4`,
    [userId, options.now.toISOString(), options.afterSequence, options.limit + 1],
  );
  const grants = records.slice(0, options.limit).map((record) => viewOf(toGrantRow(record), options.now));
  const more = records.length > options.limit;
  return { grants, nextAfterSequence: more ? grants[grants.length - 1].sequence : null };
}

/** How many grants past their expiry at the balance's answer are listed first in `expiring`. */
export const EXPIRING_LISTED_MAX = 5;

export type GrantsSummary = {
  /** Unfrozen credits of active grants not past their expiry, less the debt; never below zero. */
  spendableBeforeFrozenCap: number;
  byCategory: Record<GrantCategory, number>;
  expiring: Array<{ grantId: string; credits: number; expiresAt: string }>;
  /** Credits active holds reserve (part of the balance, not spendable). */
  heldCredits: number;
};

/**
 * What the grants say of a balance at `now`: what may be spent, credits by
 * category (grants past their expiry left out, recorded or not), and the
 * next grants to expire.
 */
export async function summarizeGrants(db: SqlExecutor, userId: string, now: Date): Promise<GrantsSummary> {
  const at = now.toISOString();
  const [held] = await db.query<{ held: string }>(
    `select coalesce(sum(held), 0)::text as held from grants where user_id = $1 and held > 0`,
    [userId],
  );
  const [sums] = await db.query<{ paid: string; promotional: string; unfrozen: string; debt: string }>(
    `select
       coalesce(sum(remaining) filter (where category = 'paid'), 0)::text as paid,
       coalesce(sum(remaining) filter (where category = 'promotional'), 0)::text as promotional,
       coalesce(sum(remaining - frozen), 0)::text as unfrozen,
       coalesce((select debt from grant_ledgers where user_id = $1), 0)::text as debt
     from grants
     where user_id = $1 and status = 'active' and remaining > 0 and (expires_at is null or expires_at > $2)`,
    [userId, at],
  );
  const expiring = await db.query<{ grant_id: string; credits: string; expires_at: Date | string }>(
    `select grant_id::text as grant_id, (remaining - frozen)::text as credits, expires_at from grants
     where user_id = $1 and status = 'active' and remaining > frozen and expires_at > $2
     order by expires_at, sequence limit ${EXPIRING_LISTED_MAX}`,
    [userId, at],
  );
  const unfrozen = safeInteger(sums.unfrozen, 'grants.remaining');
  return {
    spendableBeforeFrozenCap: Math.max(0, unfrozen - safeInteger(sums.debt, 'grant_ledgers.debt')),
    byCategory: {
      paid: safeInteger(sums.paid, 'grants.remaining'),
      promotional: safeInteger(sums.promotional, 'grants.remaining'),
    },
    heldCredits: safeInteger(held.held, 'grants.held'),
    expiring: expiring.map((row) => ({
      grantId: row.grant_id,
      credits: safeInteger(row.credits, 'grants.remaining'),
      expiresAt: new Date(row.expires_at).toISOString(),
    })),
  };
}
