/**
 * The facts of the credits domain. Plain data, past tense, integers only.
 * Bump an event's schema version whenever its data shape changes, and teach
 * `evolve` to read every version still stored.
 */
export type ClientMetadata = Record<string, unknown>;

/** What every event records about the command that caused it. */
export type CreditsEventMetadata = {
  /** The command's idempotency key; the event id derives from it. */
  idempotencyKey: string;
  /** Hash of the command's payload, to tell a retry from a reused key. */
  payloadFingerprint: string;
  /** When the command was decided (UTC ISO 8601), from the command. */
  occurredAt: string;
};

type CreditsEventOf<Type extends string, Data> = {
  type: Type;
  schemaVersion: 1;
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
  /** `manual` for a recharge entered by an operator through the API. */
  kind: 'stripe' | 'manual';
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
  }
>;

export type CreditsConsumed = CreditsEventOf<
  'CreditsConsumed',
  {
    amount: number;
    feature: string;
    /** The business id of what was paid for, for example the upload id. */
    reference: string;
    metadata: ClientMetadata;
  }
>;

export type BonusGranted = CreditsEventOf<
  'BonusGranted',
  {
    amount: number;
    reason: string;
    metadata: ClientMetadata;
  }
>;

export type CreditsEvent = RechargeCompleted | CreditsConsumed | BonusGranted;
export type CreditsEventType = CreditsEvent['type'];

export const CREDITS_EVENT_TYPES: readonly CreditsEventType[] = [
  'RechargeCompleted',
  'CreditsConsumed',
  'BonusGranted',
];

/** An event as read back from its stream. */
export type RecordedCreditsEvent = CreditsEvent & {
  streamVersion: number;
  /** Global position in the store, as a decimal string (64-bit safe). */
  globalPosition: string;
};
