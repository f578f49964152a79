/**
 * Business-rule refusals. Plain data returned by `decide`, never thrown: the
 * caller maps each one to its answer (an HTTP problem, a parked webhook).
 */
export type InsufficientCredits = {
  type: 'insufficient-credits';
  balance: number;
  requested: number;
  /** Present when an open dispute holds part of the balance. */
  frozenCredits?: number;
  /**
   * Present when less than the balance less frozen credits may be spent: grants past their expiry still count
   * in the balance (their expiry is not recorded yet), or holds reserve some of it.
   */
  spendable?: number;
  /** Present when active holds reserve part of the balance. */
  heldCredits?: number;
};

export type IdempotencyKeyReused = {
  type: 'idempotency-key-reused';
  idempotencyKey: string;
};

export type BalanceLimitExceeded = {
  type: 'balance-limit-exceeded';
  balance: number;
  requested: number;
  balanceMax: number;
};

export type InvalidAmount = {
  type: 'invalid-amount';
  amount: number;
};

export type UnknownFeature = {
  type: 'unknown-feature';
  feature: string;
};

export type AmountOverrideNotAllowed = {
  type: 'amount-override-not-allowed';
  feature: string;
  /** Present when the feature allows overrides, but not this large. */
  amountMax?: number;
};

/** The recharge id was already recorded for another user: a payment is credited once in the whole ledger. */
export type RechargeAlreadyRecorded = {
  type: 'recharge-already-recorded';
  rechargeId: string;
};

/** A refund or dispute names a recharge this user's stream does not hold. */
export type UnknownRecharge = {
  type: 'unknown-recharge';
  rechargeId: string;
};

/** The charge's cumulative refunded amount is not above what was already applied: an older or repeated refund. */
export type RefundAlreadyApplied = {
  type: 'refund-already-applied';
  rechargeId: string;
  chargeId: string;
  amountRefundedOfCharge: number;
};

export type InvalidRefundAmount = {
  type: 'invalid-refund-amount';
  rechargeId: string;
  amountRefundedOfCharge: number;
  amountPaid: number;
};

export type DisputeAlreadyOpen = {
  type: 'dispute-already-open';
  rechargeId: string;
  disputeId: string;
};

/** The dispute's closing is recorded already: its opening arrived late, and must not freeze anything now. */
export type DisputeAlreadyClosed = {
  type: 'dispute-already-closed';
  rechargeId: string;
  disputeId: string;
};

/** A bonus's expiry or priority the ledger cannot keep (an expiry not after the command's time, say). */
export type InvalidGrantTerms = {
  type: 'invalid-grant-terms';
  field: 'expiresAt' | 'expiresIn' | 'priority' | 'rollover';
  reason: string;
};

/** The user holds as many active grants as allowed: a bonus is refused (paid credits never are). */
export type GrantLimitExceeded = {
  type: 'grant-limit-exceeded';
  activeGrants: number;
  activeGrantsMax: number;
};

export type UnknownGrant = {
  type: 'unknown-grant';
  grantId: string;
};

/**
 * The grant cannot be expired or voided: it is expired or voided already, not yet due to expire, an open dispute
 * holds some of its credits (it closes once the dispute does), or it is a recharge's (its credits leave through a
 * refund, which keeps money and credits together).
 */
export type GrantNotClosable = {
  type: 'grant-not-closable';
  grantId: string;
  reason: 'expired' | 'voided' | 'not-due' | 'recharge' | 'frozen' | 'held';
  expiresAt?: string;
};

/** A hold's terms the ledger cannot keep (an expiry that is not a positive duration, say). */
export type InvalidHoldTerms = {
  type: 'invalid-hold-terms';
  field: 'expiresIn';
  reason: string;
};

export type UnknownHold = {
  type: 'unknown-hold';
  holdId: string;
};

/** The hold is past its `expiresAt` (released then, or about to be): nothing can be captured from it. */
export type HoldExpiredError = {
  type: 'hold-expired';
  holdId: string;
  expiresAt: string;
};

/** The hold was captured already, of another amount (the same capture again answers its first outcome). */
export type HoldAlreadyCaptured = {
  type: 'hold-already-captured';
  holdId: string;
  capturedAmount: number;
};

/** The hold was released already: nothing can be captured from it. */
export type HoldAlreadyReleased = {
  type: 'hold-already-released';
  holdId: string;
};

/** A capture of nothing (release the hold instead), of a fraction, or of more than the hold reserved. */
export type InvalidCaptureAmount = {
  type: 'invalid-capture-amount';
  holdId: string;
  amount: number;
  heldAmount: number;
};

/** The expiry process asked for a hold not yet past its `expiresAt`. */
export type HoldNotDue = {
  type: 'hold-not-due';
  holdId: string;
  expiresAt: string;
};

/**
 * No top-up now: one is pending (asked for, its charge's outcome not recorded), the user may spend the threshold
 * or more again (`spendable`), or the month's count or amount would go over the user's limit.
 */
export type TopUpRefused = {
  type: 'top-up-refused';
  reason: 'pending' | 'above-threshold' | 'monthly-count' | 'monthly-amount';
  pendingTopUpId?: string;
  spendable?: number;
};

/** An outcome for a top-up this stream does not hold, or whose outcome is recorded. */
export type UnknownTopUp = {
  type: 'unknown-top-up';
  topUpId: string;
};

export type CreditsDomainError =
  | InsufficientCredits
  | IdempotencyKeyReused
  | BalanceLimitExceeded
  | InvalidAmount
  | UnknownFeature
  | AmountOverrideNotAllowed
  | RechargeAlreadyRecorded
  | UnknownRecharge
  | RefundAlreadyApplied
  | InvalidRefundAmount
  | DisputeAlreadyOpen
  | DisputeAlreadyClosed
  | InvalidGrantTerms
  | GrantLimitExceeded
  | UnknownGrant
  | GrantNotClosable
  | InvalidHoldTerms
  | UnknownHold
  | HoldExpiredError
  | HoldAlreadyCaptured
  | HoldAlreadyReleased
  | InvalidCaptureAmount
  | HoldNotDue
  | TopUpRefused
  | UnknownTopUp;
