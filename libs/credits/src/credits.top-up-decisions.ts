import type { RecordTopUpOutcome, RequestTopUp } from './credits.commands';
import { type Decision, record, refuse } from './credits.decision';
import type { CreditsEventMetadata, TopUpFailed, TopUpRequested, TopUpSucceeded } from './credits.events';
import { eventIdFor } from './credits.idempotency';
import { creditsStreamId } from './credits.stream';
import { type CreditsState, decisionTimeMs, spendableCreditsAt } from './credits.state';
import { TOP_UP_CREDIT_WAIT_MS, type TopUpState, utcMonthOf } from './credits.top-ups';

/**
 * A top-up for the crossing, unless one is pending, the user may spend `belowCredits` or more by now (credits came
 * since the crossing: a crossing worked late is no reason to charge), or the month's requests (of the UTC month of
 * the decision) would go over `maxPerMonth`, or their amount over `maxAmountPerMonth`.
 */
export function requestTopUp(command: RequestTopUp, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, maxPerMonth, maxAmountPerMonth, ...asked } = command.data;
  const { topUps } = state;
  const nowMs = decisionTimeMs(metadata.occurredAt);
  if (isPending(topUps, nowMs)) {
    return refuse({ type: 'top-up-refused', reason: 'pending', pendingTopUpId: topUps.pending!.topUpId });
  }
  const spendable = spendableCreditsAt(state, nowMs);
  if (spendable >= asked.belowCredits) {
    return refuse({ type: 'top-up-refused', reason: 'above-threshold', spendable });
  }
  // A clock behind at the month's turn counts in the month already recorded, never in an earlier one.
  const counted = utcMonthOf(metadata.occurredAt) <= topUps.month;
  const requested = counted ? topUps.requestedInMonth : 0;
  if (requested + 1 > maxPerMonth) return refuse({ type: 'top-up-refused', reason: 'monthly-count' });
  if (maxAmountPerMonth !== undefined && counted && !sameCurrency(topUps, asked.currency)) {
    // Amounts of two currencies do not add up: no top-up in another currency until the month is over.
    return refuse({ type: 'top-up-refused', reason: 'monthly-amount' });
  }
  const amount = counted ? topUps.amountInMonth : 0;
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
  // Only a top-up not answered yet takes an outcome: once Stripe accepted it, its payment ends it.
  const pending = topUps.pending;
  if (pending?.topUpId !== topUpId || pending.paymentIntentId !== undefined) {
    return refuse({ type: 'unknown-top-up', topUpId });
  }
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

/** A top-up pending, unless Stripe accepted it longer ago than its payment's webhook could still come. */
function isPending(topUps: TopUpState, nowMs: number): boolean {
  const pending = topUps.pending;
  if (pending === undefined) return false;
  return pending.chargedAtMs === undefined || nowMs - pending.chargedAtMs < TOP_UP_CREDIT_WAIT_MS;
}

function sameCurrency(topUps: TopUpState, currency: string): boolean {
  return !topUps.mixedCurrencies && (topUps.currency === '' || topUps.currency === currency);
}
