/**
 * What a Stripe delivery needs is not here yet: a refund's payment not
 * recorded (its own event may still be on its way), or the read model too far
 * behind to tell. The webhook answers 503 so that Stripe delivers again, for
 * `STRIPE_RETRY_WINDOW_SECONDS` after Stripe made the event; after that the
 * delivery is recorded as failed, for an operator, and answered 200: three
 * days of 503s would only get the endpoint disabled.
 */
export class RetryLaterError extends Error {
  override readonly name: string = 'RetryLaterError';
}

/** A refund or dispute whose payment has no recharge here (yet). */
export class RechargeNotFoundYetError extends RetryLaterError {
  override readonly name = 'RechargeNotFoundYetError';
}

/** The recharges projection did not catch up within its bound: nothing can be told from it now. */
export class ReadModelBehindError extends RetryLaterError {
  override readonly name = 'ReadModelBehindError';
}

/** One hour: Stripe's first retries come within it; a payment's own events normally arrive within seconds. */
export const STRIPE_RETRY_WINDOW_SECONDS = 3_600;

/** Whether Stripe should still be asked to deliver an event again (by its creation time, Unix seconds). */
export function withinRetryWindow(createdSeconds: number, now: Date): boolean {
  return now.getTime() / 1000 - createdSeconds <= STRIPE_RETRY_WINDOW_SECONDS;
}
