import type { RecordTopUpOutcome, RequestTopUp } from './credits.commands';
import { type Decision, record, refuse } from './credits.decision';
import type { CreditsEventMetadata, TopUpFailed, TopUpRequested, TopUpSucceeded } from './credits.events';
import { eventIdFor } from './credits.idempotency';
import { creditsStreamId } from './credits.stream';
import { type TopUpState, utcMonthOf } from './credits.top-ups';

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
