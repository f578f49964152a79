import { assertNever } from '@libs/credits';
import { type ProjectedEvent, ProjectionInvariantError, isNextEvent } from '../runtime/projection';

export const RECHARGES_PROJECTION = 'recharges';

/** Where a recharge stands: an open dispute shows first, then how much of it was refunded. */
export const RECHARGE_STATUSES = ['completed', 'partially_refunded', 'refunded', 'disputed'] as const;
export type RechargeStatus = (typeof RECHARGE_STATUSES)[number];

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
  customerId: string | null;
  status: RechargeStatus;
  /** Money refunded or lost to disputes so far, minor units. */
  amountRefunded: number;
  creditsTakenBack: number;
  /** The open dispute, if any, and when it was opened (its age is how long Stripe has been waiting on us). */
  disputeId: string | null;
  disputedAt: string | null;
  eventId: string;
  globalPosition: string;
  completedAt: string;
};

/**
 * What an event changes in the recharges model: a new row for a completed
 * recharge, none for other events (their version still counts; refunds and
 * disputes change an existing row through `evolveRechargeRow`). `applies`
 * false means the event was already applied. Pure.
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
      customerId: source.customerId ?? null,
      status: 'completed',
      amountRefunded: 0,
      creditsTakenBack: 0,
      disputeId: null,
      disputedAt: null,
      eventId: event.id,
      globalPosition: event.globalPosition,
      completedAt: event.metadata.occurredAt,
    },
  };
}

export type RechargeReversal = Extract<
  ProjectedEvent,
  { type: 'RechargeRefunded' | 'RefundReversed' | 'CreditsFrozen' | 'CreditsUnfrozen' }
>;

/** A refund (or its failure) or dispute event, which changes the row of the recharge it names. */
export function isRechargeReversal(event: ProjectedEvent): event is RechargeReversal {
  return (
    event.type === 'RechargeRefunded' ||
    event.type === 'RefundReversed' ||
    event.type === 'CreditsFrozen' ||
    event.type === 'CreditsUnfrozen'
  );
}

/** The recharge's row after a refund, refund failure or dispute event. Pure. */
export function evolveRechargeRow(row: RechargeRow, event: RechargeReversal): RechargeRow {
  if (row.userId !== event.userId || row.rechargeId !== event.data.rechargeId) {
    throw new ProjectionInvariantError(
      `recharges projection: event ${event.id} of ${event.userId} applied to recharge ${row.rechargeId} of ${row.userId}`,
    );
  }
  const next = { ...row, ...reversed(row, event) };
  return { ...next, disputedAt: next.disputeId === null ? null : next.disputedAt, status: statusOf(next) };
}

function reversed(row: RechargeRow, event: RechargeReversal): Partial<RechargeRow> {
  switch (event.type) {
    case 'RechargeRefunded':
      return {
        amountRefunded: event.data.amountRefundedTotal,
        creditsTakenBack: row.creditsTakenBack + event.data.creditsTakenBack,
        disputeId:
          event.data.reason === 'dispute-lost' && row.disputeId === event.data.source.disputeId ? null : row.disputeId,
      };
    case 'RefundReversed':
      // A refund that failed or was canceled: its money and credits are no longer refunded.
      return {
        amountRefunded: event.data.amountRefundedTotal,
        creditsTakenBack: row.creditsTakenBack - event.data.creditsGivenBack,
      };
    case 'CreditsFrozen':
      return { disputeId: event.data.disputeId, disputedAt: event.metadata.occurredAt };
    case 'CreditsUnfrozen':
      // A dispute this recharge never saw open may close (0 released): it leaves another one open.
      return { disputeId: row.disputeId === event.data.disputeId ? null : row.disputeId };
    default:
      return assertNever(event);
  }
}

function statusOf(row: RechargeRow): RechargeStatus {
  if (row.disputeId !== null) return 'disputed';
  if (row.creditsTakenBack >= row.credits || (row.amountPaid > 0 && row.amountRefunded >= row.amountPaid)) {
    return 'refunded';
  }
  return row.amountRefunded > 0 ? 'partially_refunded' : 'completed';
}
