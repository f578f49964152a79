import BTree from 'sorted-btree';
import type {
  CreditsEvent,
  CreditsEventType,
  FailedRefund,
  RecordedCreditsEvent,
  RefundReversed,
} from './credits.events';
import {
  type GrantCredits,
  type GrantLedger,
  emptyGrantLedger,
  mergedByGrant,
  rechargeOfGrant,
  spendableAt,
  stringTree,
  sumOfCredits,
} from './credits.grants';
import { evolveGrantLedger } from './credits.grant-ledger';
import { type HoldState, emptyHolds, evolveHolds } from './credits.holds';
import type { InsufficientCredits } from './credits.errors';
import { NO_TOP_UPS, type TopUpState, evolveTopUps } from './credits.top-ups';
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

/** One take-back of a recharge's credits, as give-backs have left it. */
export type TakeBack = {
  /** The charge whose figure rose, or `dispute:<id>`. */
  refundedBy: string;
  /** When Stripe made the report (as `RechargeState.refundedAt` places it); absent for a lost dispute. */
  at: number | undefined;
  /** Credits it took from the balance, less those give-backs credited. */
  debited: number;
  /** Of `debited`, what became debt (the grants did not hold it); a give-back returns it first. */
  owed: number;
  /**
   * The rest of `debited`, by the grants it left, in the order taken. A take-back recorded before `takenFrom`
   * counts all of it as the recharge's own grant's.
   */
  takenFrom: readonly GrantCredits[];
  /** Credits it wrote off (they never left the balance), less those give-backs restored. */
  writtenOff: number;
  /** Credits it counted as lapsed with the recharge's grant (nothing moved), less those give-backs restored. */
  lapsed: number;
};

/** What a user's stream says of one of their recharges: enough to take back its share, or freeze it. */
export type RechargeState = {
  /** The grant of its credits: its event's id. */
  grantId: string;
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
   * A figure recorded before report times were kept (a `RechargeRefunded` without `refundedAt`) is placed
   * when it was recorded (its `occurredAt`, rounded down): Stripe made its report no later. Absent for a
   * charge never reported.
   */
  refundedAt: Readonly<Record<string, number>>;
  /** The refunds of its charges that failed or were canceled, by refund id, with their charge. */
  failedRefunds: Readonly<Record<string, FailedRefund & { chargeId: string }>>;
  creditsTakenBack: number;
  /**
   * Credits taken back that never left the balance (written off under the `writeoff` policy), less those a
   * reversal restored: the sum of the take-backs' `writtenOff`.
   */
  creditsWrittenOff: number;
  /**
   * Credits taken back that had already lapsed with the recharge's grant (nothing moved), less those a
   * reversal restored: the sum of the take-backs' `lapsed`. Never more than the grant's lapsed credits.
   */
  creditsLapsed: number;
  /**
   * Every take-back of the recharge (refund report or lost dispute), in stream order, with what it debited
   * and wrote off less what give-backs returned: what a failed refund gives back restores first the
   * write-offs of the take-back that holds it and of those made since (see `giveBackSplit`).
   */
  takeBacks: readonly TakeBack[];
  /** The open dispute and what it froze (grant by grant in `GrantLedger.disputes`). */
  dispute: { disputeId: string; frozenCredits: number } | undefined;
};

/**
 * A stream folded. Immutable: `evolve` returns a new state sharing what did
 * not change with the one it was given (persistent trees, O(log n) per
 * event), so a state may be kept, decided on and folded on from any number of
 * places.
 */
export type CreditsState = Readonly<{
  /** The sum of the grants' remainders less the debt; below zero only after a refund under the `debt` policy. */
  balance: number;
  /** Held by open disputes: part of the balance that may not be spent. */
  frozenCredits: number;
  /** Number of events folded so far: the stream version to append after. */
  version: number;
  /** Outcomes by idempotency key. */
  outcomes: BTree<string, CommandOutcome>;
  /** Recharges by id. */
  recharges: BTree<string, RechargeState>;
  /** Every credit-in as a grant, and the debt. */
  grants: GrantLedger;
  /** Holds by id, active and ended: what each reserved, and how it ended. */
  holds: BTree<string, HoldState>;
  /** Automatic top-ups: the one pending, and this month's count and amount. */
  topUps: TopUpState;
}>;

export function initialState(): CreditsState {
  return {
    balance: 0,
    frozenCredits: 0,
    version: 0,
    outcomes: stringTree(),
    recharges: stringTree(),
    grants: emptyGrantLedger(),
    holds: emptyHolds(),
    topUps: NO_TOP_UPS,
  };
}

/**
 * What a consumption at `now` may take: the unfrozen credits of grants not
 * past their expiry at `now` (recorded or not), less any debt, never below
 * zero; and never more than the balance less what disputes froze (streams
 * recorded before grants could leave a dispute holding more than its grants).
 */
export function spendableCredits(state: CreditsState, now: string): number {
  return spendableCreditsAt(state, decisionTimeMs(now));
}

/** `spendableCredits` at a time in epoch milliseconds. */
export function spendableCreditsAt(state: CreditsState, nowMs: number): number {
  const unreserved = state.balance - state.frozenCredits - state.grants.held;
  return Math.max(0, Math.min(unreserved, spendableAt(state.grants, nowMs)));
}

/** The refusal of `requested` credits when `spendable` does not cover them, with what holds the rest. */
export function insufficientCredits(state: CreditsState, requested: number, spendable: number): InsufficientCredits {
  const frozen = state.frozenCredits > 0 ? { frozenCredits: state.frozenCredits } : {};
  const held = state.grants.held > 0 ? { heldCredits: state.grants.held } : {};
  const lapsed = spendable < Math.max(0, state.balance - state.frozenCredits) ? { spendable } : {};
  return { type: 'insufficient-credits', balance: state.balance, requested, ...frozen, ...held, ...lapsed };
}

/** A decision's time (`metadata.now`, UTC ISO 8601) in epoch milliseconds; anything else is a caller's bug. */
export function decisionTimeMs(now: string): number {
  const nowMs = Date.parse(now);
  if (Number.isNaN(nowMs)) throw new Error(`a decision's time must be ISO 8601, got ${now}`);
  return nowMs;
}

export function evolve(state: CreditsState, event: RecordedCreditsEvent): CreditsState {
  assertNextVersion(state, event);
  const balance = state.balance + balanceDelta(event);
  assertBalanceAllowed(state.balance, balance, event);
  const outcomes = withFirstUseOfKey(state, event, balance);
  const frozenCredits = state.frozenCredits + frozenDelta(event);
  assertFrozenInBounds(frozenCredits, event);
  assertKnownRecharge(state, event);
  const grants = evolveGrantLedger(state.grants, event);
  return {
    balance,
    frozenCredits,
    version: event.streamVersion,
    outcomes,
    recharges: frozenOnReturn(evolveRecharges(state.recharges, event), state.grants, event),
    grants,
    holds: evolveHolds(state.holds, event),
    topUps: evolveTopUps(state.topUps, event, (rechargeId) => state.recharges.has(rechargeId)),
  };
}

/** Credits a hold's end returned to a disputed recharge's grant are frozen by its dispute: counted there too. */
function frozenOnReturn(
  recharges: BTree<string, RechargeState>,
  grants: GrantLedger,
  event: RecordedCreditsEvent,
): BTree<string, RechargeState> {
  if (event.type !== 'HoldCaptured' && event.type !== 'HoldReleased' && event.type !== 'HoldExpired') return recharges;
  let next = recharges;
  for (const { grantId, credits } of event.data.frozenFrom) {
    const grant = grants.byId.get(grantId);
    const rechargeId = grant === undefined ? undefined : rechargeOfGrant(grants, grant);
    const recharge = rechargeId === undefined ? undefined : next.get(rechargeId);
    if (rechargeId === undefined || recharge?.dispute === undefined) {
      throw new Error(`event ${event.id} freezes credits of grant ${grantId}, whose recharge has no open dispute`);
    }
    const dispute = { ...recharge.dispute, frozenCredits: recharge.dispute.frozenCredits + credits };
    next = next.with(rechargeId, { ...recharge, dispute }, true);
  }
  return next;
}

/** An outcome's `amount`: what the balance moved by, or for a hold, what it reserved, consumed or released. */
function creditsMovedBy(event: CreditsEvent): number {
  switch (event.type) {
    case 'CreditsHeld':
    case 'HoldCaptured':
      return event.data.amount;
    case 'HoldReleased':
    case 'HoldExpired': {
      const { debtPaidFrom, returnedTo, lapsed } = event.data;
      return sumOfCredits(debtPaidFrom) + sumOfCredits(returnedTo) + sumOfCredits(lapsed);
    }
    case 'RechargeCompleted':
    case 'CreditsConsumed':
    case 'BonusGranted':
    case 'RechargeRefunded':
    case 'RefundReversed':
    case 'CreditsFrozen':
    case 'CreditsUnfrozen':
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
      return Math.abs(balanceDelta(event));
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return 0;
  }
}

/** A refund or dispute of a recharge this stream never recorded: a bug or a tampered stream. */
function assertKnownRecharge(state: CreditsState, event: RecordedCreditsEvent): void {
  if (!isRechargeReversal(event) || state.recharges.has(event.data.rechargeId)) return;
  throw new Error(
    `event ${event.id} at version ${event.streamVersion} names unknown recharge ${event.data.rechargeId}`,
  );
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
      return event.data.creditsCredited - event.data.creditsLapsedOnReturn;
    case 'CreditsExpired':
    case 'GrantVoided':
      return -event.data.credits;
    case 'CreditsRolledOver':
      return -event.data.creditsExpired;
    case 'CreditsFrozen':
      return 0;
    case 'CreditsUnfrozen':
      return -event.data.expired.reduce((sum, lapsed) => sum + lapsed.credits, 0);
    case 'CreditsHeld':
      return 0;
    case 'HoldCaptured':
      return -event.data.amount - event.data.creditsLapsedOnReturn - sumOfCredits(event.data.expired);
    case 'HoldReleased':
    case 'HoldExpired':
      return -event.data.creditsLapsedOnReturn - sumOfCredits(event.data.expired);
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
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
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
    case 'CreditsHeld':
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return 0;
    case 'HoldCaptured':
    case 'HoldReleased':
    case 'HoldExpired':
      return sumOfCredits(event.data.frozenFrom);
    default:
      return assertNever(event);
  }
}

/**
 * The balance stays within its bounds and goes below zero only through a
 * refund under the `debt` policy; credits arriving while in debt may leave it
 * below zero, and an expiry of credits never spendable may lower it further
 * (grants past their expiry are never taken by a refund), but nothing else
 * may lower it there. `decide` keeps to this;
 * `evolve` and the projections assert it (the same rule on both paths).
 */
export function isBalanceAllowed(balanceBefore: number, balanceAfter: number, event: CreditsEvent): boolean {
  if (balanceAfter > BALANCE_CREDITS_MAX || balanceAfter < -BALANCE_CREDITS_MAX) return false;
  if (balanceAfter >= 0 || balanceAfter >= balanceBefore) return true;
  // An expiry lowers a balance in debt by credits that were never spendable: the debt itself is unchanged.
  // So does a hold's end: credits held before a refund left the user in debt stay capturable (and lapse on
  // return to a grant past its expiry).
  const lowersInDebt: readonly CreditsEventType[] = [
    'CreditsExpired',
    'CreditsRolledOver',
    'CreditsUnfrozen',
    'HoldCaptured',
    'HoldReleased',
    'HoldExpired',
  ];
  if (lowersInDebt.includes(event.type)) return true;
  return event.type === 'RechargeRefunded' && event.data.shortfallPolicy === 'debt';
}

function evolveRecharges(
  recharges: BTree<string, RechargeState>,
  event: RecordedCreditsEvent,
): BTree<string, RechargeState> {
  if (event.type === 'RechargeCompleted') {
    const { rechargeId, credits, amountPaid } = event.data;
    return recharges.with(rechargeId, {
      grantId: event.id,
      credits,
      amountPaid,
      amountRefundedTotal: 0,
      amountRefundedBy: {},
      refundedAt: {},
      failedRefunds: {},
      creditsTakenBack: 0,
      creditsWrittenOff: 0,
      creditsLapsed: 0,
      takeBacks: [],
      dispute: undefined,
    });
  }
  if (!isRechargeReversal(event)) return recharges;
  // `assertKnownRecharge` has checked that the recharge is known.
  const recharge = recharges.get(event.data.rechargeId)!;
  return recharges.with(event.data.rechargeId, rechargeAfter(recharge, event), true);
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
      return refundedRecharge(recharge, event);
    case 'RefundReversed':
      return reversedRecharge(recharge, event);
    case 'CreditsFrozen': {
      const { disputeId, credits } = event.data;
      return { ...recharge, dispute: { disputeId, frozenCredits: credits } };
    }
    case 'CreditsUnfrozen':
      return { ...recharge, dispute: closes(recharge, event.data.disputeId) };
    default:
      return assertNever(event);
  }
}

function refundedRecharge(
  recharge: RechargeState,
  event: Extract<RecordedCreditsEvent, { type: 'RechargeRefunded' }>,
): RechargeState {
  const { data } = event;
  const { refundedBy } = data;
  // A refund's report time; one recorded before it was kept is placed when it was recorded (Stripe made it
  // no later). A lost dispute has none: it is no charge's figure.
  const at = data.reason === 'refund' ? (data.refundedAt ?? recordedAt(event)) : undefined;
  const debited = data.creditsDebited;
  const lapsed = data.creditsLapsed;
  const writtenOff = data.creditsTakenBack - debited - lapsed;
  const takenFrom = data.takenFrom ?? [{ grantId: recharge.grantId, credits: debited }];
  const owed = debited - takenFrom.reduce((sum, taken) => sum + taken.credits, 0);
  return {
    ...recharge,
    amountRefundedTotal: data.amountRefundedTotal,
    amountRefundedBy: { ...recharge.amountRefundedBy, [refundedBy]: data.amountRefundedBy },
    refundedAt: at === undefined ? recharge.refundedAt : { ...recharge.refundedAt, [refundedBy]: at },
    creditsTakenBack: recharge.creditsTakenBack + data.creditsTakenBack,
    creditsWrittenOff: recharge.creditsWrittenOff + writtenOff,
    creditsLapsed: recharge.creditsLapsed + lapsed,
    takeBacks: [...recharge.takeBacks, { refundedBy, at, debited, owed, takenFrom, writtenOff, lapsed }],
    dispute: closes(recharge, data.reason === 'dispute-lost' ? data.source.disputeId : undefined),
  };
}

function reversedRecharge(
  recharge: RechargeState,
  event: Extract<RecordedCreditsEvent, { type: 'RefundReversed' }>,
): RechargeState {
  const { data } = event;
  const { refund, refundedBy } = data;
  const dispute = recharge.dispute;
  // `decide` gives back at most what was taken back, and credits only what left the balance: anything else
  // would invent credits.
  const restored = data.creditsWriteOffReversed + data.creditsLapseReversed;
  const walk = givingBack(
    recharge.takeBacks,
    giveBackStart(recharge, refundedBy, refund),
    data.creditsCredited,
    restored,
  );
  const broken =
    data.creditsGivenBack > recharge.creditsTakenBack ||
    data.creditsWriteOffReversed < 0 ||
    data.creditsWriteOffReversed > recharge.creditsWrittenOff ||
    data.creditsLapseReversed !== walk.lapseReversed ||
    data.creditsCredited < 0 ||
    data.creditsCredited > recharge.creditsTakenBack - recharge.creditsWrittenOff - recharge.creditsLapsed ||
    data.creditsCredited + restored !== data.creditsGivenBack ||
    data.creditsLapsedOnReturn < 0 ||
    data.creditsLapsedOnReturn > data.creditsCredited ||
    (data.givenTo !== undefined && !sameGrantCredits(data.givenTo, walk.givenTo)) ||
    (data.givenTo !== undefined && debtReturnedBy(data) !== walk.debtReturned) ||
    (data.creditsFrozen > 0 && dispute === undefined);
  if (broken) {
    throw new Error(
      `event ${event.id} at version ${event.streamVersion} gives back more than recharge ${data.rechargeId} ` +
        `took back (${recharge.creditsTakenBack}, ${recharge.creditsWrittenOff} written off, ` +
        `${recharge.creditsLapsed} lapsed), to other grants than it took from, or freezes credits of no open dispute`,
    );
  }
  return {
    ...recharge,
    amountRefundedTotal: data.amountRefundedTotal,
    amountRefundedBy: { ...recharge.amountRefundedBy, [refundedBy]: data.amountRefundedBy },
    refundedAt:
      data.refundedAt === undefined ? recharge.refundedAt : { ...recharge.refundedAt, [refundedBy]: data.refundedAt },
    failedRefunds:
      refund === undefined
        ? recharge.failedRefunds
        : { ...recharge.failedRefunds, [refund.refundId]: { ...refund, chargeId: refundedBy } },
    creditsTakenBack: recharge.creditsTakenBack - data.creditsGivenBack,
    creditsWrittenOff: recharge.creditsWrittenOff - data.creditsWriteOffReversed,
    creditsLapsed: recharge.creditsLapsed - data.creditsLapseReversed,
    takeBacks: walk.takeBacks,
    dispute: dispute && { ...dispute, frozenCredits: dispute.frozenCredits + data.creditsFrozen },
  };
}

/** What a give-back returned of its take-backs' debt: forgiven, or given back to the grants that paid it. */
export function debtReturnedBy(data: RefundReversed['data']): number {
  return (data.debtForgiven ?? 0) + (data.debtPaymentsUndone ?? []).reduce((sum, undone) => sum + undone.credits, 0);
}

function sameGrantCredits(a: readonly GrantCredits[], b: readonly GrantCredits[]): boolean {
  return (
    a.length === b.length &&
    a.every((part, index) => part.grantId === b[index].grantId && part.credits === b[index].credits)
  );
}

/**
 * Whether a `charge.refunded` made at `reportedAt` counts the refund: made once the refund was created and
 * before it failed. Stripe's times are whole seconds: a report made in the refund's own creation second
 * counts it, even when the refund failed within that second (its own report, made as it was created).
 */
export function reportCounts(reportedAt: number, refund: Pick<FailedRefund, 'createdAt' | 'failedAt'>): boolean {
  return refund.createdAt <= reportedAt && (reportedAt < refund.failedAt || reportedAt === refund.createdAt);
}

/** The money of the charge's refunds known to have failed that a report made at `at` counts. */
export function amountFailedAfter(recharge: RechargeState, chargeId: string, at: number): number {
  let amount = 0;
  for (const failed of Object.values(recharge.failedRefunds)) {
    if (failed.chargeId === chargeId && reportCounts(at, failed)) amount += failed.amount;
  }
  return amount;
}

/**
 * The take-back that holds a failed refund of the charge `refundedBy`: the first one whose report counted
 * it. When the failed refund is not named (a lower report) or no take-back counted it, the charge's first
 * take-back: what is given back then restores the write-offs of the charge's take-backs first.
 */
export function giveBackStart(
  recharge: RechargeState,
  refundedBy: string,
  refund: Pick<FailedRefund, 'createdAt' | 'failedAt'> | undefined,
): number {
  const ofCharge = (takeBack: TakeBack) => takeBack.refundedBy === refundedBy;
  if (refund !== undefined) {
    const taker = recharge.takeBacks.findIndex(
      (takeBack) => ofCharge(takeBack) && takeBack.at !== undefined && reportCounts(takeBack.at, refund),
    );
    if (taker >= 0) return taker;
  }
  return Math.max(0, recharge.takeBacks.findIndex(ofCharge));
}

/** How a give-back splits: see `giveBackSplit`. */
export type GiveBackSplit = {
  creditsCredited: number;
  creditsWriteOffReversed: number;
  creditsLapseReversed: number;
  /** The grants the credited credits return to, in the order the take-backs took them. */
  givenTo: GrantCredits[];
  /** Of the credited credits, what the take-backs had left as debt: it returns to the debt first. */
  debtReturned: number;
};

/**
 * How the credits given back by a failure are split between credited and restored (never credited: written
 * off, or counted as lapsed), as if the failed refund had never been taken back. Up to what the take-back
 * `start` still holds, they are that take-back's: had it not been made, the balance would have paid what it
 * and the take-backs since did not debit, so those are restored first, and the rest is credited. What a
 * take-back before it did not debit is another refund's, and stays. Anything beyond what `start` holds
 * (shares rounded down, or a take-back that held another refund) restores any of the recharge's first, and
 * is credited last. Within a take-back, lapsed credits are restored before written-off ones.
 */
export function giveBackSplit(recharge: RechargeState, start: number, creditsGivenBack: number): GiveBackSplit {
  const { takeBacks } = recharge;
  const held = takeBacks[start];
  const notDebited = (takeBack: TakeBack) => takeBack.writtenOff + takeBack.lapsed;
  const fromHolder = Math.min(creditsGivenBack, held === undefined ? 0 : held.debited + notDebited(held));
  let notDebitedSince = 0;
  for (const takeBack of takeBacks.slice(start)) notDebitedSince += notDebited(takeBack);
  const restoredForHolder = Math.min(fromHolder, notDebitedSince);
  const beyond = creditsGivenBack - fromHolder;
  const notDebitedTotal = recharge.creditsWrittenOff + recharge.creditsLapsed;
  const restored = restoredForHolder + Math.min(beyond, notDebitedTotal - restoredForHolder);
  const creditsCredited = creditsGivenBack - restored;
  const { lapseReversed, givenTo, debtReturned } = givingBack(takeBacks, start, creditsCredited, restored);
  return {
    creditsCredited,
    creditsWriteOffReversed: restored - lapseReversed,
    creditsLapseReversed: lapseReversed,
    givenTo,
    debtReturned,
  };
}

/**
 * The take-backs once a give-back credited `credited` of their debits and restored `restored` of what they
 * did not debit (lapsed first, then written off): from `start` on first, then the earlier ones (as
 * `giveBackSplit` counts them). Credited credits return to the grants each take-back took them from, in
 * the order taken.
 */
function givingBack(
  takeBacks: readonly TakeBack[],
  start: number,
  credited: number,
  restored: number,
): { takeBacks: TakeBack[]; lapseReversed: number; givenTo: GrantCredits[]; debtReturned: number } {
  const after = takeBacks.map((takeBack) => ({ ...takeBack }));
  const order = [...after.slice(start), ...after.slice(0, start)];
  let toCredit = credited;
  let toRestore = restored;
  let lapseReversed = 0;
  let debtReturned = 0;
  const givenTo: GrantCredits[] = [];
  for (const takeBack of order) {
    const lapsed = Math.min(toRestore, takeBack.lapsed);
    const writtenOff = Math.min(toRestore - lapsed, takeBack.writtenOff);
    const debited = Math.min(toCredit, takeBack.debited);
    takeBack.lapsed -= lapsed;
    takeBack.writtenOff -= writtenOff;
    takeBack.debited -= debited;
    // What became debt comes back first: it goes back to the debt (or to the grants that paid it since).
    const owed = Math.min(debited, takeBack.owed);
    takeBack.owed -= owed;
    debtReturned += owed;
    takeBack.takenFrom = returned(takeBack.takenFrom, debited - owed, givenTo);
    lapseReversed += lapsed;
    toRestore -= lapsed + writtenOff;
    toCredit -= debited;
  }
  return { takeBacks: after, lapseReversed, givenTo: mergedByGrant(givenTo), debtReturned };
}

/** What a take-back still holds of each grant once `credits` of it return, in the order taken; adds the returns to `into`. */
function returned(takenFrom: readonly GrantCredits[], credits: number, into: GrantCredits[]): GrantCredits[] {
  let left = credits;
  const holds: GrantCredits[] = [];
  for (const taken of takenFrom) {
    const back = Math.min(left, taken.credits);
    if (back > 0) into.push({ grantId: taken.grantId, credits: back });
    if (taken.credits > back) holds.push({ grantId: taken.grantId, credits: taken.credits - back });
    left -= back;
  }
  return holds;
}

/** When a stored event was decided, in Unix seconds (rounded down). */
function recordedAt(event: RecordedCreditsEvent): number {
  const millis = Date.parse(event.metadata.occurredAt);
  if (!Number.isFinite(millis)) {
    throw new Error(`event ${event.id} at version ${event.streamVersion} has no valid occurredAt`);
  }
  return Math.floor(millis / 1000);
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
/** The outcomes with the event's; throws when its key has one already (one walk of the tree, not two). */
function withFirstUseOfKey(
  state: CreditsState,
  event: RecordedCreditsEvent,
  balanceAfter: number,
): BTree<string, CommandOutcome> {
  const outcome: CommandOutcome = {
    payloadFingerprint: event.metadata.payloadFingerprint,
    eventId: event.id,
    eventType: event.type,
    amount: creditsMovedBy(event),
    balanceAfter,
    streamVersion: event.streamVersion,
    globalPosition: event.globalPosition,
  };
  // Not overwriting: the same tree back means the key had an outcome.
  const outcomes = state.outcomes.with(event.metadata.idempotencyKey, outcome, false);
  if (outcomes === state.outcomes) {
    throw new Error(
      `idempotency key recorded twice in one stream, again by event ${event.id} at version ${event.streamVersion}`,
    );
  }
  return outcomes;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
