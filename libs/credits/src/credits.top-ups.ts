import type { RecordedCreditsEvent } from './credits.events';

/**
 * What a user's stream says of their automatic top-ups: the one pending (asked for, its charge's outcome not
 * recorded), and the requests of the UTC calendar month of the latest one, which the monthly limits count
 * (failed ones included: each was a charge attempted).
 */
export type TopUpState = Readonly<{
  pendingTopUpId: string | undefined;
  /** `YYYY-MM` (UTC) of the latest request; '' before any. */
  month: string;
  requestedInMonth: number;
  /** Minor units of the packs' currency. */
  amountInMonth: number;
}>;

export const NO_TOP_UPS: TopUpState = { pendingTopUpId: undefined, month: '', requestedInMonth: 0, amountInMonth: 0 };

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

export function evolveTopUps(topUps: TopUpState, event: RecordedCreditsEvent): TopUpState {
  if (event.type === 'TopUpRequested') {
    const month = utcMonthOf(event.metadata.occurredAt);
    const sameMonth = month === topUps.month;
    return {
      pendingTopUpId: event.id,
      month,
      requestedInMonth: (sameMonth ? topUps.requestedInMonth : 0) + 1,
      amountInMonth: (sameMonth ? topUps.amountInMonth : 0) + event.data.amount,
    };
  }
  if (event.type === 'TopUpSucceeded' || event.type === 'TopUpFailed') {
    return topUps.pendingTopUpId === event.data.topUpId ? { ...topUps, pendingTopUpId: undefined } : topUps;
  }
  return topUps;
}
