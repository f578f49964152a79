import type { CompleteRecharge, ConsumeCredits, CreditsCommand, GrantBonus } from './credits.commands';
import { type Decision, record, refuse, refuseAboveBalanceMax } from './credits.decision';
import type { BonusGranted, CreditsConsumed, CreditsEventMetadata, RechargeCompleted } from './credits.events';
import {
  disputeIdempotencyKey,
  eventIdFor,
  payloadFingerprint,
  grantClosedIdempotencyKey,
  HOLD_ENDED_KEY_PREFIX,
  holdEndedIdempotencyKey,
  rechargeEventId,
  rechargeIdempotencyKey,
  refundIdempotencyKey,
  refundReversedIdempotencyKey,
} from './credits.idempotency';
import { isCreditAmount } from './credits.limits';
import { bonusTermsOf, rechargeTermsOf } from './credits.grant-terms';
import { carryOverDue, expireGrant, voidGrant } from './credits.grant-closing';
import { ACTIVE_GRANTS_MAX, DEFAULT_GRANT_PRIORITY, planDraw } from './credits.grants';
import { captureHold, expireHold, placeHold, releaseHold } from './credits.hold-decisions';
import { closeDispute, openDispute, refundRecharge, reverseRefund } from './credits.reversals';
import {
  type CreditsState,
  assertNever,
  decisionTimeMs,
  evolve,
  insufficientCredits,
  spendableCreditsAt,
} from './credits.state';
import { creditsStreamId } from './credits.stream';
import { recordTopUpOutcome, requestTopUp } from './credits.top-up-decisions';
import { topUpOutcomeIdempotencyKey, topUpRequestIdempotencyKey } from './credits.top-ups';
import { priceFeature } from './price-list';

export type { Decision } from './credits.decision';

export function decide(command: CreditsCommand, state: CreditsState): Decision {
  assertKeyedByBusinessId(command);
  const fingerprint = payloadFingerprint(command);
  // A hold's end answers a repeat by how the hold ended (`endedHoldAnswer`), not by the payload's fingerprint.
  const original = endsHold(command) ? undefined : state.outcomes.get(command.metadata.idempotencyKey);
  if (original !== undefined) {
    return original.payloadFingerprint === fingerprint
      ? { kind: 'replayed', outcome: original }
      : refuse({ type: 'idempotency-key-reused', idempotencyKey: command.metadata.idempotencyKey });
  }
  const { causedBy } = command.metadata;
  const metadata: CreditsEventMetadata = {
    idempotencyKey: command.metadata.idempotencyKey,
    payloadFingerprint: fingerprint,
    occurredAt: command.metadata.now,
    ...(causedBy === undefined ? {} : { causedBy }),
  };
  switch (command.type) {
    case 'ConsumeCredits':
      return consumeCredits(command, state, metadata);
    case 'GrantBonus':
      return grantBonus(command, state, metadata);
    case 'CompleteRecharge':
      return completeRecharge(command, state, metadata);
    case 'RefundRecharge':
      return afterCarryOverDue(command, state, metadata, refundRecharge);
    case 'ReverseRefund':
      return afterCarryOverDue(command, state, metadata, reverseRefund);
    case 'OpenDispute':
      return afterCarryOverDue(command, state, metadata, openDispute);
    case 'CloseDispute':
      return afterCarryOverDue(command, state, metadata, closeDispute);
    case 'ExpireGrant':
      return expireGrant(command, state, metadata);
    case 'VoidGrant':
      return voidGrant(command, state, metadata);
    case 'PlaceHold':
      return placeHold(command, state, metadata);
    case 'CaptureHold':
      return captureHold(command, state, metadata);
    case 'ReleaseHold':
      return releaseHold(command, state, metadata);
    case 'ExpireHold':
      return expireHold(command, state, metadata);
    case 'RequestTopUp':
      return requestTopUp(command, state, metadata);
    case 'RecordTopUpOutcome':
      return recordTopUpOutcome(command, state.topUps, metadata);
    default:
      return assertNever(command);
  }
}

function endsHold(command: CreditsCommand): boolean {
  return command.type === 'CaptureHold' || command.type === 'ReleaseHold' || command.type === 'ExpireHold';
}

function consumeCredits(command: ConsumeCredits, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, feature, reference, price, requestedAmount } = command.data;
  const pricing = priceFeature(feature, price, requestedAmount);
  if (pricing.kind === 'refused') return refuse(pricing.error);
  const amount = pricing.amount;
  const nowMs = decisionTimeMs(metadata.occurredAt);
  const spendable = spendableCreditsAt(state, nowMs);
  const drawnFrom = amount > spendable ? undefined : planDraw(state.grants, amount, nowMs);
  if (drawnFrom === undefined) return refuse(insufficientCredits(state, amount, spendable));
  const event: CreditsConsumed = {
    type: 'CreditsConsumed',
    schemaVersion: 2,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { amount, feature, reference, metadata: command.data.metadata, drawnFrom },
    metadata,
  };
  return record(event);
}

function grantBonus(command: GrantBonus, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, amount, reason } = command.data;
  const refusal = refuseCredit(amount, state);
  if (refusal) return refusal;
  const terms = bonusTermsOf(command.data, metadata.occurredAt);
  if (terms.kind === 'refused') return refuse(terms.error);
  const activeGrants = state.grants.spendOrder.size;
  if (activeGrants >= ACTIVE_GRANTS_MAX) {
    return refuse({ type: 'grant-limit-exceeded', activeGrants, activeGrantsMax: ACTIVE_GRANTS_MAX });
  }
  const event: BonusGranted = {
    type: 'BonusGranted',
    schemaVersion: 2,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: {
      amount,
      reason,
      metadata: command.data.metadata,
      ...terms.terms,
      debtPaidCredits: Math.min(state.grants.debt, amount),
    },
    metadata,
  };
  return record(event);
}

/** Paid credits are never refused for the cap on active grants: the customer has paid for them. */
function completeRecharge(command: CompleteRecharge, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { rechargeId, credits, amountPaid, currency, source } = command.data;
  const refusal = refuseCredit(credits, state);
  if (refusal) return refusal;
  const terms = rechargeTermsOf(command.data, metadata.occurredAt);
  if (terms.kind === 'refused') return refuse(terms.error);
  const { expiresAt, rollover } = terms;
  const event: RechargeCompleted = {
    type: 'RechargeCompleted',
    schemaVersion: 3,
    id: rechargeEventId(rechargeId),
    data: {
      rechargeId,
      credits,
      amountPaid,
      currency,
      source,
      metadata: command.data.metadata,
      category: 'paid',
      priority: DEFAULT_GRANT_PRIORITY.paid,
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...(rollover === undefined ? {} : { rollover }),
      debtPaidCredits: Math.min(state.grants.debt, credits),
    },
    metadata,
  };
  return record(event);
}

type RechargeCommand = Extract<CreditsCommand, { data: { rechargeId: string; userId: string } }>;

/**
 * A refund, dispute or give-back of a recharge whose grant is past its expiry
 * with a carry-over not recorded yet: the carry-over is recorded first, in the
 * same append (see `carryOverDue`), and the command decided on the grants it
 * leaves.
 */
function afterCarryOverDue<C extends RechargeCommand>(
  command: C,
  state: CreditsState,
  metadata: CreditsEventMetadata,
  decideOn: (command: C, state: CreditsState, metadata: CreditsEventMetadata) => Decision,
): Decision {
  const due = carryOverDue(state, command.data.userId, command.data.rechargeId, metadata);
  if (due === undefined) return decideOn(command, state, metadata);
  const settled = evolve(state, { ...due, streamVersion: state.version + 1, globalPosition: '' });
  const decision = decideOn(command, settled, metadata);
  return decision.kind === 'recorded' ? record(due, ...decision.events) : decision;
}

/** Credits added must be a valid amount and keep the balance within its bound. */
function refuseCredit(amount: number, state: CreditsState): Decision | undefined {
  if (!isCreditAmount(amount)) return refuse({ type: 'invalid-amount', amount });
  return refuseAboveBalanceMax(amount, state);
}

/**
 * Payments, refunds and disputes are keyed by their business ids: two keys
 * for one of them would let it count twice. A caller's bug, asserted.
 */
function assertKeyedByBusinessId(command: CreditsCommand): void {
  const expected = businessKeyOf(command);
  if (expected !== undefined && command.metadata.idempotencyKey !== expected) {
    throw new Error(`a ${command.type} must carry the idempotency key "${expected}"`);
  }
  // A key of a hold's end taken by another command would keep that hold from ever ending (the same event id).
  if (expected === undefined && command.metadata.idempotencyKey.startsWith(HOLD_ENDED_KEY_PREFIX)) {
    throw new Error(`a ${command.type} may not carry a hold's end key (${command.metadata.idempotencyKey})`);
  }
}

function businessKeyOf(command: CreditsCommand): string | undefined {
  switch (command.type) {
    case 'CompleteRecharge':
      return rechargeIdempotencyKey(command.data.rechargeId);
    case 'RefundRecharge': {
      const { rechargeId, chargeId, amountRefundedOfCharge, refundedAt } = command.data;
      return refundIdempotencyKey(rechargeId, chargeId, amountRefundedOfCharge, refundedAt);
    }
    case 'ReverseRefund':
      return refundReversedIdempotencyKey(command.data.refundId);
    case 'OpenDispute':
      return disputeIdempotencyKey(command.data.disputeId, 'opened');
    case 'CloseDispute':
      return disputeIdempotencyKey(command.data.disputeId, 'closed');
    case 'ExpireGrant':
      return grantClosedIdempotencyKey(command.data.grantId, 'expired');
    case 'VoidGrant':
      return grantClosedIdempotencyKey(command.data.grantId, 'voided');
    case 'CaptureHold':
    case 'ReleaseHold':
    case 'ExpireHold':
      return holdEndedIdempotencyKey(command.data.holdId);
    case 'RequestTopUp':
      return topUpRequestIdempotencyKey(command.data.crossingEventId);
    case 'RecordTopUpOutcome':
      return topUpOutcomeIdempotencyKey(command.data.topUpId);
    case 'ConsumeCredits':
    case 'GrantBonus':
    case 'PlaceHold':
      // The caller's own key (namespaced by the API).
      return undefined;
    default:
      return assertNever(command);
  }
}
