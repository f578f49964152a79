import { AMOUNT_CREDITS_MAX, GRANT_EXPIRY_YEARS_MAX, isCreditAmount } from '@libs/credits';
import { DateTime, Duration } from 'luxon';

/**
 * What each Stripe price buys, shipped with the project (`config/stripe-catalog.json`,
 * `STRIPE_CATALOG_FILE`). A payment whose credits this catalog cannot tell is
 * parked for an operator, never guessed.
 */
export type CreditPack = {
  /** Our name for the pack, used by the checkout helper (`packId`). */
  packId: string;
  /** The Stripe price (`price_...`) a customer pays for one unit of the pack. */
  priceId: string;
  creditsPerUnit: number;
  /** Whether `metadata.credits` on the session, payment intent or price may replace the catalog's figure. */
  metadataCreditsAllowed: boolean;
  /**
   * How long the pack's credits last from the payment, an ISO 8601 duration
   * (`P30D`, `P1M`, `PT12H`), added in UTC with calendar arithmetic (`P1M`
   * from 31 January ends on the last day of February). Absent: they never expire.
   */
  expiresAfter?: string;
};

export type CreditPlan = {
  planId: string;
  /** The recurring Stripe price of the subscription. */
  priceId: string;
  /** Credited on every paid invoice of the subscription, times the line's quantity. */
  creditsPerPeriod: number;
  metadataCreditsAllowed: boolean;
  /** Whether a period's credits lapse when the period the invoice paid for ends; absent or false: never. */
  expiresAtPeriodEnd?: boolean;
  /**
   * What is left of a period's credits when it ends: `"none"` (the default)
   * lapses, `"all"` carries it into the next period, a number carries that
   * many credits at most (per payment, whatever the line's quantity). Carried
   * credits expire at the next period's end and are not carried again. Needs
   * `expiresAtPeriodEnd: true`.
   */
  rollover?: PlanRollover;
};

/** A plan's carry-over: none, all that is left, or at most so many credits. */
export type PlanRollover = 'none' | 'all' | number;

export type StripeCatalog = {
  packs: CreditPack[];
  plans: CreditPlan[];
  /**
   * A payment intent made without Checkout has no price: its credits can only
   * come from `metadata.credits`, and only if this allows it.
   */
  paymentsWithoutPrice: { metadataCreditsAllowed: boolean };
};

/** Finds a pack by our own name for it (`metadata.packId` of a payment). */
export function packById(catalog: StripeCatalog, packId: string): CreditPack | undefined {
  return catalog.packs.find((pack) => pack.packId === packId);
}

export function packByPriceId(catalog: StripeCatalog, priceId: string): CreditPack | undefined {
  return catalog.packs.find((pack) => pack.priceId === priceId);
}

export function planByPriceId(catalog: StripeCatalog, priceId: string): CreditPlan | undefined {
  return catalog.plans.find((plan) => plan.priceId === priceId);
}

/** What each field of an entry must hold; `satisfies` keeps the lists in step with the types above. */
type FieldRule =
  'id' | 'price-id' | 'credits' | 'boolean' | 'optional-boolean' | 'optional-duration' | 'optional-rollover';

const PACK_FIELDS = {
  packId: 'id',
  priceId: 'price-id',
  creditsPerUnit: 'credits',
  metadataCreditsAllowed: 'boolean',
  expiresAfter: 'optional-duration',
} as const satisfies Record<keyof CreditPack, FieldRule>;

const PLAN_FIELDS = {
  planId: 'id',
  priceId: 'price-id',
  creditsPerPeriod: 'credits',
  metadataCreditsAllowed: 'boolean',
  expiresAtPeriodEnd: 'optional-boolean',
  rollover: 'optional-rollover',
} as const satisfies Record<keyof CreditPlan, FieldRule>;

const PAYMENTS_WITHOUT_PRICE_FIELDS = {
  metadataCreditsAllowed: 'boolean',
} as const satisfies Record<keyof StripeCatalog['paymentsWithoutPrice'], FieldRule>;

const RULE_PROBLEMS: Record<FieldRule, string> = {
  id: 'a non-empty string',
  'price-id': 'a Stripe price id (a string starting with "price_")',
  credits: `a positive integer of at most ${AMOUNT_CREDITS_MAX} credits`,
  boolean: 'true or false',
  'optional-boolean': 'true or false, or absent',
  'optional-duration': `a positive ISO 8601 duration of whole units (e.g. P30D, P1M, PT12H) of at most ${GRANT_EXPIRY_YEARS_MAX} years, or absent`,
  'optional-rollover': `"none", "all" or a positive integer of at most ${AMOUNT_CREDITS_MAX} credits, or absent`,
};

/**
 * Checks a catalog read from a file; throws naming the file and the offending
 * entry. A price must mean one thing, so a price id appears once across packs
 * and plans: otherwise a payment's credits would depend on which list is read first.
 */
export function assertValidStripeCatalog(value: unknown, path: string): asserts value is StripeCatalog {
  const shape = 'a catalog is { packs: [...], plans: [...], paymentsWithoutPrice: { metadataCreditsAllowed } }';
  if (!isPlainObject(value)) throw new Error(`${path}: ${shape}`);
  assertKnownKeys(value, ['packs', 'plans', 'paymentsWithoutPrice'], path, 'the catalog');
  const { packs, plans, paymentsWithoutPrice } = value;
  if (!Array.isArray(packs)) throw new Error(`${path}: "packs" must be a list (${shape})`);
  if (!Array.isArray(plans)) throw new Error(`${path}: "plans" must be a list (${shape})`);
  packs.forEach((pack, index) => assertEntry(pack, PACK_FIELDS, path, `packs[${index}]`));
  plans.forEach((plan, index) => assertEntry(plan, PLAN_FIELDS, path, `plans[${index}]`));
  (plans as CreditPlan[]).forEach((plan, index) => assertRolloverExpires(plan, path, `plans[${index}]`));
  assertEntry(paymentsWithoutPrice, PAYMENTS_WITHOUT_PRICE_FIELDS, path, 'paymentsWithoutPrice');
  const validPacks = packs as CreditPack[];
  const validPlans = plans as CreditPlan[];
  assertUnique(validPacks, 'packId', path, 'packs');
  assertUnique(validPlans, 'planId', path, 'plans');
  assertUnique([...validPacks, ...validPlans], 'priceId', path, 'packs and plans');
}

function assertEntry(entry: unknown, fields: Record<string, FieldRule>, path: string, where: string): void {
  if (!isPlainObject(entry)) throw new Error(`${path}: ${where} must be an object`);
  const label = `${where}${entryName(entry)}`;
  assertKnownKeys(entry, Object.keys(fields), path, label);
  for (const [field, rule] of Object.entries(fields)) {
    if (!followsRule(entry[field], rule)) {
      throw new Error(
        `${path}: ${label} needs "${field}" to be ${RULE_PROBLEMS[rule]}, got ${JSON.stringify(entry[field])}`,
      );
    }
  }
}

/**
 * Only credits that lapse at the period's end can be carried past it: a
 * carry-over on a plan whose credits never expire would promise what never
 * happens. `"none"` (the default) is allowed on any plan.
 */
function assertRolloverExpires(plan: CreditPlan, path: string, where: string): void {
  if (plan.rollover === undefined || plan.rollover === 'none' || plan.expiresAtPeriodEnd === true) return;
  throw new Error(
    `${path}: ${where}${entryName(plan)} has "rollover": ${JSON.stringify(plan.rollover)}, which needs ` +
      `"expiresAtPeriodEnd": true (only credits that lapse at the period end are carried over)`,
  );
}

function assertKnownKeys(entry: Record<string, unknown>, known: string[], path: string, label: string): void {
  const unknownKey = Object.keys(entry).find((key) => !known.includes(key));
  if (unknownKey !== undefined) {
    throw new Error(`${path}: ${label} has an unknown key "${unknownKey}" (known: ${known.join(', ')})`);
  }
}

function assertUnique<T>(entries: T[], field: keyof T & string, path: string, where: string): void {
  const seen = new Set<unknown>();
  for (const entry of entries) {
    if (seen.has(entry[field])) {
      throw new Error(`${path}: ${field} ${JSON.stringify(entry[field])} appears more than once in ${where}`);
    }
    seen.add(entry[field]);
  }
}

function followsRule(value: unknown, rule: FieldRule): boolean {
  switch (rule) {
    case 'id':
      return typeof value === 'string' && value.length > 0;
    case 'price-id':
      return typeof value === 'string' && /^price_\S+$/.test(value);
    case 'credits':
      return typeof value === 'number' && isCreditAmount(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'optional-boolean':
      return value === undefined || typeof value === 'boolean';
    case 'optional-duration':
      return value === undefined || (typeof value === 'string' && isGrantDuration(value));
    case 'optional-rollover':
      return (
        value === undefined ||
        value === 'none' ||
        value === 'all' ||
        (typeof value === 'number' && isCreditAmount(value))
      );
    default:
      return assertNever(rule);
  }
}

/**
 * A duration a grant may last: whole units (a fraction of a month has no
 * calendar meaning), none negative, some positive, and no longer than the
 * domain accepts an expiry to be away (it would refuse every payment of the pack).
 */
function isGrantDuration(text: string): boolean {
  const duration = Duration.fromISO(text);
  if (!duration.isValid) return false;
  const units = Object.values(duration.toObject());
  if (!units.every((unit) => Number.isInteger(unit) && unit >= 0) || !units.some((unit) => unit > 0)) return false;
  const from = DateTime.utc(2000, 1, 1);
  return from.plus(duration) <= from.plus({ years: GRANT_EXPIRY_YEARS_MAX });
}

/** ` ("credits_100")` after `packs[0]`, so the message names the entry as the file does. */
function entryName(entry: Record<string, unknown>): string {
  const name = entry.packId ?? entry.planId;
  return typeof name === 'string' && name !== '' ? ` (${JSON.stringify(name)})` : '';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function assertNever(value: never): never {
  throw new Error(`unexpected ${String(value)}`);
}
