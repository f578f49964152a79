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
    `select ${RECHARGE_COLUMNS_SELECTED}
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

export const RECHARGE_COLUMNS_SELECTED = `user_id, recharge_id, credits::text as credits, amount_paid::text as amount_paid, currency,
  source_kind, stripe_event_id, checkout_session_id, payment_intent_id, invoice_id, subscription_id, customer_id,
  status, amount_refunded::text as amount_refunded, credits_taken_back::text as credits_taken_back, dispute_id, disputed_at,
  event_id::text as event_id, global_position::text as global_position, completed_at`;

export type RechargeRecord = {
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
  customer_id: string | null;
  status: RechargeStatus;
  amount_refunded: string;
  credits_taken_back: string;
  dispute_id: string | null;
  disputed_at: Date | string | null;
  event_id: string;
  global_position: string;
  completed_at: Date | string;
};

export function toRechargeRow(record: RechargeRecord): RechargeRow {
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
    customerId: record.customer_id,
    status: record.status,
    amountRefunded: safeInteger(record.amount_refunded, 'recharges.amount_refunded'),
    creditsTakenBack: safeInteger(record.credits_taken_back, 'recharges.credits_taken_back'),
    disputeId: record.dispute_id,
    disputedAt: record.disputed_at === null ? null : new Date(record.disputed_at).toISOString(),
    eventId: record.event_id,
    globalPosition: record.global_position,
    completedAt: new Date(record.completed_at).toISOString(),
  };
}

/**
 * The user an earlier Stripe payment of this customer was credited to, so a
 * later payment without a user id (a renewal invoice, say) finds its user.
 * The most recent one wins if a customer was ever split across users.
 */
export async function userOfStripeCustomer(db: SqlExecutor, customerId: string): Promise<string | undefined> {
  const rows = await db.query<{ user_id: string }>(
    `select user_id from recharges where customer_id = $1 order by global_position desc limit 1`,
    [customerId],
  );
  return rows[0]?.user_id;
}

/** Whether any payment of this Stripe customer was credited to this user. */
export async function isStripeCustomerOf(db: SqlExecutor, customerId: string, userId: string): Promise<boolean> {
  const rows = await db.query<{ found: number }>(
    `select 1 as found from recharges where customer_id = $1 and user_id = $2 limit 1`,
    [customerId, userId],
  );
  return rows.length > 0;
}

/** The recharge recorded for a payment id, whichever user it credited. */
export async function rechargeById(db: SqlExecutor, rechargeId: string): Promise<RechargeRow | undefined> {
  const rows = await db.query<RechargeRecord>(
    `select ${RECHARGE_COLUMNS_SELECTED} from recharges where recharge_id = $1`,
    [rechargeId],
  );
  return rows.map(toRechargeRow)[0];
}

/**
 * The recharge a Stripe refund or dispute is about: the payment intent's (a
 * one-off payment's recharge id is its payment intent; an invoice's recharge
 * records its payment intent), or the invoice's.
 */
export async function rechargeOfStripePayment(
  db: SqlExecutor,
  ids: { paymentIntentId: string | undefined; invoiceId: string | undefined },
): Promise<RechargeRow | undefined> {
  const rechargeIds = [ids.paymentIntentId, ids.invoiceId].filter((id) => id !== undefined);
  if (rechargeIds.length === 0) return undefined;
  const rows = await db.query<RechargeRecord>(
    `select ${RECHARGE_COLUMNS_SELECTED} from recharges
     where recharge_id = any($1::text[]) or ($2::text is not null and payment_intent_id = $2)
     order by recharges.global_position limit 1`,
    [rechargeIds, ids.paymentIntentId ?? null],
  );
  return rows.map(toRechargeRow)[0];
}

/** Which of these recharge ids are recorded, whichever user they credited. */
export async function recordedRechargeIds(db: SqlExecutor, rechargeIds: readonly string[]): Promise<Set<string>> {
  if (rechargeIds.length === 0) return new Set();
  const rows = await db.query<{ recharge_id: string }>(
    `select recharge_id from recharges where recharge_id = any($1::text[])`,
    [rechargeIds],
  );
  return new Set(rows.map((row) => row.recharge_id));
}
