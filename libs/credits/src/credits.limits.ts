/**
 * Hard limits of the domain. Every amount is a positive safe integer below its
 * bound, so sums of many of them stay exact in a JavaScript number.
 */
export const AMOUNT_CREDITS_MAX = 1_000_000_000;
/** 1e15 leaves headroom below Number.MAX_SAFE_INTEGER (about 9e15). */
export const BALANCE_CREDITS_MAX = 1_000_000_000_000_000;
/** Amounts paid are in the currency's minor unit (cents). */
export const AMOUNT_PAID_MINOR_MAX = 100_000_000_000;
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
export const USER_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

export function isCreditAmount(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && value <= AMOUNT_CREDITS_MAX;
}
