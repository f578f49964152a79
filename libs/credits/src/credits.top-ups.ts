import type { RecordedCreditsEvent } from './credits.events';

/** One request per crossing: the crossing event names it, whatever the settings when it is retried. */
export function topUpRequestIdempotencyKey(crossingEventId: string): string {
  return `top-up:${crossingEventId}`;
}

/** A top-up has one outcome: the first recorded stands. */
export function topUpOutcomeIdempotencyKey(topUpId: string): string {
  return `top-up-outcome:${topUpId}`;
}

/** The UTC calendar month of an ISO 8601 instant, `YYYY-MM`. */
export function utcMonthOf(instant: string): string {
  return new Date(instant).toISOString().slice(0, 7);
}

/**
 * A top-up asked for and not over: its charge not answered yet, or accepted by Stripe (`paymentIntentId`) and its
 * payment not credited yet. A failure ends it, and so does its payment's `RechargeCompleted`.
 */
export type PendingTopUp = Readonly<{
  topUpId: string;
  paymentIntentId?: string;
  /** When Stripe's acceptance was recorded, epoch milliseconds. */
  chargedAtMs?: number;
}>;

/**
 * What a user's stream says of their automatic top-ups: the one pending, and the requests of the latest UTC
 * calendar month any request was stamped with, which the monthly limits count (failed ones included: each was a
 * charge attempted).
 */
export type TopUpState = Readonly<{
  pending: PendingTopUp | undefined;
  /** `YYYY-MM` (UTC); '' before any request. Never goes back: a request stamped earlier counts in it. */
  month: string;
  requestedInMonth: number;
  /** Minor units of `currency`, the month's first request's. */
  amountInMonth: number;
  currency: string;
  /** Whether the month's requests were not all in `currency`: their amounts cannot be added up. */
  mixedCurrencies: boolean;
}>;

export const NO_TOP_UPS: TopUpState = {
  pending: undefined,
  month: '',
  requestedInMonth: 0,
  amountInMonth: 0,
  currency: '',
  mixedCurrencies: false,
};

/**
 * How long a top-up Stripe accepted stays pending while its payment is not credited: as long as Stripe retries a
 * webhook (3 days). Past it, the credit is presumed lost to a misconfigured webhook or a payment that failed
 * later, and a new crossing may top up again.
 */
export const TOP_UP_CREDIT_WAIT_MS = 72 * 3_600_000;

/** The top-ups after an event; `isCredited` says whether a recharge (by id) was credited before it. */
export function evolveTopUps(
  topUps: TopUpState,
  event: RecordedCreditsEvent,
  isCredited: (rechargeId: string) => boolean,
): TopUpState {
  switch (event.type) {
    case 'TopUpRequested':
      return { ...countedInMonth(topUps, event), pending: { topUpId: event.id } };
    case 'TopUpSucceeded': {
      const { topUpId, paymentIntentId } = event.data;
      if (topUps.pending?.topUpId !== topUpId) return topUps;
      // The webhook may credit the payment before its acceptance is recorded.
      if (isCredited(paymentIntentId)) return { ...topUps, pending: undefined };
      const chargedAtMs = Date.parse(event.metadata.occurredAt);
      return { ...topUps, pending: { topUpId, paymentIntentId, chargedAtMs } };
    }
    case 'TopUpFailed':
      return topUps.pending?.topUpId === event.data.topUpId ? { ...topUps, pending: undefined } : topUps;
    case 'RechargeCompleted': {
      const paymentIntentId = topUps.pending?.paymentIntentId;
      const paid = paymentIntentId !== undefined && paymentIntentId === event.data.rechargeId;
      return paid ? { ...topUps, pending: undefined } : topUps;
    }
    case 'CreditsConsumed':
    case 'BonusGranted':
    case 'RechargeRefunded':
    case 'RefundReversed':
    case 'CreditsFrozen':
    case 'CreditsUnfrozen':
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
    case 'CreditsHeld':
    case 'HoldCaptured':
    case 'HoldReleased':
    case 'HoldExpired':
      return topUps;
  }
}

/** The month's counts with a request: a later month starts them again, an earlier one (a clock behind) adds to them. */
function countedInMonth(topUps: TopUpState, event: Extract<RecordedCreditsEvent, { type: 'TopUpRequested' }>) {
  const { amount, currency } = event.data;
  const month = utcMonthOf(event.metadata.occurredAt);
  if (month > topUps.month) {
    return { month, requestedInMonth: 1, amountInMonth: amount, currency, mixedCurrencies: false };
  }
  return {
    month: topUps.month,
    requestedInMonth: topUps.requestedInMonth + 1,
    amountInMonth: topUps.amountInMonth + amount,
    currency: topUps.currency,
    mixedCurrencies: topUps.mixedCurrencies || currency !== topUps.currency,
  };
}
