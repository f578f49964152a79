import type { Causation, ClientMetadata, RechargeSource, ReversalSource, ShortfallPolicy } from './credits.events';
import type { GrantCategory } from './credits.grants';
import type { FeaturePrice } from './price-list';

/**
 * What callers ask of the domain. Time and the idempotency key come in on the
 * command, so every decision can be replayed.
 */
export type CommandMetadata = {
  idempotencyKey: string;
  /** UTC ISO 8601. */
  now: string;
  /** Recorded on the events, never part of the payload: a retry by another key or event is the same request. */
  causedBy?: Causation;
};

type CreditsCommandOf<Type extends string, Data> = {
  type: Type;
  data: Data;
  metadata: CommandMetadata;
};

export type ConsumeCredits = CreditsCommandOf<
  'ConsumeCredits',
  {
    userId: string;
    feature: string;
    reference: string;
    /** The amount the caller named, where the feature allows it; undefined: the price. */
    requestedAmount?: number;
    /**
     * The feature's entry in the price list when the command was made
     * (undefined: not listed). Not part of the payload a retry must repeat:
     * a retry after a price change is still the same request.
     */
    price: FeaturePrice | undefined;
    metadata: ClientMetadata;
  }
>;

export type GrantBonus = CreditsCommandOf<
  'GrantBonus',
  {
    userId: string;
    amount: number;
    reason: string;
    metadata: ClientMetadata;
    /** Default `promotional`; `paid` for credits sold outside Stripe (a sales-led top-up). */
    category?: GrantCategory;
    /** Default: the category's (`DEFAULT_GRANT_PRIORITY`). */
    priority?: number;
    /**
     * When its credits lapse, UTC ISO 8601; or `expiresIn`, an ISO 8601 duration from the command's time
     * (kept as asked, so that a retry at another moment is the same request). At most one; neither: never.
     */
    expiresAt?: string;
    expiresIn?: string;
  }
>;

/** The expiry process: a grant past its `expiresAt` lapses. Keyed by the grant, so it expires once. */
export type ExpireGrant = CreditsCommandOf<'ExpireGrant', { userId: string; grantId: string }>;

/** An operator removes what is left of a bonus. Keyed by the grant: a grant is voided once. */
export type VoidGrant = CreditsCommandOf<
  'VoidGrant',
  { userId: string; grantId: string; reason: string; metadata: ClientMetadata }
>;

/**
 * Reserves a job's credits before it runs, priced as a consumption is. Keyed by the caller's key, as a
 * consumption; the hold's id is its event's.
 */
export type PlaceHold = CreditsCommandOf<
  'PlaceHold',
  {
    userId: string;
    feature: string;
    reference: string;
    /** The amount the caller named, where the feature allows it; undefined: the price. */
    requestedAmount?: number;
    /** As a consumption's: not part of the payload a retry must repeat. */
    price: FeaturePrice | undefined;
    metadata: ClientMetadata;
    /**
     * ISO 8601 duration from the command's time after which an uncaptured hold is released; absent:
     * `HOLD_EXPIRES_IN_DEFAULT`. Kept as asked, so that a retry at another moment is the same request.
     */
    expiresIn?: string;
  }
>;

/**
 * A hold's job used `amount` of its credits (absent: all): they are consumed, the rest released. Keyed by the
 * hold (`holdEndedIdempotencyKey`): a hold ends once, by capture, release or expiry.
 */
export type CaptureHold = CreditsCommandOf<'CaptureHold', { userId: string; holdId: string; amount?: number }>;

/** A hold's job failed or was cancelled: all its credits are released. Keyed by the hold. */
export type ReleaseHold = CreditsCommandOf<'ReleaseHold', { userId: string; holdId: string }>;

/** The expiry process: a hold past its `expiresAt` is released. Keyed by the hold. */
export type ExpireHold = CreditsCommandOf<'ExpireHold', { userId: string; holdId: string }>;

export type CompleteRecharge = CreditsCommandOf<
  'CompleteRecharge',
  {
    userId: string;
    rechargeId: string;
    credits: number;
    amountPaid: number;
    currency: string;
    source: RechargeSource;
    metadata: ClientMetadata;
    /**
     * When its credits lapse, UTC ISO 8601 with its offset (a pack's `expiresAfter` from the payment, a plan
     * period's end); absent: never. It may already be past when a webhook arrives late: the credits are then
     * granted and lapse at once. Not part of the payload a retry must repeat: a payment is credited once, on
     * the terms of its first delivery.
     */
    expiresAt?: string;
    /**
     * A plan period's carry-over at `expiresAt`: up to `creditsMax` (all when absent) of what is left move into
     * a grant expiring at the next period's end, `rollover.expiresAt`. Needs `expiresAt`. Like it, not part of
     * the payload a retry must repeat.
     */
    rollover?: { creditsMax?: number; expiresAt: string };
  }
>;

/**
 * Stripe's `charge.refunded`: idempotent by the recharge, the charge, the
 * charge's cumulative amount refunded and when Stripe reported it. A recharge
 * may have been paid by more than one charge (an invoice paid in parts): each
 * counts on its own.
 */
export type RefundRecharge = CreditsCommandOf<
  'RefundRecharge',
  {
    userId: string;
    rechargeId: string;
    chargeId: string;
    /** Cumulative over every refund of this charge (Stripe's `amount_refunded`), in the recharge's minor units. */
    amountRefundedOfCharge: number;
    /** When Stripe made the event that reports it (its `created`, Unix seconds): a later report supersedes it. */
    refundedAt: number;
    shortfallPolicy: ShortfallPolicy;
    source: ReversalSource;
  }
>;

/**
 * Stripe's `refund.failed`, or a `refund.updated` / `charge.refund.updated`
 * that moved a refund to `failed` or `canceled`: idempotent by the refund.
 */
export type ReverseRefund = CreditsCommandOf<
  'ReverseRefund',
  {
    userId: string;
    rechargeId: string;
    refundId: string;
    chargeId: string;
    /** The refund's amount, in the recharge's minor units. */
    amount: number;
    status: 'failed' | 'canceled';
    failureReason?: string;
    /** When Stripe created the refund (Unix seconds). */
    refundCreatedAt: number;
    /**
     * When Stripe reported the failure (the event's `created`, Unix seconds). Not part of the payload: the
     * two or three events reporting one failure are made moments apart, and are the same failure.
     */
    failedAt: number;
    source: ReversalSource;
  }
>;

/** Stripe's `charge.dispute.created`: idempotent by the dispute. */
export type OpenDispute = CreditsCommandOf<
  'OpenDispute',
  { userId: string; rechargeId: string; disputeId: string; source: ReversalSource }
>;

/** Stripe's `charge.dispute.closed`, won or lost: idempotent by the dispute. */
export type CloseDispute = CreditsCommandOf<
  'CloseDispute',
  {
    userId: string;
    rechargeId: string;
    disputeId: string;
    outcome: 'won' | 'lost';
    /** Disputed amount, minor units: a lost dispute takes back that share of the recharge. */
    amountDisputed: number;
    shortfallPolicy: ShortfallPolicy;
    source: ReversalSource;
  }
>;

/**
 * The top-up process: a user's spendable balance crossed below their top-up threshold at `crossingEventId`.
 * Keyed by the crossing (one request per crossing, whatever the settings when retried); `maxPerMonth` and
 * `maxAmountPerMonth` are the user's settings, checked against the requests of the UTC month of `now`.
 */
export type RequestTopUp = CreditsCommandOf<
  'RequestTopUp',
  {
    userId: string;
    crossingEventId: string;
    belowCredits: number;
    packId: string;
    credits: number;
    amount: number;
    currency: string;
    customerId: string;
    paymentMethodId: string;
    maxPerMonth: number;
    maxAmountPerMonth?: number;
  }
>;

/** What Stripe answered a top-up's charge. Keyed by the top-up: the first outcome stands. */
export type RecordTopUpOutcome = CreditsCommandOf<
  'RecordTopUpOutcome',
  {
    userId: string;
    topUpId: string;
    outcome:
      | { kind: 'succeeded'; paymentIntentId: string; status: string }
      | { kind: 'failed'; reason: string; message: string; paymentIntentId?: string };
  }
>;

export type CreditsCommand =
  | ConsumeCredits
  | GrantBonus
  | CompleteRecharge
  | RefundRecharge
  | ReverseRefund
  | OpenDispute
  | CloseDispute
  | ExpireGrant
  | VoidGrant
  | PlaceHold
  | CaptureHold
  | ReleaseHold
  | ExpireHold
  | RequestTopUp
  | RecordTopUpOutcome;
