import type { AmountOverrideNotAllowed, InvalidAmount, UnknownFeature } from './credits.errors';
import { isCreditAmount } from './credits.limits';

/**
 * What each feature costs. Shipped as `config/price-list.json`; a feature may
 * let the caller name the amount (`amountOverride`), up to a maximum.
 */
export type FeaturePrice = {
  credits: number;
  amountOverride?: { amountMax: number };
};

export type PriceList = Readonly<Record<string, FeaturePrice>>;

export type Pricing =
  | { kind: 'priced'; amount: number }
  | { kind: 'refused'; error: UnknownFeature | AmountOverrideNotAllowed | InvalidAmount };

export function priceConsumption(priceList: PriceList, feature: string, requestedAmount?: number): Pricing {
  return priceFeature(feature, featurePrice(priceList, feature), requestedAmount);
}

/** The list's entry for a feature; undefined for one it does not list (never an inherited property). */
export function featurePrice(priceList: PriceList, feature: string): FeaturePrice | undefined {
  return Object.hasOwn(priceList, feature) ? priceList[feature] : undefined;
}

/** What a consumption of `feature` costs at `price`, with the amount the caller named if any. */
export function priceFeature(feature: string, price: FeaturePrice | undefined, requestedAmount?: number): Pricing {
  if (price === undefined) return { kind: 'refused', error: { type: 'unknown-feature', feature } };
  if (requestedAmount === undefined) return { kind: 'priced', amount: price.credits };
  if (!isCreditAmount(requestedAmount))
    return { kind: 'refused', error: { type: 'invalid-amount', amount: requestedAmount } };
  const amountMax = price.amountOverride?.amountMax;
  if (amountMax === undefined) return { kind: 'refused', error: { type: 'amount-override-not-allowed', feature } };
  if (requestedAmount > amountMax) {
    return { kind: 'refused', error: { type: 'amount-override-not-allowed', feature, amountMax } };
  }
  return { kind: 'priced', amount: requestedAmount };
}

/** Checks a price list read from a file; throws with the offending feature named. */
export function assertValidPriceList(value: unknown, source: string): asserts value is PriceList {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${source}: a price list is an object of feature → { credits, amountOverride? }`);
  }
  for (const [feature, price] of Object.entries(value as Record<string, unknown>)) {
    const { credits, amountOverride, ...unknownKeys } = (price ?? {}) as Partial<FeaturePrice>;
    const unknownKey = Object.keys(unknownKeys)[0];
    if (unknownKey !== undefined) {
      throw new Error(
        `${source}: feature "${feature}" has an unknown key "${unknownKey}" (known: credits, amountOverride)`,
      );
    }
    if (typeof credits !== 'number' || !isCreditAmount(credits)) {
      throw new Error(`${source}: feature "${feature}" needs a positive integer "credits"`);
    }
    if (amountOverride !== undefined && !isCreditAmount(amountOverride?.amountMax)) {
      throw new Error(`${source}: feature "${feature}" has an "amountOverride" without a positive integer "amountMax"`);
    }
  }
}
