import type { SqlExecutor } from '@libs/event-store';
import { safeInteger } from '../runtime/sql-values';
import type { LedgerEntry } from './ledger.handlers';

export type LedgerPage = { entries: LedgerEntry[]; nextBeforeVersion: number | undefined };

/**
 * A user's ledger, newest first, `limit` entries with a version below
 * `beforeVersion` (all when undefined). Versions only grow, so paging by
 * version is stable while new entries arrive.
 */
export async function pageLedger(
  db: SqlExecutor,
  userId: string,
  options: { beforeVersion: number | undefined; limit: number },
): Promise<LedgerPage> {
  const rows = await db.query<LedgerRecord>(
    `select user_id, version, event_id::text as event_id, event_type, delta::text as delta,
            balance_after::text as balance_after, feature, reason, recharge_id, reference,
            stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_subscription_id,
            grant_id, drawn_from, hold_id, occurred_at, recorded_at, global_position::text as global_position
     from ledger_entries where user_id = $1 and ($2::int is null or version < $2::int)
     order by version desc limit $3`,
    [userId, options.beforeVersion ?? null, options.limit + 1],
  );
  const entries = rows.slice(0, options.limit).map(toLedgerEntry);
  const hasMore = rows.length > options.limit;
  return { entries, nextBeforeVersion: hasMore ? entries[entries.length - 1].version : undefined };
}

type LedgerRecord = {
  user_id: string;
  version: number;
  event_id: string;
  event_type: LedgerEntry['eventType'];
  delta: string;
  balance_after: string;
  feature: string | null;
  reason: string | null;
  recharge_id: string | null;
  reference: string | null;
  stripe_checkout_session_id: string | null;
  stripe_payment_intent_id: string | null;
  stripe_invoice_id: string | null;
  stripe_subscription_id: string | null;
  grant_id: string | null;
  drawn_from: string | null;
  hold_id: string | null;
  occurred_at: Date | string;
  recorded_at: Date | string;
  global_position: string;
};

function toLedgerEntry(record: LedgerRecord): LedgerEntry {
  return {
    userId: record.user_id,
    version: record.version,
    eventId: record.event_id,
    eventType: record.event_type,
    delta: safeInteger(record.delta, 'ledger_entries.delta'),
    balanceAfter: safeInteger(record.balance_after, 'ledger_entries.balance_after'),
    feature: record.feature,
    reason: record.reason,
    rechargeId: record.recharge_id,
    reference: record.reference,
    stripeCheckoutSessionId: record.stripe_checkout_session_id,
    stripePaymentIntentId: record.stripe_payment_intent_id,
    stripeInvoiceId: record.stripe_invoice_id,
    stripeSubscriptionId: record.stripe_subscription_id,
    grantId: record.grant_id,
    drawnFrom: record.drawn_from,
    holdId: record.hold_id,
    occurredAt: new Date(record.occurred_at).toISOString(),
    recordedAt: new Date(record.recorded_at).toISOString(),
    globalPosition: record.global_position,
  };
}

/** How many entries each user has in the ledger (for audits and tests). */
export async function ledgerEntryCounts(db: SqlExecutor): Promise<Map<string, number>> {
  const rows = await db.query<{ user_id: string; entries: number }>(
    'select user_id, count(*)::int as entries from ledger_entries group by user_id',
  );
  return new Map(rows.map((row) => [row.user_id, row.entries]));
}
