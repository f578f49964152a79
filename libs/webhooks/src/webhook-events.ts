import type { RecordedCreditsEvent } from '@libs/credits';
import type { RecordedEvent } from '@libs/event-store';
import { type PaymentParked, UNMATCHED_PAYMENTS_STREAM } from '@libs/stripe';

/**
 * The event types an endpoint may subscribe to. Those driven by a recorded ledger event are mapped here
 * (`webhookTypeOf`); the rest are announced as the catalogue of the API, sent once their source exists.
 */
export const WEBHOOK_EVENT_TYPES = [
  'recharge.completed',
  'refund.applied',
  'dispute.opened',
  'dispute.closed',
  'grant.expired',
  'hold.expired',
  'credits.low',
  'credits.depleted',
  'grant.expiring',
  'payment.parked',
  'topup.succeeded',
  'topup.failed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The types a ledger event is sent as itself: alerts are decided from the balance it leaves, and `grant.expiring`
 * by the expiry process ahead of an expiry nothing has recorded yet.
 */
export type LedgerWebhookType = Exclude<
  WebhookEventType,
  'credits.low' | 'credits.depleted' | 'grant.expiring' | 'payment.parked'
>;

/**
 * The webhook type a ledger event is sent as, or undefined when none. A lost dispute is recorded as a
 * take-back (`RechargeRefunded`, reason `dispute-lost`): it is the dispute's close, not a refund. A grant's
 * expiry with a carry-over (`CreditsRolledOver`) is its expiry too.
 */
export function webhookTypeOf(event: RecordedCreditsEvent): LedgerWebhookType | undefined {
  switch (event.type) {
    case 'RechargeCompleted':
      return 'recharge.completed';
    case 'RechargeRefunded':
      return event.data.reason === 'dispute-lost' ? 'dispute.closed' : 'refund.applied';
    case 'CreditsFrozen':
      return 'dispute.opened';
    case 'CreditsUnfrozen':
      return 'dispute.closed';
    case 'CreditsExpired':
    case 'CreditsRolledOver':
      return 'grant.expired';
    case 'HoldExpired':
      return 'hold.expired';
    case 'TopUpSucceeded':
      return 'topup.succeeded';
    case 'TopUpFailed':
      return 'topup.failed';
    case 'CreditsConsumed':
    case 'BonusGranted':
    case 'RefundReversed':
    case 'GrantVoided':
    case 'CreditsHeld':
    case 'HoldCaptured':
    case 'HoldReleased':
    case 'TopUpRequested':
      return undefined;
  }
}

/**
 * A delivery's `data`: the ledger event it reports (id, type, feed position, stream version, when it
 * happened), and that event's own fields as the ledger records them (`docs/architecture.md`, "Events").
 */
export type WebhookEventData = {
  /** Absent from `grant.expiring`, which no ledger event records (its `grantId` is the event that made the grant). */
  ledgerEvent?: { id: string; type: string; position: string; streamVersion: number; occurredAt: string };
  /** A dispute's close: `won` (the credits are spendable again) or `lost` (they were taken back). */
  outcome?: 'won' | 'lost';
} & Record<string, unknown>;

export function webhookDataOf(event: RecordedCreditsEvent): WebhookEventData {
  const ledgerEvent = {
    id: event.id,
    type: event.type,
    position: event.globalPosition,
    streamVersion: event.streamVersion,
    occurredAt: event.metadata.occurredAt,
  };
  const outcome =
    event.type === 'CreditsUnfrozen'
      ? { outcome: 'won' as const }
      : event.type === 'RechargeRefunded' && event.data.reason === 'dispute-lost'
        ? { outcome: 'lost' as const }
        : {};
  return { ...event.data, ...outcome, ledgerEvent };
}

/** What an endpoint receives: the JSON body of each delivery, the same on every retry of it. */
export type WebhookPayload = {
  /** The delivery's id: unique per endpoint and event, kept across retries (a receiver deduplicates by it). */
  id: string;
  type: WebhookEventType;
  /** When the delivery was queued (UTC ISO 8601). */
  createdAt: string;
  /** Null for `payment.parked`: a payment is parked because it names no user the ledger can credit. */
  userId: string | null;
  data: WebhookEventData;
};

/**
 * A Stripe payment parked for want of a user (`PaymentParked`, in the parked payments' stream), as
 * `payment.parked` reports it: what an operator needs to assign it, without the Stripe object in full (the
 * admin API shows it).
 */
export function parkedPaymentOf(event: RecordedEvent): { data: WebhookEventData; streamVersion: number } | undefined {
  if (event.streamId !== UNMATCHED_PAYMENTS_STREAM || event.type !== 'PaymentParked') return undefined;
  const { paymentId, reason, stripeEventType, payment } = (event as unknown as PaymentParked).data;
  const { metadata } = event as unknown as { metadata: { occurredAt?: string } };
  return {
    streamVersion: event.streamVersion,
    data: {
      paymentId,
      reason,
      stripeEventType,
      customerId: payment.customerId ?? null,
      userIdNamed: payment.userId ?? null,
      amountPaid: payment.amountPaid,
      currency: payment.currency,
      ledgerEvent: {
        id: event.id,
        type: event.type,
        position: event.globalPosition,
        streamVersion: event.streamVersion,
        occurredAt: metadata?.occurredAt ?? event.recordedAt,
      },
    },
  };
}
