import type { ClientMetadata, RechargeSource } from './credits.events';

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
    /** The cost, already priced from the price list (see `priceConsumption`). */
    amount: number;
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
