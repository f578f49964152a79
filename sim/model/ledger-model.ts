import { stringify } from 'safe-stable-stringify';
import type { AnswerBody } from '../ledger-client';
import {
  BONUS_PRIORITY_DEFAULT,
  type BonusCommand,
  type CheckoutPayment,
  type ConsumeCommand,
  type HoldCommand,
  type ModelCommand,
  PACK,
} from './commands';

/** An event as `GET /v1/users/{userId}/events` answers it. */
export type StoredEvent = {
  eventId: string;
  version: number;
  position: string | number;
  type: string;
  data: AnswerBody;
  idempotencyKey?: string;
  occurredAt: string;
};

type Draw = { grantId: string; credits: number };

type ModelGrant = {
  grantId: string;
  /** Unheld credits left. */
  remaining: number;
  /** Credits active holds reserve of it. */
  held: number;
  priority: number;
  expiresAtMs: number;
  sequence: number;
  closed: boolean;
};

type ModelHold = {
  holdId: string;
  step: number;
  amount: number;
  drawn: Draw[];
  expiresAtMs: number;
  /** The event type that ended it, and what a capture consumed. */
  ended?: string;
  capturedAmount?: number;
};

/** What the commands and payments the simulation sent let the model expect of a stream. */
export type Expectations = {
  commandOf(step: number): ModelCommand | undefined;
  paymentOf(paymentIntentId: string): CheckoutPayment | undefined;
};

/**
 * One user's ledger, as an independent model computes it: grants spent in the order the README states
 * (priority, then soonest expiry with never-expiring last, then age), unspendable from their `expiresAt`,
 * reserved by holds until captured, released or expired. It folds the user's stored events in stream order
 * (the order the store decided) and, for each, computes what that event should have recorded from the command
 * that caused it and the model's own state; every difference is a violation. The domain's code is not used.
 */
export class UserLedgerModel {
  readonly grants = new Map<string, ModelGrant>();
  readonly holds = new Map<string, ModelHold>();
  readonly violations: string[] = [];
  /** The steps whose command this stream recorded, and how many times. */
  readonly recordedSteps = new Map<number, number>();
  readonly recordedPayments = new Map<string, number>();
  private sequence = 0;

  constructor(
    readonly userId: string,
    private readonly expect: Expectations,
  ) {}

  /** Credits in the balance: unheld and held, of grants not closed. */
  get balance(): number {
    let total = 0;
    for (const grant of this.grants.values()) if (!grant.closed) total += grant.remaining + grant.held;
    return total;
  }

  get heldCredits(): number {
    let total = 0;
    for (const hold of this.holds.values()) if (hold.ended === undefined) total += hold.amount;
    return total;
  }

  apply(event: StoredEvent): void {
    const nowMs = Date.parse(event.occurredAt);
    const step = typeof event.data.metadata?.simStep === 'number' ? (event.data.metadata.simStep as number) : undefined;
    if (step !== undefined) this.recordedSteps.set(step, (this.recordedSteps.get(step) ?? 0) + 1);
    const before = this.violations.length;
    this.applyByType(event, nowMs, step);
    for (let index = before; index < this.violations.length; index++) {
      this.violations[index] = `${this.userId} v${event.version} ${event.type}: ${this.violations[index]}`;
    }
  }

  private applyByType(event: StoredEvent, nowMs: number, step: number | undefined): void {
    switch (event.type) {
      case 'BonusGranted':
        return this.bonus(event, nowMs, this.commandFor(step, 'bonus'));
      case 'RechargeCompleted':
        return this.recharge(event);
      case 'CreditsConsumed':
        return this.consume(event, nowMs, this.commandFor(step, 'consume'));
      case 'CreditsHeld':
        return this.hold(event, nowMs, this.commandFor(step, 'hold'));
      case 'HoldCaptured':
      case 'HoldReleased':
      case 'HoldExpired':
        return this.holdEnd(event, nowMs);
      case 'CreditsExpired':
        return this.expire(event, nowMs);
      default:
        this.violations.push('an event this workload never causes');
    }
  }

  private commandFor<K extends ModelCommand['kind']>(
    step: number | undefined,
    kind: K,
  ): Extract<ModelCommand, { kind: K }> | undefined {
    const command = step === undefined ? undefined : this.expect.commandOf(step);
    if (command?.kind !== kind || command.userId !== this.userId) {
      this.violations.push(`no ${kind} command of this user sent at step ${step}: an invented event`);
      return undefined;
    }
    return command as Extract<ModelCommand, { kind: K }>;
  }

  private bonus(event: StoredEvent, nowMs: number, command: BonusCommand | undefined): void {
    if (command === undefined) return;
    const { amount, priority, expiresAt } = event.data;
    const expiresAtMs = command.expiresInSeconds === undefined ? Infinity : nowMs + command.expiresInSeconds * 1000;
    this.same('amount', amount, command.amount);
    this.same('priority', priority, command.priority ?? BONUS_PRIORITY_DEFAULT);
    this.same('expiresAt', expiresAt === undefined ? Infinity : Date.parse(expiresAt), expiresAtMs);
    this.addGrant(event.eventId, command.amount, command.priority ?? BONUS_PRIORITY_DEFAULT, expiresAtMs);
  }

  private recharge(event: StoredEvent): void {
    const { rechargeId, credits, priority, expiresAt } = event.data;
    const payment = this.expect.paymentOf(rechargeId);
    this.recordedPayments.set(rechargeId, (this.recordedPayments.get(rechargeId) ?? 0) + 1);
    if (payment === undefined || payment.userId !== this.userId) {
      this.violations.push(`recharge ${rechargeId} that no signed delivery for this user paid`);
      return;
    }
    this.same('credits', credits, PACK.credits);
    this.same('priority', priority, PACK.priority);
    this.same('expiresAt', expiresAt, undefined);
    this.addGrant(event.eventId, PACK.credits, PACK.priority, Infinity);
  }

  private consume(event: StoredEvent, nowMs: number, command: ConsumeCommand | undefined): void {
    if (command === undefined) return;
    this.same('amount', event.data.amount, command.amount);
    this.drawAsPlanned(event.data.drawnFrom, command.amount, nowMs, 0);
  }

  private hold(event: StoredEvent, nowMs: number, command: HoldCommand | undefined): void {
    if (command === undefined) return;
    this.same('amount', event.data.amount, command.amount);
    const expiresAtMs = nowMs + command.expiresInSeconds * 1000;
    this.same('expiresAt', Date.parse(event.data.expiresAt), expiresAtMs);
    const drawn = this.drawAsPlanned(event.data.drawnFrom, command.amount, nowMs, command.amount);
    this.holds.set(event.eventId, {
      holdId: event.eventId,
      step: command.step,
      amount: command.amount,
      drawn,
      expiresAtMs,
    });
  }

  /**
   * Draws `amount` in spend order as of `nowMs`, checks the event recorded that same draw, and moves the
   * credits out of their grants' remainder (into `held` when `heldCredits` > 0: a hold).
   */
  private drawAsPlanned(recorded: Draw[] | undefined, amount: number, nowMs: number, heldCredits: number): Draw[] {
    const planned = this.plan(amount, nowMs);
    if (planned === undefined) {
      this.violations.push(`${amount} credits taken when only ${this.spendableAt(nowMs)} were spendable`);
      return recorded ?? [];
    }
    this.same('drawnFrom', recorded, planned);
    for (const { grantId, credits } of planned) {
      const grant = this.grants.get(grantId)!;
      grant.remaining -= credits;
      if (heldCredits > 0) grant.held += credits;
    }
    return planned;
  }

  private holdEnd(event: StoredEvent, nowMs: number): void {
    const hold = this.holds.get(event.data.holdId);
    if (hold === undefined || hold.ended !== undefined) {
      this.violations.push(`hold ${event.data.holdId} ${hold ? `ended already (${hold.ended})` : 'never placed'}`);
      return;
    }
    hold.ended = event.type;
    if (event.type === 'HoldCaptured') hold.capturedAmount = event.data.amount as number;
    if (event.type === 'HoldCaptured' && nowMs >= hold.expiresAtMs) this.violations.push('captured after expiresAt');
    if (event.type === 'HoldExpired' && nowMs < hold.expiresAtMs) this.violations.push('expired before expiresAt');
    const captured: Draw[] = event.type === 'HoldCaptured' ? event.data.capturedFrom : [];
    const returned: Draw[] = event.data.returnedTo ?? [];
    for (const list of ['debtPaidFrom', 'frozenFrom', 'lapsed'] as const) {
      if ((event.data[list] ?? []).length > 0) this.violations.push(`${list} not empty: no debt, dispute or void here`);
    }
    this.same('captured and returned credits', byGrant([...captured, ...returned]), byGrant(hold.drawn));
    if (event.type === 'HoldCaptured') this.same('amount', sumOf(captured), event.data.amount);
    for (const { grantId, credits } of hold.drawn) this.grants.get(grantId)!.held -= credits;
    for (const { grantId, credits } of returned) this.grants.get(grantId)!.remaining += credits;
    this.same('expired', byGrant(nonZero(event.data.expired ?? [])), byGrant(this.closeDue(hold.drawn, nowMs)));
  }

  /** The grants a hold's end leaves past their expiry with nothing held: closed with all they have left. */
  private closeDue(drawn: Draw[], nowMs: number): Draw[] {
    const closed: Draw[] = [];
    for (const grantId of new Set(drawn.map((draw) => draw.grantId))) {
      const grant = this.grants.get(grantId)!;
      if (grant.closed || grant.held > 0 || nowMs < grant.expiresAtMs) continue;
      grant.closed = true;
      if (grant.remaining > 0) closed.push({ grantId, credits: grant.remaining });
    }
    return closed;
  }

  private expire(event: StoredEvent, nowMs: number): void {
    const grant = this.grants.get(event.data.grantId);
    if (grant === undefined || grant.closed) {
      this.violations.push(`grant ${event.data.grantId} ${grant ? 'closed already' : 'never granted'}`);
      return;
    }
    if (nowMs < grant.expiresAtMs) this.violations.push('expired before its expiresAt');
    if (grant.held > 0) this.violations.push(`expired while holds reserve ${grant.held} of it`);
    this.same('credits', event.data.credits, grant.remaining);
    grant.closed = true;
  }

  private addGrant(grantId: string, credits: number, priority: number, expiresAtMs: number): void {
    this.grants.set(grantId, {
      grantId,
      remaining: credits,
      held: 0,
      priority,
      expiresAtMs,
      sequence: ++this.sequence,
      closed: false,
    });
  }

  /** Credits that may be spent at `nowMs`: unheld credits of open grants not past their expiry. */
  spendableAt(nowMs: number): number {
    return this.spendOrder(nowMs).reduce((sum, grant) => sum + grant.remaining, 0);
  }

  private plan(amount: number, nowMs: number): Draw[] | undefined {
    const draws: Draw[] = [];
    let left = amount;
    for (const grant of this.spendOrder(nowMs)) {
      if (left === 0) break;
      const credits = Math.min(left, grant.remaining);
      if (credits > 0) draws.push({ grantId: grant.grantId, credits });
      left -= credits;
    }
    return left === 0 ? draws : undefined;
  }

  private spendOrder(nowMs: number): ModelGrant[] {
    return [...this.grants.values()]
      .filter((grant) => !grant.closed && nowMs < grant.expiresAtMs)
      .sort((a, b) => a.priority - b.priority || a.expiresAtMs - b.expiresAtMs || a.sequence - b.sequence);
  }

  /** Grants past their expiry at `nowMs` the expiry process has still to close (none held). */
  dueAt(nowMs: number): string[] {
    return [...this.grants.values()]
      .filter((grant) => !grant.closed && isDue(grant.expiresAtMs, nowMs) && grant.remaining + grant.held > 0)
      .map((grant) => grant.grantId);
  }

  activeHoldsDueAt(nowMs: number): string[] {
    return [...this.holds.values()]
      .filter((hold) => hold.ended === undefined && isDue(hold.expiresAtMs, nowMs))
      .map((hold) => hold.holdId);
  }

  private same(what: string, actual: unknown, expected: unknown): void {
    // Keys in a fixed order: `{ credits, grantId }` and `{ grantId, credits }` are the same draw.
    if (stringify(actual) !== stringify(expected)) {
      this.violations.push(`${what} recorded ${JSON.stringify(actual)}, the model says ${JSON.stringify(expected)}`);
    }
  }
}

/** Past its expiry at `nowMs` (`Infinity`: it will be some day); never for what never expires. */
function isDue(expiresAtMs: number, nowMs: number): boolean {
  return expiresAtMs !== Infinity && expiresAtMs <= nowMs;
}

function sumOf(draws: readonly Draw[]): number {
  return draws.reduce((sum, draw) => sum + draw.credits, 0);
}

function nonZero(draws: readonly Draw[]): Draw[] {
  return draws.filter((draw) => draw.credits > 0);
}

/** Credits per grant, in grant id order: two splits of the same credits compare equal. */
function byGrant(draws: readonly Draw[]): Array<[string, number]> {
  const totals = new Map<string, number>();
  for (const { grantId, credits } of draws) totals.set(grantId, (totals.get(grantId) ?? 0) + credits);
  return [...totals.entries()].filter(([, credits]) => credits !== 0).sort(([a], [b]) => a.localeCompare(b));
}
