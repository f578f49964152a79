import type { ClientMetadata, RechargeSource } from './credits.events';
import type { FeaturePrice } from './price-list';

/**
 * What callers ask of the domain. Time and the idempotency key come in on the
 * command, so every decision can be replayed.
 */
export type CommandMetadata = {
  idempotencyKey: string;
  /** UTC ISO 8601. */
  now: string;
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
  }
>;

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
  }
>;

export type CreditsCommand = ConsumeCredits | GrantBonus | CompleteRecharge;
