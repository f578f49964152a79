import type { CloseDispute, OpenDispute, RefundRecharge, ReverseRefund } from './credits.commands';
import { type Decision, record, refuse, refuseAboveBalanceMax } from './credits.decision';
import type {
  CreditsEventMetadata,
  CreditsFrozen,
  CreditsUnfrozen,
  FailedRefund,
  RechargeRefunded,
  RefundReversed,
  ReversalSource,
  ShortfallPolicy,
} from './credits.events';
import {
  type GrantCredits,
  grantOf,
  grantsOfRecharge,
  isUnexpiredAt,
  lapsingOnRelease,
  planTakeBack,
  givenBack,
  planDebtReturn,
  releaseDispute,
} from './credits.grants';
import { disputeIdempotencyKey, eventIdFor } from './credits.idempotency';
import {
  type CreditsState,
  type RechargeState,
  amountFailedAfter,
  giveBackSplit,
  giveBackStart,
  reportCounts,
  spendableCredits,
} from './credits.state';
import { creditsStreamId } from './credits.stream';

/**
 * Decisions that take a recharge's credits back (refunds, lost disputes), give
 * them back (a refund that failed or was canceled) or hold them (open
 * disputes). Amounts of money are cumulative, as Stripe reports them, so two
 * partial refunds take back exactly their sum whatever order or number of
 * deliveries.
 *
 * A charge's refunded amount can also go down: a refund fails or is
 * canceled, and Stripe takes it out of the charge's `amount_refunded`. Stripe
 * does not deliver in order, so each report is placed in time by when Stripe
 * made it: the charge's figure is the latest report's, less the refunds known
 * to have failed after it (a refund counts in the reports made between its
 * creation and its failure). A report older than the one applied changes
 * nothing. Stripe's times are whole seconds: within one second, the larger
 * figure is taken as the later, and a report made in a refund's creation
 * second counts it (see `reportCounts`). A figure recorded before report
 * times were kept is placed when it was recorded (see `refundedAt`).
 */
export function refundRecharge(command: RefundRecharge, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, rechargeId, chargeId, amountRefundedOfCharge, refundedAt, shortfallPolicy, source } = command.data;
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
  assertUnixSeconds(refundedAt, 'refundedAt');
  const before = recharge.amountRefundedBy[chargeId] ?? 0;
  const appliedAt = recharge.refundedAt[chargeId];
  // What this report says is refunded now, given the refunds of the charge known to have failed since it.
  const reported = Math.max(0, amountRefundedOfCharge - amountFailedAfter(recharge, chargeId, refundedAt));
  const later = appliedAt !== undefined && refundedAt > appliedAt;
  if (reported < before && later) {
    // A refund applied here failed before this report: its own event has not arrived (when it does, it finds
    // the charge's figure reported after its failure, and gives back nothing more).
    return giveBack(userId, rechargeId, recharge, state, metadata, {
      reason: 'refund-lowered',
      refundedBy: chargeId,
      amountRefundedBy: reported,
      refundedAt,
      source,
    });
  }
  if (reported < before || (reported === before && !later)) {
    return refuse({ type: 'refund-already-applied', rechargeId, chargeId, amountRefundedOfCharge: before });
  }
  if (appliedAt !== undefined && refundedAt < appliedAt) {
    // Older than the report applied, yet above it: it counts a refund that failed since, whose event has not
    // arrived. The later report is the truth.
    return refuse({ type: 'refund-already-applied', rechargeId, chargeId, amountRefundedOfCharge: before });
  }
  // Above what was applied, or as much but later (recorded, taking back nothing, so that a refund failing
  // afterwards is known to be outside this figure).
  const takeBack = {
    reason: 'refund' as const,
    refundedBy: chargeId,
    amountRefundedBy: reported,
    refundedAt,
    creditsUnfrozen: 0,
    shortfallPolicy,
    source,
  };
  return record(rechargeRefunded(userId, rechargeId, recharge, state, takeBack, metadata));
}

/**
 * A refund failed or was canceled: if the charge's figure applied here counts
 * it (it was reported after the refund was created and before it failed),
 * that money leaves the figure and its credits come back; otherwise nothing
 * comes back, and the failure is recorded all the same, so that a report of
 * the refund arriving after it does not take it back. Once per refund.
 */
export function reverseRefund(command: ReverseRefund, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, rechargeId, refundId, chargeId, amount, status, failureReason, refundCreatedAt, failedAt, source } =
    command.data;
  const recharge = state.recharges.get(rechargeId);
  if (recharge === undefined) return refuse({ type: 'unknown-recharge', rechargeId });
  if (!Number.isSafeInteger(amount) || amount <= 0 || amount > recharge.amountPaid) {
    return refuse({
      type: 'invalid-refund-amount',
      rechargeId,
      amountRefundedOfCharge: amount,
      amountPaid: recharge.amountPaid,
    });
  }
  assertUnixSeconds(refundCreatedAt, 'refundCreatedAt');
  assertUnixSeconds(failedAt, 'failedAt');
  const before = recharge.amountRefundedBy[chargeId] ?? 0;
  const appliedAt = recharge.refundedAt[chargeId];
  const counted =
    before > 0 && appliedAt !== undefined && reportCounts(appliedAt, { createdAt: refundCreatedAt, failedAt });
  const refund: FailedRefund = {
    refundId,
    amount,
    createdAt: refundCreatedAt,
    failedAt,
    ...(failureReason === undefined ? {} : { failureReason }),
  };
  return giveBack(userId, rechargeId, recharge, state, metadata, {
    reason: status === 'failed' ? 'refund-failed' : 'refund-canceled',
    refundedBy: chargeId,
    refund,
    amountRefundedBy: counted ? before - Math.min(amount, before) : before,
    source: { ...source, refundId },
  });
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
  // What is left of the recharge's own grant and its carry-over, unfrozen and not past their expiry; the rest
  // of the balance stays spendable (before grants, a dispute froze the recharge's share of the whole balance).
  const nowMs = Date.parse(metadata.occurredAt);
  let left = 0;
  for (const grant of grantsOfRecharge(state.grants, rechargeId)) {
    if (isUnexpiredAt(grant, nowMs)) left += grant.remaining - grant.frozen;
  }
  const credits = Math.min(left, spendableCredits(state, metadata.occurredAt));
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
      schemaVersion: 2,
      id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
      data: {
        rechargeId,
        disputeId,
        credits: frozen ?? 0,
        source,
        expired: lapsingOnDisputeWon(state, rechargeId, disputeId, metadata),
      },
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

/** Grants the won dispute held past their expiry: they lapse as it releases them (money rule 4). */
function lapsingOnDisputeWon(
  state: CreditsState,
  rechargeId: string,
  disputeId: string,
  metadata: CreditsEventMetadata,
): GrantCredits[] {
  const open = state.grants.disputes.get(rechargeId);
  if (open?.disputeId !== disputeId) return [];
  const released = releaseDispute(state.grants, rechargeId, disputeId);
  return lapsingOnRelease(released, open.frozenFrom, Date.parse(metadata.occurredAt));
}

type TakeBack = {
  reason: RechargeRefunded['data']['reason'];
  refundedBy: string;
  amountRefundedBy: number;
  refundedAt?: number;
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
  // A lost dispute releases what it froze first: those credits are the first it takes back.
  const disputeId = takeBack.reason === 'dispute-lost' ? takeBack.source.disputeId : undefined;
  const ledger = disputeId === undefined ? state.grants : releaseDispute(state.grants, rechargeId, disputeId);
  const grantIds = grantsOfRecharge(ledger, rechargeId).map((grant) => grant.grantId);
  const plan = planTakeBack(ledger, {
    credits: creditsTakenBack,
    grantIds,
    lapsedCounted: recharge.creditsLapsed,
    releasedByDispute: grantIds.map((grantId) => ({
      grantId,
      credits: grantOf(state.grants, grantId).frozen - grantOf(ledger, grantId).frozen,
    })),
    shortfallPolicy: takeBack.shortfallPolicy,
    nowMs: Date.parse(metadata.occurredAt),
  });
  return {
    type: 'RechargeRefunded',
    schemaVersion: 2,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { rechargeId, ...takeBack, amountRefundedTotal, creditsTakenBack, ...plan },
    metadata,
  };
}

type GiveBack = {
  reason: RefundReversed['data']['reason'];
  refundedBy: string;
  refund?: FailedRefund;
  /** The charge's refunded amount after it. */
  amountRefundedBy: number;
  refundedAt?: number;
  source: ReversalSource;
};

/**
 * The charge's refunded amount goes down to `amountRefundedBy`: the credits
 * no longer taken back return. What the failed refund's take-back, and the
 * recharge's take-backs since, wrote off is restored first (it never left the
 * balance; had the refund not been taken back, the balance would have paid
 * the later ones), and never credited; the rest is credited (see
 * `giveBackSplit`). While the recharge is disputed, what is credited is
 * frozen with the rest of it.
 */
function giveBack(
  userId: string,
  rechargeId: string,
  recharge: RechargeState,
  state: CreditsState,
  metadata: CreditsEventMetadata,
  reversal: GiveBack,
): Decision {
  const amountRefundedTotal = amountRefundedAfter(recharge, reversal.refundedBy, reversal.amountRefundedBy);
  const creditsGivenBack = recharge.creditsTakenBack - creditsShareOf(recharge, amountRefundedTotal);
  const start = giveBackStart(recharge, reversal.refundedBy, reversal.refund);
  const split = giveBackSplit(recharge, start, creditsGivenBack);
  const { creditsCredited, givenTo, debtReturned } = split;
  const aboveMax = refuseAboveBalanceMax(creditsCredited, state);
  if (aboveMax) return aboveMax;
  const debtReturn = planDebtReturn(state.grants, debtReturned);
  const returns = givenBack(state.grants, debtReturn, givenTo, Date.parse(metadata.occurredAt));
  const { reason, refundedBy, refund, amountRefundedBy, refundedAt, source } = reversal;
  const event: RefundReversed = {
    type: 'RefundReversed',
    schemaVersion: 2,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: {
      rechargeId,
      reason,
      refundedBy,
      ...(refund === undefined ? {} : { refund }),
      amountReversed: (recharge.amountRefundedBy[refundedBy] ?? 0) - amountRefundedBy,
      amountRefundedBy,
      ...(refundedAt === undefined ? {} : { refundedAt }),
      amountRefundedTotal,
      creditsGivenBack,
      creditsCredited,
      creditsWriteOffReversed: split.creditsWriteOffReversed,
      creditsLapseReversed: split.creditsLapseReversed,
      givenTo,
      ...debtReturn,
      creditsLapsedOnReturn: returns.lapsedOnReturn,
      // While the recharge is disputed, what lands spendable is frozen with the rest of it.
      creditsFrozen: recharge.dispute === undefined ? 0 : returns.landedSpendable,
      source,
    },
    metadata,
  };
  return record(event);
}

/**
 * The recharge's money refunded once `refundedBy` has refunded `amount` in
 * all, over every charge and lost dispute: never more than was paid.
 */
function amountRefundedAfter(recharge: RechargeState, refundedBy: string, amount: number): number {
  let total = amount;
  for (const [by, refunded] of Object.entries(recharge.amountRefundedBy)) if (by !== refundedBy) total += refunded;
  return Math.min(recharge.amountPaid, total);
}

/** Stripe's times are Unix seconds; anything else is a caller's bug. */
function assertUnixSeconds(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be Unix seconds, got ${value}`);
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
