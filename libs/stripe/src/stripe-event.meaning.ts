import type { RechargeSource, RolloverTerms } from '@libs/credits';

/** The part of a Stripe webhook event the ledger reads; the object stays untyped until mapped. */
export type StripeEventEnvelope = {
  id: string;
  type: string;
  /** Unix seconds. */
  created: number;
  api_version?: string | null;
  /** `previous_attributes`: on `*.updated` events, the fields the update changed, with their former values. */
  data: { object: unknown; previous_attributes?: unknown };
};

/** How many credits a payment buys, or why that cannot be told (then the payment is parked). */
export type CreditsOfPayment = { kind: 'known'; credits: number } | { kind: 'unknown'; reason: string };

/**
 * A successful payment: one recharge. `paymentId` is the recharge id: the
 * payment intent's id for a one-off payment (a Checkout session's payment and
 * its payment intent are the same recharge), the invoice's id for a
 * subscription period; never the webhook event's id.
 */
export type StripePayment = {
  paymentId: string;
  /** From `metadata.userId` (object, or the invoice's subscription details), then `client_reference_id`. */
  userId: string | undefined;
  customerId: string | undefined;
  credits: CreditsOfPayment;
  /** Minor units (cents). */
  amountPaid: number;
  /** ISO 4217, lower case. */
  currency: string;
  source: RechargeSource & { kind: 'stripe'; stripeEventId: string };
  /**
   * When its credits lapse, UTC ISO 8601, from the catalog: a pack's
   * `expiresAfter` from the payment's event, a plan's period end. Absent:
   * never (and on payments parked before expiry existed).
   */
  expiresAt?: string;
  /**
   * A plan period's carry-over, from the catalog's `rollover`: at `expiresAt`,
   * up to `creditsMax` (all when absent) of what is left move into a grant
   * expiring at the next period's end, `rollover.expiresAt`. Absent: what is
   * left lapses (and on payments parked before carry-overs existed).
   */
  rollover?: RolloverTerms;
  /**
   * The card the payment saved for payments without the customer (a Checkout with `savePaymentMethod`:
   * its payment intent has `setup_future_usage: off_session`): automatic top-up charges it. Absent otherwise.
   */
  savedPaymentMethod?: { customerId: string; paymentMethodId: string };
};

/** `charge.refunded`: the charge's cumulative refunded amount, so two partial refunds add up exactly. */
export type StripeRefund = {
  stripeEventId: string;
  chargeId: string;
  paymentIntentId: string | undefined;
  /** Older API versions name the invoice on the charge. */
  invoiceId: string | undefined;
  customerId: string | undefined;
  /** Cumulative over every refund of the charge, minor units. */
  amountRefundedTotal: number;
  currency: string;
  /** When Stripe made the event (Unix seconds): the figure is the charge's as of then. */
  refundedAt: number;
};

/**
 * A refund that failed or was canceled after it was reported: its money never
 * left, and Stripe takes it out of the charge's `amount_refunded`.
 */
export type StripeRefundReversal = {
  stripeEventId: string;
  refundId: string;
  chargeId: string;
  paymentIntentId: string | undefined;
  /** The refund's amount, minor units. */
  amount: number;
  currency: string;
  status: 'failed' | 'canceled';
  failureReason: string | undefined;
  /** When Stripe created the refund (Unix seconds). */
  refundCreatedAt: number;
  /** When Stripe made the event that reports the failure (Unix seconds). */
  failedAt: number;
};

export type StripeDispute = {
  stripeEventId: string;
  disputeId: string;
  chargeId: string;
  paymentIntentId: string | undefined;
  /** Disputed amount, minor units. */
  amount: number;
  currency: string;
};

export type StripeSubscriptionStatus = {
  stripeEventId: string;
  subscriptionId: string;
  customerId: string | undefined;
  userId: string | undefined;
  /** Stripe's status: active, past_due, canceled, ... */
  status: string;
};

/** What one Stripe event means to the ledger. Pure data: the ingestion service acts on it. */
export type StripeEventMeaning =
  | { kind: 'payment'; payment: StripePayment }
  | { kind: 'refund'; refund: StripeRefund }
  | { kind: 'refund-reversed'; reversal: StripeRefundReversal }
  | { kind: 'dispute-opened'; dispute: StripeDispute }
  | { kind: 'dispute-closed'; dispute: StripeDispute; outcome: 'won' | 'lost' }
  | { kind: 'subscription-status'; subscription: StripeSubscriptionStatus }
  /** Changes no credits; `reason` says why, for the operators' list. */
  | { kind: 'ignored'; reason: string };
