import BTree from 'sorted-btree';
import diffAgainst from 'sorted-btree/extended/diffAgainst';

/**
 * Every credit-in is a grant: a bonus, a recharge, credits given back to one.
 * A grant keeps its category, priority and expiry; consumptions draw from the
 * grants in spend order, and the sum of their remainders less the debt is the
 * balance. The ledger of a stream's grants is persistent: every change
 * returns a new ledger sharing what did not change with the old one (O(log n)
 * per change), so a state is never changed in place and a decision may fold
 * provisional events on it freely.
 */
export type GrantCategory = 'paid' | 'promotional';
export const GRANT_CATEGORIES: readonly GrantCategory[] = ['paid', 'promotional'];

/** Lower is spent first. Promotional credits go before paid ones unless a grant says otherwise. */
export const DEFAULT_GRANT_PRIORITY: Readonly<Record<GrantCategory, number>> = { promotional: 100, paid: 200 };
export const GRANT_PRIORITY_MAX = 1000;

/** Grants holding credits that one user may have at once; paid credits are never refused for it. */
export const ACTIVE_GRANTS_MAX = 10_000;

export type GrantStatus = 'active' | 'expired' | 'voided';

export type Grant = Readonly<{
  /** The id of the event that made it. */
  grantId: string;
  category: GrantCategory;
  priority: number;
  /** UTC ISO 8601; undefined: never expires. */
  expiresAt: string | undefined;
  /** `expiresAt` in epoch milliseconds; Infinity when it never expires. */
  expiresAtMs: number;
  /** Stream version of the event that made it: its age in the spend order. */
  sequence: number;
  /** The recharge it is the credits of, if any. */
  rechargeId: string | undefined;
  /** Credits it was granted (before paying any debt). */
  granted: number;
  /** Of them, what paid a debt left by a refund: never spendable. */
  debtPaid: number;
  /** Consumed from it. */
  spent: number;
  /** Lapsed at its expiry. */
  expired: number;
  /** Removed by an operator. */
  voided: number;
  /** Taken back by refunds and lost disputes, less what failed refunds gave back to it. */
  takenBack: number;
  /**
   * `granted - debtPaid - spent - expired - voided - takenBack - rolledOver - held`: not yet spent, taken back,
   * expired, voided, carried over or held; frozen ones included.
   */
  remaining: number;
  /**
   * Reserved by active holds (out of `remaining`, still in the balance): a capture spends them, a release or
   * the hold's expiry returns them, or lets them lapse when the grant is closed or past its expiry by then.
   */
  held: number;
  /** Of `remaining`, held by open disputes: neither spent nor expired while held. */
  frozen: number;
  /** Moved at its expiry into the grant `rolledInto` (a plan period's carry-over). */
  rolledOver: number;
  /** A plan period's carry-over, decided at its expiry; undefined: what is left lapses. */
  rollover: RolloverTerms | undefined;
  /** The grant its credits were carried from, for a carry-over. */
  sourceGrantId: string | undefined;
  /** The grant its carried credits went into, once its expiry recorded a carry-over. */
  rolledInto: string | undefined;
  /** `expired` once its `CreditsExpired` is recorded, `voided` once its `GrantVoided` is. */
  status: GrantStatus;
}>;

/**
 * A plan period's carry-over: at the grant's expiry, up to `creditsMax` of
 * what is left (all of it when absent) move into a new grant of the same
 * category and priority that expires at `expiresAt`, the next period's end;
 * the rest lapses. Carried credits are not carried again.
 */
export type RolloverTerms = Readonly<{ creditsMax?: number; expiresAt: string }>;

/** Credits of one grant: what a consumption drew, a refund took or a dispute froze. */
export type GrantCredits = { grantId: string; credits: number };

type SpendKey = readonly [priority: number, expiresAtMs: number, sequence: number];
type DueKey = readonly [expiresAtMs: number, sequence: number];

/** What an open dispute froze, grant by grant. */
export type DisputeFreeze = Readonly<{ disputeId: string; frozenFrom: readonly GrantCredits[] }>;

export type GrantLedger = Readonly<{
  /** Every grant the stream made, by id. */
  byId: BTree<string, Grant>;
  /** The grant of each recharge, by recharge id. */
  rechargeGrants: BTree<string, string>;
  /** The open dispute of each disputed recharge, by recharge id, and what it froze. */
  disputes: BTree<string, DisputeFreeze>;
  /** Active grants with credits left, in spend order: priority, soonest expiry (never last), oldest. */
  spendOrder: BTree<SpendKey, string>;
  /** Those of them that expire, soonest first: what the clock takes out of what is spendable. */
  dueOrder: BTree<DueKey, string>;
  /** Credits owed after a refund under the `debt` policy: new credits pay it first. */
  debt: number;
  /** The sum over active grants of `remaining - frozen`. */
  unfrozenRemaining: number;
  /** The sum over grants of `held`: what active holds reserve. */
  held: number;
}>;

/**
 * Keys compared as plain strings, and small nodes: a change copies one node,
 * so the smaller it is, the less each event copies (streams hold tens to
 * thousands of keys, never millions).
 */
const NODE_SIZE = 16;
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** An empty persistent tree of string keys. */
export function stringTree<V>(): BTree<string, V> {
  return new BTree<string, V>(undefined, compareStrings, NODE_SIZE);
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let index = 0; index < a.length; index++) {
    if (a[index] < b[index]) return -1;
    if (a[index] > b[index]) return 1;
  }
  return 0;
}

export function emptyGrantLedger(): GrantLedger {
  return {
    byId: stringTree<Grant>(),
    rechargeGrants: stringTree<string>(),
    disputes: stringTree<DisputeFreeze>(),
    spendOrder: new BTree<SpendKey, string>(undefined, compareKeys, NODE_SIZE),
    dueOrder: new BTree<DueKey, string>(undefined, compareKeys, NODE_SIZE),
    debt: 0,
    unfrozenRemaining: 0,
    held: 0,
  };
}

export const spendKeyOf = (grant: Grant): SpendKey => [grant.priority, grant.expiresAtMs, grant.sequence];
const dueKeyOf = (grant: Grant): DueKey => [grant.expiresAtMs, grant.sequence];

/** Whether a grant's credits may be spent at `nowMs`: active, and `nowMs` before its expiry. */
export function isUnexpiredAt(grant: Grant, nowMs: number): boolean {
  return grant.status === 'active' && nowMs < grant.expiresAtMs;
}

export type NewGrant = Pick<
  Grant,
  'grantId' | 'category' | 'priority' | 'expiresAt' | 'sequence' | 'rechargeId' | 'granted'
> &
  Partial<Pick<Grant, 'rollover' | 'sourceGrantId'>>;

/** Adds a grant; its credits pay any debt first. */
export function addGrant(ledger: GrantLedger, grant: NewGrant): { ledger: GrantLedger; debtPaid: number } {
  if (ledger.byId.has(grant.grantId)) throw new Error(`grant ${grant.grantId} is made twice`);
  const debtPaid = Math.min(ledger.debt, grant.granted);
  const added: Grant = {
    ...grant,
    expiresAtMs: grant.expiresAt === undefined ? Infinity : Date.parse(grant.expiresAt),
    debtPaid,
    spent: 0,
    expired: 0,
    voided: 0,
    takenBack: 0,
    rolledOver: 0,
    remaining: grant.granted - debtPaid,
    frozen: 0,
    held: 0,
    status: 'active',
    rollover: grant.rollover,
    sourceGrantId: grant.sourceGrantId,
    rolledInto: undefined,
  };
  if (Number.isNaN(added.expiresAtMs)) throw new Error(`grant ${grant.grantId} expires at an invalid time`);
  const rechargeGrants =
    grant.rechargeId === undefined
      ? ledger.rechargeGrants
      : ledger.rechargeGrants.with(grant.rechargeId, grant.grantId, true);
  const withGrant = {
    ...ledger,
    byId: ledger.byId.with(added.grantId, added, true),
    rechargeGrants,
    debt: ledger.debt - debtPaid,
  };
  return { ledger: replaced(withGrant, undefined, added), debtPaid };
}

/**
 * A ledger holding these grants, debt and open disputes: what a read model
 * keeps of a stream's grants, to apply the next events with the domain's own
 * rules. It needs every grant with credits left or frozen, and the grants the
 * events name; the others are never read.
 */
export function grantLedgerOf(
  grants: readonly Grant[],
  debt: number,
  disputes: ReadonlyArray<readonly [rechargeId: string, freeze: DisputeFreeze]>,
): GrantLedger {
  let ledger: GrantLedger = { ...emptyGrantLedger(), debt, held: grants.reduce((sum, grant) => sum + grant.held, 0) };
  for (const [rechargeId, freeze] of disputes) {
    ledger = { ...ledger, disputes: ledger.disputes.with(rechargeId, freeze, true) };
  }
  for (const grant of grants) {
    const rechargeGrants =
      grant.rechargeId === undefined
        ? ledger.rechargeGrants
        : ledger.rechargeGrants.with(grant.rechargeId, grant.grantId, true);
    ledger = replaced(
      { ...ledger, byId: ledger.byId.with(grant.grantId, grant, true), rechargeGrants },
      undefined,
      grant,
    );
  }
  return ledger;
}

/** The grant of a recharge of this stream. */
export function grantOfRecharge(ledger: GrantLedger, rechargeId: string): string {
  const grantId = ledger.rechargeGrants.get(rechargeId);
  if (grantId === undefined) throw new Error(`no grant of recharge ${rechargeId} in this stream`);
  return grantId;
}

/** The ledger with `after` in place of `before` (undefined: none), its indexes and sums kept. */
function replaced(ledger: GrantLedger, before: Grant | undefined, after: Grant): GrantLedger {
  const wasIndexed = before !== undefined && isIndexed(before);
  const indexed = isIndexed(after);
  let { spendOrder, dueOrder } = ledger;
  if (wasIndexed && !indexed) {
    spendOrder = spendOrder.without(spendKeyOf(after));
    if (after.expiresAtMs !== Infinity) dueOrder = dueOrder.without(dueKeyOf(after));
  }
  if (!wasIndexed && indexed) {
    spendOrder = spendOrder.with(spendKeyOf(after), after.grantId, true);
    if (after.expiresAtMs !== Infinity) dueOrder = dueOrder.with(dueKeyOf(after), after.grantId, true);
  }
  const unfrozenBefore = before === undefined || before.status !== 'active' ? 0 : before.remaining - before.frozen;
  const unfrozenAfter = after.status !== 'active' ? 0 : after.remaining - after.frozen;
  return {
    ...ledger,
    byId: before === undefined ? ledger.byId : ledger.byId.with(after.grantId, after, true),
    spendOrder,
    dueOrder,
    unfrozenRemaining: ledger.unfrozenRemaining - unfrozenBefore + unfrozenAfter,
  };
}

function isIndexed(grant: Grant): boolean {
  return grant.status === 'active' && grant.remaining > 0;
}

export function grantOf(ledger: GrantLedger, grantId: string): Grant {
  const grant = ledger.byId.get(grantId);
  if (grant === undefined) throw new Error(`no grant ${grantId} in this stream`);
  return grant;
}

function updated(ledger: GrantLedger, grantId: string, change: (grant: Grant) => Partial<Grant>): GrantLedger {
  const before = grantOf(ledger, grantId);
  const after: Grant = { ...before, ...change(before) };
  if (after.remaining < 0 || after.frozen < 0 || after.frozen > after.remaining || after.held < 0) {
    throw new Error(
      `grant ${grantId} would hold ${after.remaining} credits with ${after.frozen} frozen and ${after.held} held`,
    );
  }
  return replaced(ledger, before, after);
}

/** Takes unfrozen credits from named grants: a consumption's `drawnFrom`, an expiry, a void, a refund's `takenFrom`. */
export function takeFrom(
  ledger: GrantLedger,
  draws: readonly GrantCredits[],
  as: 'spent' | 'expired' | 'voided' | 'takenBack',
): GrantLedger {
  let next = ledger;
  for (const { grantId, credits } of draws) {
    next = updated(next, grantId, (grant) => {
      if (!Number.isSafeInteger(credits) || credits < 0 || credits > grant.remaining - grant.frozen) {
        throw new Error(`grant ${grantId} has ${grant.remaining - grant.frozen} unfrozen credits, not ${credits}`);
      }
      return { remaining: grant.remaining - credits, [as]: grant[as] + credits };
    });
  }
  return next;
}

/**
 * A grant's expiry with its carry-over: `lapsed` of its unfrozen remainder
 * lapse, `carried` move into the new grant `intoGrantId` (made at `sequence`,
 * expiring at the terms' `expiresAt`; its credits pay any debt first).
 */
export function rollOver(
  ledger: GrantLedger,
  grantId: string,
  movement: { lapsed: number; carried: number; intoGrantId: string; sequence: number },
): { ledger: GrantLedger; debtPaid: number } {
  const { lapsed, carried, intoGrantId, sequence } = movement;
  const source = grantOf(ledger, grantId);
  if (
    source.status !== 'active' ||
    source.rollover === undefined ||
    lapsed + carried !== source.remaining - source.frozen
  ) {
    throw new Error(`grant ${grantId} (${source.status}) cannot lapse ${lapsed} and carry ${carried} credits`);
  }
  const expired = changeStatus(takeFrom(ledger, [{ grantId, credits: lapsed }], 'expired'), grantId, 'expired');
  const moved = updated(expired, grantId, (grant) => ({
    remaining: grant.remaining - carried,
    rolledOver: grant.rolledOver + carried,
    rolledInto: intoGrantId,
  }));
  return addGrant(moved, {
    grantId: intoGrantId,
    category: source.category,
    priority: source.priority,
    expiresAt: source.rollover.expiresAt,
    sequence,
    rechargeId: undefined,
    granted: carried,
    sourceGrantId: grantId,
  });
}

/** The grants holding a recharge's credits: its own, then what its expiry carried over (refunds follow them). */
export function grantsOfRecharge(ledger: GrantLedger, rechargeId: string): Grant[] {
  const chain = [grantOf(ledger, grantOfRecharge(ledger, rechargeId))];
  for (let next = chain[0].rolledInto; next !== undefined; next = chain.at(-1)!.rolledInto) {
    chain.push(grantOf(ledger, next));
  }
  return chain;
}

/** Credits given back to a grant: they pay any debt first. */
export function creditGrant(
  ledger: GrantLedger,
  grantId: string,
  credits: number,
): { ledger: GrantLedger; debtPaid: number } {
  const debtPaid = Math.min(ledger.debt, credits);
  const next = updated({ ...ledger, debt: ledger.debt - debtPaid }, grantId, (grant) => ({
    takenBack: grant.takenBack - credits,
    debtPaid: grant.debtPaid + debtPaid,
    remaining: grant.remaining + credits - debtPaid,
  }));
  return { ledger: next, debtPaid };
}

export function changeStatus(ledger: GrantLedger, grantId: string, status: GrantStatus): GrantLedger {
  return updated(ledger, grantId, () => ({ status }));
}

/** Active grants in spend order, from the first; stop iterating when done. */
export function* grantsInSpendOrder(ledger: GrantLedger): Generator<Grant> {
  for (const [, grantId] of ledger.spendOrder.entries()) yield grantOf(ledger, grantId);
}

/**
 * What a consumption of `credits` at `nowMs` draws, in spend order, skipping
 * grants past their expiry and frozen credits; undefined when what is
 * spendable does not cover it. Visits only the grants it draws from and the
 * expired ones in front of them (at most what the expiry process has yet to
 * record), so a consumption is O(log grants) on a ledger kept expired.
 */
export function planDraw(ledger: GrantLedger, credits: number, nowMs: number): GrantCredits[] | undefined {
  if (credits > spendableAt(ledger, nowMs)) return undefined;
  const draws: GrantCredits[] = [];
  let left = credits;
  // forEachPair stops at the first `break`: a consumption visits only the grants it draws from (and lapsed ones).
  ledger.spendOrder.forEachPair((_, grantId) => {
    const grant = grantOf(ledger, grantId);
    if (!isUnexpiredAt(grant, nowMs)) return;
    const drawn = Math.min(left, grant.remaining - grant.frozen);
    if (drawn === 0) return;
    draws.push({ grantId, credits: drawn });
    left -= drawn;
    if (left === 0) return { break: true };
  });
  if (left !== 0) throw new Error(`spendable credits (${spendableAt(ledger, nowMs)}) did not cover ${credits}`);
  return draws;
}

/**
 * Credits that may be spent at `nowMs`: the active grants' unfrozen
 * remainders, less those past their expiry whether or not it is recorded,
 * less the debt; never below zero.
 */
export function spendableAt(ledger: GrantLedger, nowMs: number): number {
  const soonest = ledger.dueOrder.minKey();
  if (soonest === undefined || soonest[0] > nowMs) return Math.max(0, ledger.unfrozenRemaining - ledger.debt);
  let lapsed = 0;
  for (const [[expiresAtMs], grantId] of ledger.dueOrder.entries()) {
    if (expiresAtMs > nowMs) break;
    const grant = grantOf(ledger, grantId);
    lapsed += grant.remaining - grant.frozen;
  }
  return Math.max(0, ledger.unfrozenRemaining - lapsed - ledger.debt);
}

/** Grants past their expiry at `nowMs` with credits left and no `CreditsExpired` yet, soonest first. */
export function* grantsDueAt(ledger: GrantLedger, nowMs: number): Generator<Grant> {
  for (const [[expiresAtMs], grantId] of ledger.dueOrder.entries()) {
    if (expiresAtMs > nowMs) return;
    yield grantOf(ledger, grantId);
  }
}

/**
 * How a version 1 `RechargeRefunded` (recorded before `takenFrom`) took its
 * `credits` out of the grants, decided at `nowMs`: first the unfrozen credits
 * of `first` (the refunded recharge's grant), then those of the other grants
 * in spend order, then frozen ones (a refund before grants could take credits
 * another dispute held), and what was still owed became debt. Grants past
 * their expiry at `nowMs` were never taken from. Decisions now follow
 * `planTakeBack`.
 */
export function takeBackAsBefore(
  ledger: GrantLedger,
  credits: number,
  first: string | undefined,
  nowMs: number,
): { ledger: GrantLedger; taken: GrantCredits[] } {
  const taken: GrantCredits[] = [];
  let next = ledger;
  let left = credits;
  const take = (grant: Grant, includeFrozen: boolean) => {
    if (!isUnexpiredAt(grant, nowMs)) return;
    const available = includeFrozen ? grant.remaining : grant.remaining - grant.frozen;
    const amount = Math.min(left, available);
    if (amount === 0) return;
    const frozenTaken = Math.max(0, amount - (grant.remaining - grant.frozen));
    next = updated(next, grant.grantId, (current) => ({
      remaining: current.remaining - amount,
      frozen: current.frozen - frozenTaken,
      takenBack: current.takenBack + amount,
    }));
    taken.push({ grantId: grant.grantId, credits: amount });
    left -= amount;
  };
  if (first !== undefined) take(grantOf(ledger, first), false);
  for (const includeFrozen of [false, true]) {
    // The ledger is persistent: `snapshot` stays as it was while `next` changes.
    const snapshot = next;
    for (const grant of grantsInSpendOrder(snapshot)) {
      if (left === 0) break;
      take(grantOf(next, grant.grantId), includeFrozen);
    }
  }
  return { ledger: { ...next, debt: next.debt + left }, taken: mergedByGrant(taken) };
}

export function mergedByGrant(parts: readonly GrantCredits[]): GrantCredits[] {
  const byGrant = new Map<string, number>();
  for (const { grantId, credits } of parts) byGrant.set(grantId, (byGrant.get(grantId) ?? 0) + credits);
  return [...byGrant].map(([grantId, credits]) => ({ grantId, credits }));
}

/**
 * Freezes up to `credits` at `nowMs` for the recharge's open dispute
 * `disputeId`: unfrozen credits of the recharge's grants (its own, then its
 * carry-over), then of the other grants in spend order (only streams recorded before grants: a dispute now
 * freezes its recharge's grant alone), never those of a grant past its expiry.
 */
export function freezeForDispute(
  ledger: GrantLedger,
  rechargeId: string,
  disputeId: string,
  credits: number,
  nowMs: number,
): GrantLedger {
  const first = grantsOfRecharge(ledger, rechargeId).map((grant) => grant.grantId);
  const frozen = freeze(ledger, credits, first, nowMs);
  const open = ledger.disputes.get(rechargeId);
  const before = open?.disputeId === disputeId ? open.frozenFrom : [];
  const frozenFrom = mergedByGrant([...before, ...frozen.frozenFrom]);
  return { ...frozen.ledger, disputes: frozen.ledger.disputes.with(rechargeId, { disputeId, frozenFrom }, true) };
}

/** The recharge's dispute `disputeId` closes: what it froze is released, as far as the grants still hold it. */
export function releaseDispute(ledger: GrantLedger, rechargeId: string, disputeId: string): GrantLedger {
  const open = ledger.disputes.get(rechargeId);
  if (open?.disputeId !== disputeId) return ledger;
  const released = unfreeze(ledger, open.frozenFrom);
  return { ...released, disputes: released.disputes.without(rechargeId) };
}

function freeze(
  ledger: GrantLedger,
  credits: number,
  first: readonly string[],
  nowMs: number,
): { ledger: GrantLedger; frozenFrom: GrantCredits[] } {
  const frozenFrom: GrantCredits[] = [];
  let next = ledger;
  let left = credits;
  const hold = (grant: Grant) => {
    const amount = Math.min(left, grant.remaining - grant.frozen);
    if (amount === 0 || !isUnexpiredAt(grant, nowMs)) return;
    next = updated(next, grant.grantId, (current) => ({ frozen: current.frozen + amount }));
    frozenFrom.push({ grantId: grant.grantId, credits: amount });
    left -= amount;
  };
  for (const grantId of first) hold(grantOf(next, grantId));
  const snapshot = next;
  for (const grant of grantsInSpendOrder(snapshot)) {
    if (left === 0) break;
    hold(grantOf(next, grant.grantId));
  }
  return { ledger: next, frozenFrom: mergedByGrant(frozenFrom) };
}

/**
 * Releases frozen credits, as far as the grants still hold them frozen (a
 * refund recorded before grants may have taken frozen credits).
 */
function unfreeze(ledger: GrantLedger, frozenFrom: readonly GrantCredits[]): GrantLedger {
  let next = ledger;
  for (const { grantId, credits } of frozenFrom) {
    next = updated(next, grantId, (grant) => ({ frozen: grant.frozen - Math.min(credits, grant.frozen) }));
  }
  return next;
}

/** The sum of the grants' remainders and held credits, less the debt: what the balance must be. */
export function grantsBalance(ledger: GrantLedger): number {
  let remaining = 0;
  for (const grant of ledger.byId.values()) remaining += grant.remaining + grant.held;
  return remaining - ledger.debt;
}

/** What a refund or a lost dispute takes back (money rule 3), planned by `planTakeBack`. */
export type TakeBackPlan = {
  /** Credits that had already lapsed with the refunded grant: they count as taken back, nothing moves. */
  creditsLapsed: number;
  /** What leaves the balance: from `takenFrom`, the rest as debt. */
  creditsDebited: number;
  takenFrom: GrantCredits[];
  /** Credits the grants it may take from did not hold. */
  shortfallCredits: number;
};

export type TakeBackRequest = {
  /** The refunded share, in credits. */
  credits: number;
  /** The refunded recharge's grants: its own, then what its expiry carried over (`grantsOfRecharge`). */
  grantIds: readonly string[];
  /** Lapsed credits of those grants that earlier take-backs of the recharge counted already. */
  lapsedCounted: number;
  /** Credits of those grants a lost dispute released just now: they did not lapse while it was open. */
  releasedByDispute: readonly GrantCredits[];
  shortfallPolicy: 'debt' | 'writeoff';
  nowMs: number;
};

/**
 * Plans a take-back at `nowMs` on a ledger whose closing dispute, if any, is
 * released already. It takes first from the refunded recharge's grants (its
 * own, then the carry-over its expiry made): their unfrozen remainders while
 * not past their expiry (past it, only what a lost dispute just released);
 * their credits that lapsed (recorded, or due and not yet recorded)
 * count as taken back without moving; then it takes unfrozen credits of the
 * other grants not past their expiry, in spend order; what is still owed is
 * the shortfall: debt under `debt`, written off under `writeoff` (which never
 * takes more than the balance can pay, debt included, and counts held credits
 * as payable: owed as debt until their hold returns them). Frozen credits of
 * other grants are never taken, nor held ones.
 */
export function planTakeBack(ledger: GrantLedger, request: TakeBackRequest): TakeBackPlan {
  const { credits, grantIds, lapsedCounted, releasedByDispute, shortfallPolicy, nowMs } = request;
  const ownTakes: GrantCredits[] = [];
  let fromOwn = 0;
  let lapsedHeld = 0;
  let payableBeyondSpendable = 0;
  for (const grantId of grantIds) {
    const grant = grantOf(ledger, grantId);
    const unfrozen = grant.status === 'active' ? grant.remaining - grant.frozen : 0;
    const unexpired = isUnexpiredAt(grant, nowMs);
    const released = releasedByDispute.find((part) => part.grantId === grantId)?.credits ?? 0;
    const takeable = unexpired ? unfrozen : Math.min(released, unfrozen);
    const taken = Math.min(credits - fromOwn, takeable);
    if (taken > 0) ownTakes.push({ grantId, credits: taken });
    fromOwn += taken;
    if (!unexpired) payableBeyondSpendable += takeable;
    lapsedHeld += grant.expired + (grant.status === 'active' && !unexpired ? unfrozen - taken : 0);
  }
  const creditsLapsed = Math.max(0, Math.min(credits - fromOwn, lapsedHeld - lapsedCounted));
  const toDebit = credits - creditsLapsed;
  // What the balance can pay: every unfrozen credit not past its expiry, what the dispute released, and what
  // holds reserve: a refund never takes held credits (the job may capture them), but it does not write them
  // off either: they are owed as debt, which they pay first when their hold returns them.
  const payable = unfrozenUnexpiredAt(ledger, nowMs) + payableBeyondSpendable + ledger.held - ledger.debt;
  const available = Math.max(0, Math.min(toDebit, payable));
  const creditsDebited = shortfallPolicy === 'debt' ? toDebit : available;
  const takenFrom: GrantCredits[] = [];
  let left = creditsDebited;
  for (const { grantId, credits: taken } of ownTakes) {
    if (left === 0) break;
    takenFrom.push({ grantId, credits: Math.min(left, taken) });
    left -= Math.min(left, taken);
  }
  for (const grant of grantsInSpendOrder(ledger)) {
    if (left === 0) break;
    if (grantIds.includes(grant.grantId) || !isUnexpiredAt(grant, nowMs)) continue;
    const taken = Math.min(left, grant.remaining - grant.frozen);
    if (taken > 0) takenFrom.push({ grantId: grant.grantId, credits: taken });
    left -= taken;
  }
  return { creditsLapsed, creditsDebited, takenFrom, shortfallCredits: toDebit - available };
}

/** The active grants' unfrozen credits not past their expiry at `nowMs`, debt not deducted. */
function unfrozenUnexpiredAt(ledger: GrantLedger, nowMs: number): number {
  let lapsed = 0;
  for (const grant of grantsDueAt(ledger, nowMs)) lapsed += grant.remaining - grant.frozen;
  return ledger.unfrozenRemaining - lapsed;
}

/** What returning credits to their grants did: see `returnToGrants`. */
export type GrantReturn = {
  ledger: GrantLedger;
  /** Credits that paid debt. */
  debtPaid: number;
  /** Credits returned to grants closed already (expired or voided): they closed with them. */
  lapsedOnReturn: number;
  /** Credits that landed spendable: on active grants not past their expiry at `nowMs`, after paying debt. */
  landedSpendable: number;
};

/**
 * Credits a failed refund gives back return to the grants they left (money
 * rule 5), in order: each return pays any debt first; what reaches a grant
 * already expired or voided closes with it at once (as expired or voided),
 * so a grant still closes once; what reaches an active grant past its
 * expiry is expired with the rest of it by the expiry process.
 */
export function returnToGrants(ledger: GrantLedger, givenTo: readonly GrantCredits[], nowMs: number): GrantReturn {
  let next = ledger;
  let debtPaid = 0;
  let lapsedOnReturn = 0;
  let landedSpendable = 0;
  for (const { grantId, credits } of givenTo) {
    const credited = creditGrant(next, grantId, credits);
    debtPaid += credited.debtPaid;
    const landed = landOn(credited.ledger, grantId, credits - credited.debtPaid, nowMs);
    next = landed.ledger;
    lapsedOnReturn += landed.lapsed;
    landedSpendable += landed.spendable;
  }
  return { ledger: next, debtPaid, lapsedOnReturn, landedSpendable };
}

/** A give-back's credits: the debt its take-backs left returns first, then the credits to the grants they left. */
export function givenBack(
  ledger: GrantLedger,
  debtReturn: DebtReturn,
  givenTo: readonly GrantCredits[],
  nowMs: number,
): GrantReturn {
  const debt = returnDebt(ledger, debtReturn, nowMs);
  const grants = returnToGrants(debt.ledger, givenTo, nowMs);
  return {
    ledger: grants.ledger,
    debtPaid: grants.debtPaid,
    lapsedOnReturn: debt.lapsedOnReturn + grants.lapsedOnReturn,
    landedSpendable: debt.landedSpendable + grants.landedSpendable,
  };
}

/** What a give-back returns of the debt its take-backs had left (money rule 5): see `planDebtReturn`. */
export type DebtReturn = { debtForgiven: number; debtPaymentsUndone: GrantCredits[] };

/**
 * Credits a take-back had left as debt, given back: they cancel the debt
 * still owed first; what grants made since paid of it returns to them, the
 * most recent first (as if they had never paid it). A give-back is rare: the
 * grants are scanned.
 */
export function planDebtReturn(ledger: GrantLedger, credits: number): DebtReturn {
  const debtForgiven = Math.min(ledger.debt, credits);
  let left = credits - debtForgiven;
  const payers = [...ledger.byId.values()].filter((grant) => grant.debtPaid > 0);
  payers.sort((a, b) => b.sequence - a.sequence);
  const debtPaymentsUndone: GrantCredits[] = [];
  for (const grant of payers) {
    if (left === 0) break;
    const undone = Math.min(left, grant.debtPaid);
    debtPaymentsUndone.push({ grantId: grant.grantId, credits: undone });
    left -= undone;
  }
  if (left > 0) throw new Error(`${credits} credits of debt given back; the debt and its payments hold less`);
  return { debtForgiven, debtPaymentsUndone };
}

/**
 * Applies a debt return: the debt goes down, and the grants that paid it get
 * those credits back (closing with them at once if they closed since).
 */
export function returnDebt(ledger: GrantLedger, debtReturn: DebtReturn, nowMs: number): GrantReturn {
  const { debtForgiven, debtPaymentsUndone } = debtReturn;
  if (debtForgiven < 0 || debtForgiven > ledger.debt) throw new Error(`${debtForgiven} credits of debt forgiven`);
  let next: GrantLedger = { ...ledger, debt: ledger.debt - debtForgiven };
  let lapsedOnReturn = 0;
  let landedSpendable = 0;
  for (const { grantId, credits } of debtPaymentsUndone) {
    const paid = grantOf(next, grantId).debtPaid;
    if (credits <= 0 || credits > paid) throw new Error(`grant ${grantId} paid ${paid} of debt, not ${credits}`);
    next = updated(next, grantId, (grant) => ({
      debtPaid: grant.debtPaid - credits,
      remaining: grant.remaining + credits,
    }));
    const landed = landOn(next, grantId, credits, nowMs);
    next = landed.ledger;
    lapsedOnReturn += landed.lapsed;
    landedSpendable += landed.spendable;
  }
  return { ledger: next, debtPaid: 0, lapsedOnReturn, landedSpendable };
}

/**
 * Credits just added to a grant's remainder: on an active grant they are
 * spendable unless it is past its expiry (the expiry process takes them with
 * the rest, carrying them over if it carries). On a grant that closed with a
 * carry-over, they follow into it as far as its cap left room (had they been
 * there, it would have carried them). The rest of those on a closed grant
 * close with it (as expired or voided).
 */
function landOn(
  ledger: GrantLedger,
  grantId: string,
  credits: number,
  nowMs: number,
): { ledger: GrantLedger; lapsed: number; spendable: number } {
  const grant = grantOf(ledger, grantId);
  if (grant.status === 'active') return { ledger, lapsed: 0, spendable: isUnexpiredAt(grant, nowMs) ? credits : 0 };
  const carried = carryOverRoom(grant, credits);
  const how = grant.status;
  const closed = updated(ledger, grantId, (current) => ({
    remaining: current.remaining - credits,
    [how]: current[how] + credits - carried,
    rolledOver: current.rolledOver + carried,
  }));
  if (carried === 0) return { ledger: closed, lapsed: credits, spendable: 0 };
  const into = grant.rolledInto!;
  const followed = updated(closed, into, (current) => ({
    granted: current.granted + carried,
    remaining: current.remaining + carried,
  }));
  const landed = landOn(followed, into, carried, nowMs);
  return { ledger: landed.ledger, lapsed: credits - carried + landed.lapsed, spendable: landed.spendable };
}

/** Of credits returning to a grant that closed with a carry-over, what the carry-over takes. */
function carryOverRoom(grant: Grant, credits: number): number {
  if (grant.status !== 'expired' || grant.rolledInto === undefined || grant.rollover === undefined) return 0;
  const room = (grant.rollover.creditsMax ?? Infinity) - grant.rolledOver;
  return Math.max(0, Math.min(credits, room));
}

/**
 * A dispute's release at `nowMs`: what it froze on a grant past its expiry
 * did not lapse while it was open, and lapses now, with the rest of that
 * grant, which closes as expired (money rule 4). Grants another dispute
 * still holds are left to the expiry process.
 */
export function lapsingOnRelease(
  ledger: GrantLedger,
  frozenFrom: readonly GrantCredits[],
  nowMs: number,
): GrantCredits[] {
  const lapsing: GrantCredits[] = [];
  for (const { grantId } of frozenFrom) {
    const grant = grantOf(ledger, grantId);
    // A grant with a carry-over is left to the expiry process, which carries it over.
    // A grant holding credits for a hold closes when the hold ends (`planHoldEnd`).
    if (grant.status !== 'active' || nowMs < grant.expiresAtMs || grant.frozen > 0 || grant.held > 0) continue;
    if (grant.rollover) continue;
    lapsing.push({ grantId, credits: grant.remaining });
  }
  return lapsing;
}

/** Closes grants as expired, taking what the event says lapsed; throws when it does not fit. */
export function expireGrants(ledger: GrantLedger, lapsed: readonly GrantCredits[]): GrantLedger {
  let next = ledger;
  for (const { grantId, credits } of lapsed) {
    const grant = grantOf(next, grantId);
    if (grant.status !== 'active' || credits !== grant.remaining - grant.frozen) {
      throw new Error(`grant ${grantId} (${grant.status}) cannot expire ${credits} credits`);
    }
    next = changeStatus(takeFrom(next, [{ grantId, credits }], 'expired'), grantId, 'expired');
  }
  return next;
}

/**
 * How a hold's credits leave it, grant by grant (see `planHoldEnd`): what its capture spent, what paid the debt,
 * what went back to a remainder (and what of that an open dispute froze at once), what lapsed on a grant voided
 * since; and the grants past their expiry that this end leaves with nothing held or frozen, which close with it.
 */
export type HoldEnd = {
  capturedFrom: GrantCredits[];
  debtPaidFrom: GrantCredits[];
  returnedTo: GrantCredits[];
  frozenFrom: GrantCredits[];
  lapsed: GrantCredits[];
  /** Of `lapsed`, what left the balance (the rest followed a carry-over). */
  creditsLapsedOnReturn: number;
  expired: GrantCredits[];
};

/** Reserves credits of the grants a hold drew from: out of their unfrozen remainder, into `held`. */
export function holdCredits(ledger: GrantLedger, drawnFrom: readonly GrantCredits[]): GrantLedger {
  let next = ledger;
  for (const { grantId, credits } of drawnFrom) {
    next = updated(next, grantId, (grant) => {
      if (!Number.isSafeInteger(credits) || credits <= 0 || credits > grant.remaining - grant.frozen) {
        throw new Error(
          `grant ${grantId} has ${grant.remaining - grant.frozen} unfrozen credits to hold, not ${credits}`,
        );
      }
      return { remaining: grant.remaining - credits, held: grant.held + credits };
    });
  }
  return { ...next, held: next.held + sumOfCredits(drawnFrom) };
}

/**
 * How a hold that drew `drawnFrom` ends at `nowMs` when its job used `captured` credits. The first `captured`
 * credits in the order it drew them are spent, even from a grant expired or voided since. The rest return: they
 * pay any debt first (a refund that fell short while they were held), then go back to their grant's remainder;
 * to a grant closed since (`lapsed`), they follow its carry-over as a give-back does (a plan period's grant
 * rolled over while they were held) and are voided or expired with it beyond that. Where they land on a grant
 * whose recharge has an open dispute, the dispute freezes them at once (`frozenFrom`). A
 * grant without a carry-over never expires while it holds credits: one past its expiry that this end leaves
 * with nothing held or frozen closes in the same event with all it has left (`expired`).
 */
export function planHoldEnd(
  ledger: GrantLedger,
  drawnFrom: readonly GrantCredits[],
  captured: number,
  nowMs: number,
): HoldEnd {
  const end: HoldEnd = {
    capturedFrom: [],
    debtPaidFrom: [],
    returnedTo: [],
    frozenFrom: [],
    lapsed: [],
    creditsLapsedOnReturn: 0,
    expired: [],
  };
  let toCapture = captured;
  let debt = ledger.debt;
  for (const { grantId, credits } of drawnFrom) {
    const spent = Math.min(toCapture, credits);
    toCapture -= spent;
    if (spent > 0) end.capturedFrom.push({ grantId, credits: spent });
    const paid = Math.min(debt, credits - spent);
    debt -= paid;
    if (paid > 0) end.debtPaidFrom.push({ grantId, credits: paid });
    const back = credits - spent - paid;
    if (back === 0) continue;
    if (grantOf(ledger, grantId).status === 'active') end.returnedTo.push({ grantId, credits: back });
    else end.lapsed.push({ grantId, credits: back });
  }
  // The common end (nothing lapses, no dispute open, no grant past its expiry) needs no simulation of the fold.
  const drawnGrants = [...new Set(drawnFrom.map((draw) => draw.grantId))];
  const pastExpiry = drawnGrants.some((grantId) => nowMs >= grantOf(ledger, grantId).expiresAtMs);
  if (end.lapsed.length === 0 && ledger.disputes.size === 0 && !pastExpiry) return end;
  const returned = returnHeld(ledger, end, nowMs);
  end.creditsLapsedOnReturn = returned.lapsedOnReturn;
  // What landed on each grant: frozen at once where the grant's recharge has an open dispute, even past the
  // grant's expiry (the dispute froze all that was left of it then; a lost dispute takes frozen credits first).
  diffAgainst(returned.ledger.byId, ledger.byId, undefined, undefined, (grantId, after, before) => {
    const landed = after.remaining - before.remaining;
    if (landed <= 0 || after.status !== 'active') return;
    const rechargeId = rechargeOfGrant(returned.ledger, after);
    if (rechargeId !== undefined && returned.ledger.disputes.has(rechargeId)) {
      end.frozenFrom.push({ grantId, credits: landed });
    }
  });
  const after = freezeReturned(returned.ledger, end.frozenFrom);
  for (const grantId of drawnGrants) {
    const grant = grantOf(after, grantId);
    const closes = grant.status === 'active' && nowMs >= grant.expiresAtMs && grant.remaining > 0;
    if (closes && grant.held === 0 && grant.frozen === 0 && grant.rollover === undefined) {
      end.expired.push({ grantId, credits: grant.remaining });
    }
  }
  return end;
}

/** A hold's end as its event records it; throws when it does not fit the grants (a bug or a tampered stream). */
export function endHold(ledger: GrantLedger, end: HoldEnd, nowMs: number): GrantLedger {
  const returned = returnHeld(ledger, end, nowMs);
  if (returned.lapsedOnReturn !== end.creditsLapsedOnReturn) {
    throw new Error(
      `a hold's end says ${end.creditsLapsedOnReturn} credits lapsed on return, not ${returned.lapsedOnReturn}`,
    );
  }
  return expireGrants(freezeReturned(returned.ledger, end.frozenFrom), end.expired);
}

/** Moves the hold's credits as `end` says, freezes and closings apart; counts what left the balance on return. */
function returnHeld(
  ledger: GrantLedger,
  end: Pick<HoldEnd, 'capturedFrom' | 'debtPaidFrom' | 'returnedTo' | 'lapsed'>,
  nowMs: number,
): { ledger: GrantLedger; lapsedOnReturn: number } {
  let next = ledger;
  const release = (grantId: string, credits: number, into: (grant: Grant) => Partial<Grant>) => {
    next = updated(next, grantId, (grant) => {
      if (!Number.isSafeInteger(credits) || credits <= 0 || credits > grant.held) {
        throw new Error(`grant ${grantId} holds ${grant.held} credits, not ${credits}`);
      }
      return { held: grant.held - credits, ...into(grant) };
    });
  };
  for (const { grantId, credits } of end.capturedFrom) {
    release(grantId, credits, (grant) => ({ spent: grant.spent + credits }));
  }
  const debtPaid = sumOfCredits(end.debtPaidFrom);
  if (debtPaid > next.debt) throw new Error(`a hold's end pays ${debtPaid} of a debt of ${next.debt}`);
  for (const { grantId, credits } of end.debtPaidFrom) {
    release(grantId, credits, (grant) => ({ debtPaid: grant.debtPaid + credits }));
  }
  for (const { grantId, credits } of end.returnedTo) {
    release(grantId, credits, (grant) => {
      if (grant.status !== 'active') throw new Error(`grant ${grantId} is ${grant.status}: credits cannot return`);
      return { remaining: grant.remaining + credits };
    });
  }
  let lapsedOnReturn = 0;
  for (const { grantId, credits } of end.lapsed) {
    release(grantId, credits, (grant) => {
      if (grant.status === 'active') throw new Error(`grant ${grantId} is active: its credits return, not lapse`);
      return { remaining: grant.remaining + credits };
    });
    const landed = landOn(next, grantId, credits, nowMs);
    next = landed.ledger;
    lapsedOnReturn += landed.lapsed;
  }
  const ended = sumOfCredits(end.capturedFrom) + debtPaid + sumOfCredits(end.returnedTo) + sumOfCredits(end.lapsed);
  return { ledger: { ...next, held: next.held - ended, debt: next.debt - debtPaid }, lapsedOnReturn };
}

/** The recharge a grant holds the credits of: its own, or for a carry-over, its source's (a dispute freezes both). */
export function rechargeOfGrant(ledger: GrantLedger, grant: Grant): string | undefined {
  let current: Grant | undefined = grant;
  while (current !== undefined && current.rechargeId === undefined && current.sourceGrantId !== undefined) {
    current = ledger.byId.get(current.sourceGrantId);
  }
  return current?.rechargeId;
}

/** Returned credits an open dispute of their grant's recharge freezes at once, as a give-back while disputed. */
function freezeReturned(ledger: GrantLedger, frozenFrom: readonly GrantCredits[]): GrantLedger {
  let next = ledger;
  for (const { grantId, credits } of frozenFrom) {
    const rechargeId = rechargeOfGrant(next, grantOf(next, grantId));
    const open = rechargeId === undefined ? undefined : next.disputes.get(rechargeId);
    if (rechargeId === undefined || open === undefined) {
      throw new Error(`grant ${grantId} freezes ${credits} credits for no open dispute`);
    }
    next = updated(next, grantId, (grant) => ({ frozen: grant.frozen + credits }));
    const frozen = mergedByGrant([...open.frozenFrom, { grantId, credits }]);
    next = { ...next, disputes: next.disputes.with(rechargeId, { ...open, frozenFrom: frozen }, true) };
  }
  return next;
}

export function sumOfCredits(parts: readonly GrantCredits[]): number {
  return parts.reduce((sum, part) => sum + part.credits, 0);
}
