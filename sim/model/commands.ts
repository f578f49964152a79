/**
 * What the simulation asked of the ledger, as the model knows it: the client's side of every command, by the
 * step that sent it. The model checks each recorded event against the command it answers.
 */
export type ConsumeCommand = { kind: 'consume'; step: number; userId: string; feature: string; amount: number };
export type BonusCommand = {
  kind: 'bonus';
  step: number;
  userId: string;
  amount: number;
  priority: number | undefined;
  expiresInSeconds: number | undefined;
};
export type HoldCommand = {
  kind: 'hold';
  step: number;
  userId: string;
  feature: string;
  amount: number;
  expiresInSeconds: number;
};
/** A paid Checkout of the 100-credit pack, keyed by its payment intent (the recharge id). */
export type CheckoutPayment = { kind: 'checkout'; step: number; userId: string; paymentIntentId: string };

export type ModelCommand = ConsumeCommand | BonusCommand | HoldCommand;

/** What the price list (config/price-list.json) charges for a feature, or the amount a command set. */
export const FEATURE_PRICES: Readonly<Record<string, number>> = { face_swap: 1, image_upscale: 2 };
export const AMOUNT_FEATURE = 'video_generation';

/** The 100-credit pack the catalog (config/stripe-catalog.json) sells, and its grant terms. */
export const PACK = { packId: 'credits_100', credits: 100, amountPaid: 1000, currency: 'usd', priority: 200 };
export const BONUS_PRIORITY_DEFAULT = 100;
