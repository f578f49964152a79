import type { CloseDispute, OpenDispute, RefundRecharge } from './credits.commands';
import { type Decision, record, refuse } from './credits.decision';
import type {
  CreditsEventMetadata,
  CreditsFrozen,
  CreditsUnfrozen,
  RechargeRefunded,
  ReversalSource,
  ShortfallPolicy,
} from './credits.events';
import { disputeIdempotencyKey, eventIdFor } from './credits.idempotency';
import { type CreditsState, type RechargeState, spendableCredits } from './credits.state';
import { creditsStreamId } from './credits.stream';

/**
 * Decisions that take a recharge's credits back (refunds, lost disputes) or
 * hold them (open disputes). Amounts of money are cumulative, as Stripe
 * reports them, so two partial refunds take back exactly their sum whatever
 * order or number of deliveries.
 */
export function refundRecharge(command: RefundRecharge, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, rechargeId, chargeId, amountRefundedOfCharge, shortfallPolicy, source } = command.data;
  const recharge = state.recharges.get(rechargeId);
  if (recharge === undefined) return refuse({ type: 'unknown-recharge', rechargeId });
  const amountPaid = recharge.amountPaid;
  if (
    !Number.isSafeInteger(amountRefundedOfCharge) ||
    amountRefundedOfCharge <= 0 ||
    amountRefundedOfCharge > amountPaid
  ) {
    return refuse({ type: 'invalid-refund-amount', rechargeId, amountRefundedOfCharge, amountPaid });
  }
  const before = recharge.amountRefundedBy[chargeId] ?? 0;
  if (amountRefundedOfCharge <= before) {
    return refuse({ type: 'refund-already-applied', rechargeId, chargeId, amountRefundedOfCharge: before });
  }
  const takeBack = {
    reason: 'refund' as const,
    refundedBy: chargeId,
    amountRefundedBy: amountRefundedOfCharge,
    creditsUnfrozen: 0,
    shortfallPolicy,
    source,
  };
  return record(rechargeRefunded(userId, rechargeId, recharge, state, takeBack, metadata));
}

export function openDispute(command: OpenDispute, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, rechargeId, disputeId, source } = command.data;
  const recharge = state.recharges.get(rechargeId);
  if (recharge === undefined) return refuse({ type: 'unknown-recharge', rechargeId });
  if (recharge.dispute !== undefined) {
    return refuse({ type: 'dispute-already-open', rechargeId, disputeId: recharge.dispute.disputeId });
  }
  if (state.outcomes.has(disputeIdempotencyKey(disputeId, 'closed'))) {
    return refuse({ type: 'dispute-already-closed', rechargeId, disputeId });
  }
  // What is left of the recharge, as far as the balance still holds it unfrozen.
  const credits = Math.min(recharge.credits - recharge.creditsTakenBack, spendableCredits(state));
  const event: CreditsFrozen = {
    type: 'CreditsFrozen',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { rechargeId, disputeId, credits, source },
    metadata,
  };
  return record(event);
}

/** Won: release what the dispute froze. Lost: take the disputed share back, as a refund would. */
export function closeDispute(command: CloseDispute, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, rechargeId, disputeId, outcome, amountDisputed, shortfallPolicy, source } = command.data;
  const recharge = state.recharges.get(rechargeId);
  if (recharge === undefined) return refuse({ type: 'unknown-recharge', rechargeId });
  const frozen = recharge.dispute?.disputeId === disputeId ? recharge.dispute.frozenCredits : undefined;
  if (outcome === 'won') {
    // Recorded even when this stream never saw the dispute open (nothing frozen, 0 released): its closing
    // is then known, and an opening delivered late freezes nothing.
    const event: CreditsUnfrozen = {
      type: 'CreditsUnfrozen',
      schemaVersion: 1,
      id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
      data: { rechargeId, disputeId, credits: frozen ?? 0, source },
      metadata,
    };
    return record(event);
  }
  const takeBack = {
    reason: 'dispute-lost' as const,
    refundedBy: `dispute:${disputeId}`,
    amountRefundedBy: amountDisputed,
    creditsUnfrozen: frozen ?? 0,
    shortfallPolicy,
    source: { ...source, disputeId },
  };
  return record(rechargeRefunded(userId, rechargeId, recharge, state, takeBack, metadata));
}

type TakeBack = {
  reason: RechargeRefunded['data']['reason'];
  refundedBy: string;
  amountRefundedBy: number;
  creditsUnfrozen: number;
  shortfallPolicy: ShortfallPolicy;
  source: ReversalSource;
};

function rechargeRefunded(
  userId: string,
  rechargeId: string,
  recharge: RechargeState,
  state: CreditsState,
  takeBack: TakeBack,
  metadata: CreditsEventMetadata,
): RechargeRefunded {
  const amountRefundedTotal = amountRefundedAfter(recharge, takeBack.refundedBy, takeBack.amountRefundedBy);
  const creditsTakenBack = creditsShareOf(recharge, amountRefundedTotal) - recharge.creditsTakenBack;
  const available = Math.max(0, state.balance);
  const creditsDebited = takeBack.shortfallPolicy === 'debt' ? creditsTakenBack : Math.min(creditsTakenBack, available);
  return {
    type: 'RechargeRefunded',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: {
      rechargeId,
      ...takeBack,
      amountRefundedTotal,
      creditsTakenBack,
      creditsDebited,
      shortfallCredits: Math.max(0, creditsTakenBack - available),
    },
    metadata,
  };
}

/** The recharge's money refunded once `refundedBy` has refunded `amount` in all: never more than was paid. */
function amountRefundedAfter(recharge: RechargeState, refundedBy: string, amount: number): number {
  const others = recharge.amountRefundedTotal - (recharge.amountRefundedBy[refundedBy] ?? 0);
  return Math.min(recharge.amountPaid, others + amount);
}

/**
 * The recharge's credits that `amountRefundedTotal` of its price buys, rounded
 * down (in the user's favour) until the whole price is refunded, which takes
 * back every credit. BigInt: credits × minor units can pass 2^53.
 */
export function creditsShareOf(recharge: RechargeState, amountRefundedTotal: number): number {
  if (recharge.amountPaid === 0 || amountRefundedTotal >= recharge.amountPaid) return recharge.credits;
  return Number((BigInt(recharge.credits) * BigInt(amountRefundedTotal)) / BigInt(recharge.amountPaid));
}
