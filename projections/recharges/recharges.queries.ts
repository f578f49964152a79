import type { SqlExecutor } from '@libs/event-store';
import { safeInteger } from '../runtime/sql-values';
import type { RechargeRow, RechargeStatus } from './recharges.handlers';

export type RechargesPage = { recharges: RechargeRow[]; nextBeforePosition: string | undefined };

/** Recharges newest first (by global position), optionally of one status or user. */
export async function pageRecharges(
  db: SqlExecutor,
  options: { status?: RechargeStatus; userId?: string; beforePosition?: string; limit: number },
): Promise<RechargesPage> {
  const rows = await db.query<RechargeRecord>(
    `select user_id, recharge_id, credits::text as credits, amount_paid::text as amount_paid, currency, source_kind,
            stripe_event_id, checkout_session_id, payment_intent_id, invoice_id, subscription_id, status,
            event_id::text as event_id, global_position::text as global_position, completed_at
     from recharges
     where ($1::text is null or status = $1) and ($2::text is null or user_id = $2)
       and ($3::bigint is null or global_position < $3::bigint)
     order by recharges.global_position desc limit $4`,
    [options.status ?? null, options.userId ?? null, options.beforePosition ?? null, options.limit + 1],
  );
  const recharges = rows.slice(0, options.limit).map(toRechargeRow);
  const hasMore = rows.length > options.limit;
  return { recharges, nextBeforePosition: hasMore ? recharges[recharges.length - 1].globalPosition : undefined };
}

type RechargeRecord = {
  user_id: string;
  recharge_id: string;
  credits: string;
  amount_paid: string;
  currency: string;
  source_kind: string;
  stripe_event_id: string | null;
  checkout_session_id: string | null;
  payment_intent_id: string | null;
  invoice_id: string | null;
  subscription_id: string | null;
  status: RechargeStatus;
  event_id: string;
  global_position: string;
  completed_at: Date | string;
};

function toRechargeRow(record: RechargeRecord): RechargeRow {
  return {
    userId: record.user_id,
    rechargeId: record.recharge_id,
    credits: safeInteger(record.credits, 'recharges.credits'),
    amountPaid: safeInteger(record.amount_paid, 'recharges.amount_paid'),
    currency: record.currency,
    sourceKind: record.source_kind,
    stripeEventId: record.stripe_event_id,
    checkoutSessionId: record.checkout_session_id,
    paymentIntentId: record.payment_intent_id,
    invoiceId: record.invoice_id,
    subscriptionId: record.subscription_id,
    status: record.status,
    eventId: record.event_id,
    globalPosition: record.global_position,
    completedAt: new Date(record.completed_at).toISOString(),
  };
}
