import type { RecordTopUpOutcome, RequestTopUp } from './credits.commands';
import { type Decision, record, refuse } from './credits.decision';
import type {
  CreditsEventMetadata,
  RecordedCreditsEvent,
  TopUpFailed,
  TopUpRequested,
  TopUpSucceeded,
} from './credits.events';
import { eventIdFor } from './credits.idempotency';
import { creditsStreamId } from './credits.stream';

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
  switch (event.type) {
    case 'TopUpRequested': {
      const month = utcMonthOf(event.metadata.occurredAt);
      const sameMonth = month === topUps.month;
      return {
        pendingTopUpId: event.id,
        month,
        requestedInMonth: (sameMonth ? topUps.requestedInMonth : 0) + 1,
        amountInMonth: (sameMonth ? topUps.amountInMonth : 0) + event.data.amount,
      };
    }
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return topUps.pendingTopUpId === event.data.topUpId ? { ...topUps, pendingTopUpId: undefined } : topUps;
    default:
      return topUps;
  }
}

/**
 * A top-up for the crossing, unless one is pending or the month's requests (of the UTC month of the decision)
 * would go over `maxPerMonth`, or their amount over `maxAmountPerMonth`.
 */
export function requestTopUp(command: RequestTopUp, topUps: TopUpState, metadata: CreditsEventMetadata): Decision {
  const { userId, maxPerMonth, maxAmountPerMonth, ...asked } = command.data;
  if (topUps.pendingTopUpId !== undefined) {
    return refuse({ type: 'top-up-refused', reason: 'pending', pendingTopUpId: topUps.pendingTopUpId });
  }
  const sameMonth = utcMonthOf(metadata.occurredAt) === topUps.month;
  const requested = sameMonth ? topUps.requestedInMonth : 0;
  const amount = sameMonth ? topUps.amountInMonth : 0;
  if (requested + 1 > maxPerMonth) return refuse({ type: 'top-up-refused', reason: 'monthly-count' });
  if (maxAmountPerMonth !== undefined && amount + asked.amount > maxAmountPerMonth) {
    return refuse({ type: 'top-up-refused', reason: 'monthly-amount' });
  }
  const event: TopUpRequested = {
    type: 'TopUpRequested',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: {
      crossingEventId: asked.crossingEventId,
      belowCredits: asked.belowCredits,
      packId: asked.packId,
      credits: asked.credits,
      amount: asked.amount,
      currency: asked.currency,
      customerId: asked.customerId,
      paymentMethodId: asked.paymentMethodId,
    },
    metadata,
  };
  return record(event);
}

/** The pending top-up's outcome; any other top-up is unknown here (its outcome is recorded, or it never was). */
export function recordTopUpOutcome(
  command: RecordTopUpOutcome,
  topUps: TopUpState,
  metadata: CreditsEventMetadata,
): Decision {
  const { userId, topUpId, outcome } = command.data;
  if (topUps.pendingTopUpId !== topUpId) return refuse({ type: 'unknown-top-up', topUpId });
  const id = eventIdFor(creditsStreamId(userId), metadata.idempotencyKey);
  if (outcome.kind === 'succeeded') {
    const event: TopUpSucceeded = {
      type: 'TopUpSucceeded',
      schemaVersion: 1,
      id,
      data: { topUpId, paymentIntentId: outcome.paymentIntentId, status: outcome.status },
      metadata,
    };
    return record(event);
  }
  const { reason, message, paymentIntentId } = outcome;
  const event: TopUpFailed = {
    type: 'TopUpFailed',
    schemaVersion: 1,
    id,
    data: { topUpId, reason, message, ...(paymentIntentId === undefined ? {} : { paymentIntentId }) },
    metadata,
  };
  return record(event);
}
