import type { GrantCategory, GrantCredits, RolloverTerms } from './credits.grants';

/**
 * The facts of the credits domain. Plain data, past tense, integers only.
 *
 * Schema evolution: a stored event is never rewritten. When a field of an
 * event's data is added, changes type or meaning, or is removed, its schema
 * version goes up by one and `credits.upcast.ts` gains one upcaster from the
 * version before: a pure function of the older data to the newer. The parser
 * runs every upcaster from the stored version up, so the domain, the
 * projections and the history only ever see the current version. What an
 * upcaster cannot know (it depends on the stream, not the event) stays
 * optional in the current version, and its comment says how the fold reads
 * it when absent.
 */
export type ClientMetadata = Record<string, unknown>;

/** Who asked: the API key's name, or the Stripe event that reported the payment. For auditors. */
export type Causation = {
  apiKey?: string;
  stripeEventId?: string;
};

/** What every event records about the command that caused it. */
export type CreditsEventMetadata = {
  /** The command's idempotency key; the event id derives from it. */
  idempotencyKey: string;
  /** Hash of the command's payload, to tell a retry from a reused key. */
  payloadFingerprint: string;
  /** When the command was decided (UTC ISO 8601), from the command. */
  occurredAt: string;
  /** Absent on events recorded before causation was kept. */
  causedBy?: Causation;
};

type CreditsEventOf<Type extends string, Data, SchemaVersion extends number = 1> = {
  type: Type;
  schemaVersion: SchemaVersion;
  /** Derived from the stream and idempotency key (UUID v5), so the store refuses a duplicate. */
  id: string;
  data: Data;
  metadata: CreditsEventMetadata;
};

export type RechargeSource = {
  stripeEventId?: string;
  checkoutSessionId?: string;
  paymentIntentId?: string;
  invoiceId?: string;
  subscriptionId?: string;
  /** The Stripe customer who paid: later payments of that customer without a user id go to the same user. */
  customerId?: string;
  /** `manual` for a recharge entered by an operator through the API. */
  kind: 'stripe' | 'manual';
};

/**
 * What makes a credit-in a grant (schema version 2 of `RechargeCompleted` and
 * `BonusGranted`; version 1 is upcast to the category's default priority and
 * no expiry).
 */
export type GrantTerms = {
  category: GrantCategory;
  /** Lower is spent first. */
  priority: number;
  /** UTC ISO 8601: its unspent credits lapse then. Absent: never. */
  expiresAt?: string;
  /**
   * Credits of it that paid the debt left by a refund, before it could be spent. Absent on version 1 events:
   * the fold computes it (`min(debt, credits)`, as the decision does).
   */
  debtPaidCredits?: number;
};

export type RechargeCompleted = CreditsEventOf<
  'RechargeCompleted',
  {
    rechargeId: string;
    credits: number;
    /** In the currency's minor unit. */
    amountPaid: number;
    currency: string;
    source: RechargeSource;
    metadata: ClientMetadata;
    /** A plan period's carry-over at its expiry (version 3; absent before, and when what is left lapses). */
    rollover?: RolloverTerms;
  } & GrantTerms,
  3
>;

export type CreditsConsumed = CreditsEventOf<
  'CreditsConsumed',
  {
    amount: number;
    feature: string;
    /** The business id of what was paid for, for example the upload id. */
    reference: string;
    metadata: ClientMetadata;
    /**
     * The grants it drew from, in spend order; the credits sum to `amount`. Absent on version 1 events, made
     * when every credit was alike and never expired: the fold draws them in spend order.
     */
    drawnFrom?: GrantCredits[];
  },
  2
>;

export type BonusGranted = CreditsEventOf<
  'BonusGranted',
  {
    amount: number;
    reason: string;
    metadata: ClientMetadata;
  } & GrantTerms,
  2
>;

/** A grant's unspent, unfrozen remainder lapsed at its `expiresAt`: recorded once per grant by the expiry process. */
export type CreditsExpired = CreditsEventOf<
  'CreditsExpired',
  {
    grantId: string;
    /** When the grant expired (its `expiresAt`). */
    expiresAt: string;
    credits: number;
  }
>;

/**
 * A grant with a carry-over expired (recorded by the expiry process, once per
 * grant, under the expiry's key): `creditsRolledOver` of its unfrozen
 * remainder moved into a new grant (this event's id) of the same category and
 * priority, expiring at `rolledOverExpiresAt`, paying any debt first
 * (`debtPaidCredits`); `creditsExpired` lapsed.
 */
export type CreditsRolledOver = CreditsEventOf<
  'CreditsRolledOver',
  {
    grantId: string;
    /** When the grant expired (its `expiresAt`). */
    expiresAt: string;
    creditsExpired: number;
    creditsRolledOver: number;
    rolledOverExpiresAt: string;
    debtPaidCredits: number;
  }
>;

/** An operator removed a grant's unspent, unfrozen remainder. */
export type GrantVoided = CreditsEventOf<
  'GrantVoided',
  {
    grantId: string;
    reason: string;
    credits: number;
    metadata: ClientMetadata;
  }
>;

/**
 * Credits reserved for a job (a hold; its id is this event's): drawn from their grants in spend order
 * (`drawnFrom`), out of what may be spent, still in the balance until a capture consumes them.
 */
export type CreditsHeld = CreditsEventOf<
  'CreditsHeld',
  {
    feature: string;
    reference: string;
    amount: number;
    /** When an uncaptured hold is released (UTC ISO 8601); no capture succeeds from then on. */
    expiresAt: string;
    drawnFrom: GrantCredits[];
    metadata: ClientMetadata;
  }
>;

/**
 * How the credits a hold did not consume left it, grant by grant: first paying the user's debt (a refund that
 * fell short while they were held: `debtPaidFrom`), then back in their grant's remainder (`returnedTo`), or to a
 * grant closed since (`lapsed`: they follow its carry-over where it rolled over, as a give-back does, and
 * `creditsLapsedOnReturn` of them leave the balance, expired or voided with it). `frozenFrom`: what landed on a
 * grant of a recharge with an open dispute, frozen at once. `expired`: the grants past their expiry the hold's
 * end left with nothing held or frozen, closed in the same event with all they had left (a grant without a
 * carry-over never expires while it holds credits).
 */
export type HoldReturn = {
  debtPaidFrom: GrantCredits[];
  returnedTo: GrantCredits[];
  frozenFrom: GrantCredits[];
  lapsed: GrantCredits[];
  creditsLapsedOnReturn: number;
  expired: GrantCredits[];
};

/** A hold's job used `amount` credits: consumed from `capturedFrom`; the rest of the hold returned or lapsed. */
export type HoldCaptured = CreditsEventOf<
  'HoldCaptured',
  HoldReturn & {
    holdId: string;
    feature: string;
    reference: string;
    amount: number;
    capturedFrom: GrantCredits[];
  }
>;

/** A hold released by its caller: all its credits returned or lapsed. */
export type HoldReleased = CreditsEventOf<'HoldReleased', HoldReturn & { holdId: string }>;

/** An uncaptured hold past its `expiresAt`, released by the expiry process. */
export type HoldExpired = CreditsEventOf<'HoldExpired', HoldReturn & { holdId: string; expiresAt: string }>;

/** What Stripe reported that took credits back or froze them. */
export type ReversalSource = {
  stripeEventId?: string;
  chargeId?: string;
  disputeId?: string;
  /** The refund that failed or was canceled (`RefundReversed`). */
  refundId?: string;
  kind: 'stripe' | 'manual';
};

/**
 * When a refund takes back credits the user already spent: `debt` lets the
 * balance go below zero (later credits pay it first), `writeoff` stops it at
 * zero. Either way the event records the shortfall.
 */
export type ShortfallPolicy = 'debt' | 'writeoff';
export const SHORTFALL_POLICIES: readonly ShortfallPolicy[] = ['debt', 'writeoff'];

/**
 * Credits of a recharge taken back: its refunded share (a refund), or the
 * disputed share once the dispute is lost (which also releases what the
 * dispute froze).
 */
export type RechargeRefunded = CreditsEventOf<
  'RechargeRefunded',
  {
    rechargeId: string;
    reason: 'refund' | 'dispute-lost';
    /** What refunded: a charge id, or `dispute:<id>` for a lost dispute. */
    refundedBy: string;
    /**
     * Money refunded by it so far (cumulative, as Stripe reports it, less the refunds of the charge known to
     * have failed since that report), minor units.
     */
    amountRefundedBy: number;
    /**
     * A refund: when Stripe made the `charge.refunded` whose figure `amountRefundedBy` is (Unix seconds), so that
     * a later report, or a refund's failure, is told from an earlier one. Absent for a lost dispute, and on
     * refunds recorded before it was kept: those are placed at `metadata.occurredAt` (Stripe made the report
     * no later). Added without a new schema version: an added optional field is read as absent on older events.
     */
    refundedAt?: number;
    /** Money refunded (or lost to disputes) on this recharge so far, over every charge, this event included. */
    amountRefundedTotal: number;
    /** The recharge's credits this event takes back: its share of the money refunded. */
    creditsTakenBack: number;
    /**
     * Of them, credits the recharge's grant had already lost to its expiry (recorded or due): they count as
     * taken back, and nothing moves. 0 on version 1 events (made before recharges could expire).
     */
    creditsLapsed: number;
    /**
     * What left the balance: all of `creditsTakenBack` less `creditsLapsed` under `debt`, at most what the
     * grants it may take from hold under `writeoff`.
     */
    creditsDebited: number;
    /**
     * The grants `creditsDebited` left, in the order taken: the recharge's own grant, then the others in spend
     * order; what they did not hold became debt. Absent on version 1 events: the fold places them by the rules
     * of then (see `takeBackAsBefore`).
     */
    takenFrom?: GrantCredits[];
    /** Credits taken back that the balance did not hold (already spent). */
    shortfallCredits: number;
    shortfallPolicy: ShortfallPolicy;
    /** Credits a lost dispute releases from freezing before taking back (0 for a refund). */
    creditsUnfrozen: number;
    source: ReversalSource;
  },
  2
>;

/** A refund of a charge that failed or was canceled after it was reported: its money never left. */
export type FailedRefund = {
  refundId: string;
  /** The refund's amount, minor units. */
  amount: number;
  /** When Stripe created the refund, and when it reported its failure or cancellation (Unix seconds). */
  createdAt: number;
  failedAt: number;
  /** Stripe's `failure_reason`, when it gives one. */
  failureReason?: string;
};

/**
 * Credits a refund took back, given back: the refund failed or was canceled
 * (`refund`), or a later `charge.refunded` reports less refunded on the charge
 * than was taken back (`refund-lowered`: a refund failed whose own event has
 * not arrived). The charge's refunded amount goes down by `amountReversed`,
 * so a later refund of it is applied from there. What the refund wrote off
 * (`writeoff` shortfall), and what the recharge's take-backs since wrote off,
 * is restored first, and never reaches the balance: the balance gets back
 * only what left it.
 */
export type RefundReversed = CreditsEventOf<
  'RefundReversed',
  {
    rechargeId: string;
    reason: 'refund-failed' | 'refund-canceled' | 'refund-lowered';
    /** The charge whose refunded amount goes down. */
    refundedBy: string;
    /** The refund that failed or was canceled; absent for `refund-lowered`. */
    refund?: FailedRefund;
    /** Money no longer refunded on the charge: 0 when the refund was not applied here (yet). */
    amountReversed: number;
    /** The charge's refunded amount after it, minor units. */
    amountRefundedBy: number;
    /** For `refund-lowered`: when Stripe made the `charge.refunded` that reported `amountRefundedBy` (Unix seconds). */
    refundedAt?: number;
    /** Money refunded (or lost to disputes) on this recharge after it, over every charge. */
    amountRefundedTotal: number;
    /** The recharge's credits no longer taken back. */
    creditsGivenBack: number;
    /**
     * Credits returned: `creditsGivenBack` less `creditsWriteOffReversed` and `creditsLapseReversed`; the sum of
     * `givenTo`, `debtForgiven` and `debtPaymentsUndone`. The balance gets back all but `creditsLapsedOnReturn`.
     */
    creditsCredited: number;
    /**
     * Credits given back that never left the balance: written off by the refund's take-back, or by the
     * recharge's take-backs since (which the balance would otherwise have paid); see `giveBackSplit`.
     */
    creditsWriteOffReversed: number;
    /**
     * Credits given back that their take-back had counted as lapsed with the recharge's grant (nothing moved
     * then, nothing moves now). 0 on version 1 events.
     */
    creditsLapseReversed: number;
    /**
     * The grants credits return to, as the take-backs took them (the recharge's own grants first). Absent on
     * version 1 events: all of `creditsCredited` returns to the recharge's own grant.
     */
    givenTo?: GrantCredits[];
    /**
     * Of `creditsCredited`, what the take-backs had left as debt, returned to the debt still owed. Absent on
     * version 1 events.
     */
    debtForgiven?: number;
    /**
     * The rest of what they had left as debt, which grants made since paid: it returns to those grants, the
     * most recent first (their `debtPaid` goes down). Absent on version 1 events.
     */
    debtPaymentsUndone?: GrantCredits[];
    /**
     * Of `creditsCredited`, credits returned to a grant already expired or voided, after paying debt: they
     * lapse with it in this event (each grant closes once). 0 on version 1 events.
     */
    creditsLapsedOnReturn: number;
    /** Credits credited that the recharge's open dispute holds: frozen as its other credits are. */
    creditsFrozen: number;
    source: ReversalSource;
  },
  2
>;

/** A dispute opened: the disputed recharge's remaining credits may not be spent until it closes. */
export type CreditsFrozen = CreditsEventOf<
  'CreditsFrozen',
  { rechargeId: string; disputeId: string; credits: number; source: ReversalSource }
>;

/**
 * A dispute won: the credits it froze are spendable again, unless their grant
 * is past its `expiresAt`: frozen credits do not lapse while the dispute is
 * open, so such a grant's remainder lapses in this event (`expired`), and no
 * `CreditsExpired` follows for it.
 */
export type CreditsUnfrozen = CreditsEventOf<
  'CreditsUnfrozen',
  {
    rechargeId: string;
    disputeId: string;
    credits: number;
    source: ReversalSource;
    /** Grants closed as expired by this event, with the credits that lapsed. Empty on version 1 events. */
    expired: GrantCredits[];
  },
  2
>;

/**
 * An automatic top-up asked for (its id is this event's): the user's spendable balance crossed below
 * `belowCredits` at `crossingEventId`, and one pack is to be charged to their saved card. Moves no credits: the
 * payment credits them through Stripe's webhook (a `RechargeCompleted` whose recharge is the payment intent).
 * At most one per crossing (keyed by it), none while another is pending, and no more than the month's limits.
 */
export type TopUpRequested = CreditsEventOf<
  'TopUpRequested',
  {
    crossingEventId: string;
    belowCredits: number;
    packId: string;
    /** The pack's credits and price when asked for. */
    credits: number;
    amount: number;
    currency: string;
    customerId: string;
    paymentMethodId: string;
  }
>;

/** Stripe took a top-up's payment (`succeeded`, or `processing` for a method that settles later). */
export type TopUpSucceeded = CreditsEventOf<
  'TopUpSucceeded',
  { topUpId: string; paymentIntentId: string; status: string }
>;

/**
 * A top-up's charge failed: declined, the card needs its holder (`authentication_required`), or Stripe refused
 * the request. Never tried again: the next crossing, or an operator, starts another.
 */
export type TopUpFailed = CreditsEventOf<
  'TopUpFailed',
  { topUpId: string; reason: string; message: string; paymentIntentId?: string }
>;

export type CreditsEvent =
  | RechargeCompleted
  | CreditsConsumed
  | BonusGranted
  | RechargeRefunded
  | RefundReversed
  | CreditsFrozen
  | CreditsUnfrozen
  | CreditsExpired
  | CreditsRolledOver
  | GrantVoided
  | CreditsHeld
  | HoldCaptured
  | HoldReleased
  | HoldExpired
  | TopUpRequested
  | TopUpSucceeded
  | TopUpFailed;
export type CreditsEventType = CreditsEvent['type'];

export const CREDITS_EVENT_TYPES: readonly CreditsEventType[] = [
  'RechargeCompleted',
  'CreditsConsumed',
  'BonusGranted',
  'RechargeRefunded',
  'RefundReversed',
  'CreditsFrozen',
  'CreditsUnfrozen',
  'CreditsExpired',
  'CreditsRolledOver',
  'GrantVoided',
  'CreditsHeld',
  'HoldCaptured',
  'HoldReleased',
  'HoldExpired',
  'TopUpRequested',
  'TopUpSucceeded',
  'TopUpFailed',
];

/** An event as read back from its stream. */
export type RecordedCreditsEvent = CreditsEvent & {
  streamVersion: number;
  /** Global position in the store, as a decimal string (64-bit safe). */
  globalPosition: string;
};
