import type { CreditsEvent, CreditsEventType, FailedRefund, RecordedCreditsEvent } from './credits.events';
import { BALANCE_CREDITS_MAX } from './credits.limits';

/** What a command produced, kept per idempotency key so a retry gets the same answer. */
export type CommandOutcome = {
  payloadFingerprint: string;
  eventId: string;
  eventType: CreditsEventType;
  /** Credits moved by the command, always positive. */
  amount: number;
  balanceAfter: number;
  streamVersion: number;
  globalPosition: string;
};

/** What a user's stream says of one of their recharges: enough to take back its share, or freeze it. */
export type RechargeState = {
  credits: number;
  amountPaid: number;
  /** Money refunded or lost to disputes so far, minor units: the sum of `amountRefundedBy`. */
  amountRefundedTotal: number;
  /**
   * Cumulative money refunded by each charge (and `dispute:<id>`), as Stripe reports it per charge, less its
   * refunds known to have failed since.
   */
  amountRefundedBy: Readonly<Record<string, number>>;
  /**
   * When Stripe made the `charge.refunded` whose figure `amountRefundedBy` holds, per charge (Unix seconds).
   * Absent for a charge never reported, or reported only before this was kept.
   */
  refundedAt: Readonly<Record<string, number>>;
  /** The refunds of its charges that failed or were canceled, by refund id, with their charge. */
  failedRefunds: Readonly<Record<string, FailedRefund & { chargeId: string }>>;
  creditsTakenBack: number;
  /**
   * Credits taken back that never left the balance (written off under the `writeoff` policy), less those a
   * reversal restored: what a failed refund gives back first, without crediting it.
   */
  creditsWrittenOff: number;
  /** The open dispute and what it froze. */
  dispute: { disputeId: string; frozenCredits: number } | undefined;
};

export type CreditsState = {
  /** May be below zero only after a refund under the `debt` shortfall policy. */
  balance: number;
  /** Held by open disputes: part of the balance that may not be spent. */
  frozenCredits: number;
  /** Number of events folded so far: the stream version to append after. */
  version: number;
  /**
   * Outcomes by idempotency key. Append-only; `evolve` extends this map in
   * place instead of copying it per event (a copy would make replay quadratic),
   * so a fold owns its state: do not keep an older state and fold on.
   */
  outcomes: Map<string, CommandOutcome>;
  /** Recharges by id; extended in place like `outcomes`. */
  recharges: Map<string, RechargeState>;
};

export function initialState(): CreditsState {
  return { balance: 0, frozenCredits: 0, version: 0, outcomes: new Map(), recharges: new Map() };
}

/** What a consumption may take: the balance less what disputes froze, never below zero. */
export function spendableCredits(state: CreditsState): number {
  return Math.max(0, state.balance - state.frozenCredits);
}

export function evolve(state: CreditsState, event: RecordedCreditsEvent): CreditsState {
  assertNextVersion(state, event);
  const balance = state.balance + balanceDelta(event);
  assertBalanceAllowed(state.balance, balance, event);
  assertFirstUseOfKey(state, event);
  const frozenCredits = state.frozenCredits + frozenDelta(event);
  assertFrozenInBounds(frozenCredits, event);
  evolveRecharges(state.recharges, event);
  state.outcomes.set(event.metadata.idempotencyKey, {
    payloadFingerprint: event.metadata.payloadFingerprint,
    eventId: event.id,
    eventType: event.type,
    amount: Math.abs(balanceDelta(event)),
    balanceAfter: balance,
    streamVersion: event.streamVersion,
    globalPosition: event.globalPosition,
  });
  return {
    balance,
    frozenCredits,
    version: event.streamVersion,
    outcomes: state.outcomes,
    recharges: state.recharges,
  };
}

export function balanceDelta(event: CreditsEvent): number {
  switch (event.type) {
    case 'RechargeCompleted':
      return event.data.credits;
    case 'BonusGranted':
      return event.data.amount;
    case 'CreditsConsumed':
      return -event.data.amount;
    case 'RechargeRefunded':
      return -event.data.creditsDebited;
    case 'RefundReversed':
      return event.data.creditsCredited;
    case 'CreditsFrozen':
    case 'CreditsUnfrozen':
      return 0;
    default:
      return assertNever(event);
  }
}

/** How an event changes the credits held by open disputes. */
export function frozenDelta(event: CreditsEvent): number {
  switch (event.type) {
    case 'CreditsFrozen':
      return event.data.credits;
    case 'CreditsUnfrozen':
      return -event.data.credits;
    case 'RechargeRefunded':
      return -event.data.creditsUnfrozen;
    case 'RefundReversed':
      return event.data.creditsFrozen;
    case 'RechargeCompleted':
    case 'BonusGranted':
    case 'CreditsConsumed':
      return 0;
    default:
      return assertNever(event);
  }
}

/**
 * The balance stays within its bounds and goes below zero only through a
 * refund under the `debt` policy; credits arriving while in debt may leave it
 * below zero, but nothing else may lower it there. `decide` keeps to this;
 * `evolve` and the projections assert it (the same rule on both paths).
 */
export function isBalanceAllowed(balanceBefore: number, balanceAfter: number, event: CreditsEvent): boolean {
  if (balanceAfter > BALANCE_CREDITS_MAX || balanceAfter < -BALANCE_CREDITS_MAX) return false;
  if (balanceAfter >= 0 || balanceAfter >= balanceBefore) return true;
  return event.type === 'RechargeRefunded' && event.data.shortfallPolicy === 'debt';
}

function evolveRecharges(recharges: Map<string, RechargeState>, event: RecordedCreditsEvent): void {
  if (event.type === 'RechargeCompleted') {
    const { rechargeId, credits, amountPaid } = event.data;
    recharges.set(rechargeId, {
      credits,
      amountPaid,
      amountRefundedTotal: 0,
      amountRefundedBy: {},
      refundedAt: {},
      failedRefunds: {},
      creditsTakenBack: 0,
      creditsWrittenOff: 0,
      dispute: undefined,
    });
    return;
  }
  if (isRechargeReversal(event)) {
    const recharge = recharges.get(event.data.rechargeId);
    if (recharge === undefined) {
      throw new Error(
        `event ${event.id} at version ${event.streamVersion} names unknown recharge ${event.data.rechargeId}`,
      );
    }
    recharges.set(event.data.rechargeId, rechargeAfter(recharge, event));
  }
}

type RechargeReversal = Extract<
  RecordedCreditsEvent,
  { type: 'RechargeRefunded' | 'RefundReversed' | 'CreditsFrozen' | 'CreditsUnfrozen' }
>;

function isRechargeReversal(event: RecordedCreditsEvent): event is RechargeReversal {
  return (
    event.type === 'RechargeRefunded' ||
    event.type === 'RefundReversed' ||
    event.type === 'CreditsFrozen' ||
    event.type === 'CreditsUnfrozen'
  );
}

function rechargeAfter(recharge: RechargeState, event: RechargeReversal): RechargeState {
  switch (event.type) {
    case 'RechargeRefunded':
      return {
        ...recharge,
        amountRefundedTotal: event.data.amountRefundedTotal,
        amountRefundedBy: { ...recharge.amountRefundedBy, [event.data.refundedBy]: event.data.amountRefundedBy },
        refundedAt: reportedAt(recharge.refundedAt, event.data.refundedBy, event.data.refundedAt),
        creditsTakenBack: recharge.creditsTakenBack + event.data.creditsTakenBack,
        creditsWrittenOff: recharge.creditsWrittenOff + event.data.creditsTakenBack - event.data.creditsDebited,
        dispute: closes(recharge, event.data.reason === 'dispute-lost' ? event.data.source.disputeId : undefined),
      };
    case 'RefundReversed':
      return reversedRecharge(recharge, event);
    case 'CreditsFrozen':
      return { ...recharge, dispute: { disputeId: event.data.disputeId, frozenCredits: event.data.credits } };
    case 'CreditsUnfrozen':
      return { ...recharge, dispute: closes(recharge, event.data.disputeId) };
    default:
      return assertNever(event);
  }
}

function reversedRecharge(
  recharge: RechargeState,
  event: Extract<RecordedCreditsEvent, { type: 'RefundReversed' }>,
): RechargeState {
  const { data } = event;
  const { refund } = data;
  const dispute = recharge.dispute;
  // `decide` gives back at most what was taken back, and credits only what left the balance: anything else
  // would invent credits.
  const broken =
    data.creditsGivenBack > recharge.creditsTakenBack ||
    data.creditsWriteOffReversed > recharge.creditsWrittenOff ||
    data.creditsCredited + data.creditsWriteOffReversed !== data.creditsGivenBack ||
    (data.creditsFrozen > 0 && dispute === undefined);
  if (broken) {
    throw new Error(
      `event ${event.id} at version ${event.streamVersion} gives back more than recharge ${data.rechargeId} ` +
        `took back (${recharge.creditsTakenBack}, ${recharge.creditsWrittenOff} written off), or freezes ` +
        `credits of no open dispute`,
    );
  }
  return {
    ...recharge,
    amountRefundedTotal: data.amountRefundedTotal,
    amountRefundedBy: { ...recharge.amountRefundedBy, [data.refundedBy]: data.amountRefundedBy },
    refundedAt:
      data.refundedAt === undefined
        ? recharge.refundedAt
        : { ...recharge.refundedAt, [data.refundedBy]: data.refundedAt },
    failedRefunds:
      refund === undefined
        ? recharge.failedRefunds
        : { ...recharge.failedRefunds, [refund.refundId]: { ...refund, chargeId: data.refundedBy } },
    creditsTakenBack: recharge.creditsTakenBack - data.creditsGivenBack,
    creditsWrittenOff: recharge.creditsWrittenOff - data.creditsWriteOffReversed,
    dispute: dispute && { ...dispute, frozenCredits: dispute.frozenCredits + data.creditsFrozen },
  };
}

/** A refund's report time per charge; a report that names none (recorded before it was kept) forgets it. */
function reportedAt(
  times: RechargeState['refundedAt'],
  refundedBy: string,
  at: number | undefined,
): RechargeState['refundedAt'] {
  if (at !== undefined) return { ...times, [refundedBy]: at };
  if (!(refundedBy in times)) return times;
  const others: Record<string, number> = { ...times };
  delete others[refundedBy];
  return others;
}

/** The recharge's open dispute once `disputeId` closes: closing another dispute leaves it open. */
function closes(recharge: RechargeState, disputeId: string | undefined): RechargeState['dispute'] {
  return recharge.dispute?.disputeId === disputeId ? undefined : recharge.dispute;
}

/** A gap in versions is a programmer error in the store or the reader: crash. */
function assertNextVersion(state: CreditsState, event: RecordedCreditsEvent): void {
  if (event.streamVersion !== state.version + 1) {
    throw new Error(
      `credits stream folded out of order: state at version ${state.version}, event ${event.id} at ${event.streamVersion}`,
    );
  }
}

/** `decide` refuses any overdraft or overflow; a fold outside the bounds means a bug or a tampered stream. */
function assertBalanceAllowed(balanceBefore: number, balance: number, event: RecordedCreditsEvent): void {
  if (!isBalanceAllowed(balanceBefore, balance, event)) {
    throw new Error(
      `credits balance out of bounds (${balance}) after event ${event.id} at version ${event.streamVersion}`,
    );
  }
}

function assertFrozenInBounds(frozenCredits: number, event: RecordedCreditsEvent): void {
  if (frozenCredits < 0 || frozenCredits > BALANCE_CREDITS_MAX) {
    throw new Error(`frozen credits out of bounds (${frozenCredits}) after event ${event.id}`);
  }
}

/** `decide` never records a key twice; a repeat would hide the first outcome from retries. */
function assertFirstUseOfKey(state: CreditsState, event: RecordedCreditsEvent): void {
  if (state.outcomes.has(event.metadata.idempotencyKey)) {
    throw new Error(
      `idempotency key recorded twice in one stream, again by event ${event.id} at version ${event.streamVersion}`,
    );
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
