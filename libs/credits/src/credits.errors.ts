/**
 * Business-rule refusals. Plain data returned by `decide`, never thrown: the
 * caller maps each one to its answer (an HTTP problem, a parked webhook).
 */
export type InsufficientCredits = {
  type: 'insufficient-credits';
  balance: number;
  requested: number;
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

export type CreditsDomainError =
  | InsufficientCredits
  | IdempotencyKeyReused
  | BalanceLimitExceeded
  | InvalidAmount
  | UnknownFeature
  | AmountOverrideNotAllowed
  | RechargeAlreadyRecorded;
