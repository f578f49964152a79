import type { SqlExecutor } from '@libs/event-store';
import { TOP_UP_CROSSINGS_TABLE } from './top-ups.tables';

/** A user's spendable balance crossing below their top-up threshold, and how far its top-up got. */
export type TopUpCrossing = {
  crossingEventId: string;
  userId: string;
  globalPosition: string;
  spendableCredits: number;
  belowCredits: number;
  status: 'due' | 'requested' | 'succeeded' | 'failed' | 'skipped';
  topUpId: string | null;
  paymentIntentId: string | null;
  detail: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
};

export type QueuedCrossing = Pick<
  TopUpCrossing,
  'crossingEventId' | 'userId' | 'globalPosition' | 'spendableCredits' | 'belowCredits'
>;

type CrossingRow = {
  crossing_event_id: string;
  user_id: string;
  global_position: string;
  spendable_credits: string;
  below_credits: string;
  status: TopUpCrossing['status'];
  top_up_id: string | null;
  payment_intent_id: string | null;
  detail: string | null;
  attempts: number;
  created_at: Date | string;
  updated_at: Date | string;
};

const COLUMNS = `crossing_event_id::text as crossing_event_id, user_id, global_position::text as global_position,
  spendable_credits::text as spendable_credits, below_credits::text as below_credits, status,
  top_up_id::text as top_up_id, payment_intent_id, detail, attempts, created_at, updated_at`;

function crossingOf(row: CrossingRow): TopUpCrossing {
  return {
    crossingEventId: row.crossing_event_id,
    userId: row.user_id,
    globalPosition: row.global_position,
    spendableCredits: Number(row.spendable_credits),
    belowCredits: Number(row.below_credits),
    status: row.status,
    topUpId: row.top_up_id,
    paymentIntentId: row.payment_intent_id,
    detail: row.detail,
    attempts: row.attempts,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** Queues crossings, each once (the feed follower may apply a batch again after a crash before its commit). */
export async function queueCrossings(tx: SqlExecutor, crossings: readonly QueuedCrossing[]): Promise<void> {
  if (crossings.length === 0) return;
  await tx.query(
    `insert into ${TOP_UP_CROSSINGS_TABLE} (crossing_event_id, user_id, global_position, spendable_credits,
       below_credits)
     select * from jsonb_to_recordset($1::jsonb) as crossing(crossing_event_id uuid, user_id text,
       global_position bigint, spendable_credits bigint, below_credits bigint)
     on conflict (crossing_event_id) do nothing`,
    [
      JSON.stringify(
        crossings.map((crossing) => ({
          crossing_event_id: crossing.crossingEventId,
          user_id: crossing.userId,
          global_position: crossing.globalPosition,
          spendable_credits: crossing.spendableCredits,
          below_credits: crossing.belowCredits,
        })),
      ),
    ],
  );
}

/**
 * Takes up to `limit` open crossings (due or requested) no other process holds, oldest first, for `leaseMs`:
 * the process that holds one works it; if it dies, another takes it once the lease runs out. Every step of
 * the work is keyed, so two processes working one crossing (a lease run out under a slow one) still charge once.
 */
export async function claimOpenCrossings(db: SqlExecutor, limit: number, leaseMs: number): Promise<TopUpCrossing[]> {
  const rows = await db.query<CrossingRow>(
    `update ${TOP_UP_CROSSINGS_TABLE} set lease_until = now() + $2 * interval '1 millisecond',
       attempts = attempts + 1, updated_at = now()
     where crossing_event_id in (
       select crossing_event_id from ${TOP_UP_CROSSINGS_TABLE}
       where status in ('due', 'requested') and (lease_until is null or lease_until <= now())
       order by global_position limit $1 for update skip locked)
     returning ${COLUMNS}`,
    [limit, leaseMs],
  );
  return rows.map(crossingOf).sort((a, b) => Number(BigInt(a.globalPosition) - BigInt(b.globalPosition)));
}

export async function markCrossingRequested(db: SqlExecutor, crossingEventId: string, topUpId: string): Promise<void> {
  await db.query(
    `update ${TOP_UP_CROSSINGS_TABLE} set status = 'requested', top_up_id = $2, updated_at = now()
     where crossing_event_id = $1 and status = 'due'`,
    [crossingEventId, topUpId],
  );
}

/** The crossing's end: its top-up charged, failed, or none made (`skipped`, with why). */
export async function finishCrossing(
  db: SqlExecutor,
  crossingEventId: string,
  status: 'succeeded' | 'failed' | 'skipped',
  details: { paymentIntentId?: string; detail?: string },
): Promise<void> {
  await db.query(
    `update ${TOP_UP_CROSSINGS_TABLE} set status = $2, payment_intent_id = $3, detail = $4, lease_until = null,
       updated_at = now()
     where crossing_event_id = $1 and status in ('due', 'requested')`,
    [crossingEventId, status, details.paymentIntentId ?? null, details.detail ?? null],
  );
}

/** Puts an open crossing back for another try after `delayMs` (Stripe or the store could not be reached). */
export async function retryCrossingLater(db: SqlExecutor, crossingEventId: string, delayMs: number, detail: string) {
  await db.query(
    `update ${TOP_UP_CROSSINGS_TABLE} set lease_until = now() + $2 * interval '1 millisecond', detail = $3,
       updated_at = now()
     where crossing_event_id = $1 and status in ('due', 'requested')`,
    [crossingEventId, delayMs, detail],
  );
}

/** The user's crossings, the latest first. */
export async function crossingsOf(db: SqlExecutor, userId: string, limit = 20): Promise<TopUpCrossing[]> {
  const rows = await db.query<CrossingRow>(
    `select ${COLUMNS} from ${TOP_UP_CROSSINGS_TABLE} where user_id = $1
     order by ${TOP_UP_CROSSINGS_TABLE}.global_position desc limit $2`,
    [userId, limit],
  );
  return rows.map(crossingOf);
}

/** Crossings not finished yet, and how long the oldest has waited. */
export async function openCrossingsLag(db: SqlExecutor): Promise<{ open: number; oldestSeconds: number }> {
  const [row] = await db.query<{ open: string; oldest_seconds: string | null }>(
    `select count(*)::text as open, extract(epoch from now() - min(created_at))::text as oldest_seconds
     from ${TOP_UP_CROSSINGS_TABLE} where status in ('due', 'requested')`,
  );
  return { open: Number(row?.open ?? 0), oldestSeconds: Number(row?.oldest_seconds ?? 0) };
}
