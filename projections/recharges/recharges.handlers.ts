import { type ProjectedEvent, isNextEvent } from '../runtime/projection';

export const RECHARGES_PROJECTION = 'recharges';

/** Where a recharge stands. Only `completed` for now; Stripe refunds and disputes add more. */
export type RechargeStatus = 'completed';

export type RechargeRow = {
  userId: string;
  rechargeId: string;
  credits: number;
  amountPaid: number;
  currency: string;
  sourceKind: string;
  stripeEventId: string | null;
  checkoutSessionId: string | null;
  paymentIntentId: string | null;
  invoiceId: string | null;
  subscriptionId: string | null;
  status: RechargeStatus;
  eventId: string;
  globalPosition: string;
  completedAt: string;
};

/**
 * What an event changes in the recharges model: a new row for a completed
 * recharge, nothing for other events (their version still counts). Undefined
 * `applies` means the event was already applied. Pure.
 */
export function rechargeChangeOf(
  appliedVersion: number,
  event: ProjectedEvent,
): { applies: boolean; row: RechargeRow | undefined } {
  if (!isNextEvent(RECHARGES_PROJECTION, appliedVersion, event)) return { applies: false, row: undefined };
  if (event.type !== 'RechargeCompleted') return { applies: true, row: undefined };
  const { rechargeId, credits, amountPaid, currency, source } = event.data;
  return {
    applies: true,
    row: {
      userId: event.userId,
      rechargeId,
      credits,
      amountPaid,
      currency,
      sourceKind: source.kind,
      stripeEventId: source.stripeEventId ?? null,
      checkoutSessionId: source.checkoutSessionId ?? null,
      paymentIntentId: source.paymentIntentId ?? null,
      invoiceId: source.invoiceId ?? null,
      subscriptionId: source.subscriptionId ?? null,
      status: 'completed',
      eventId: event.id,
      globalPosition: event.globalPosition,
      completedAt: event.metadata.occurredAt,
    },
  };
}
