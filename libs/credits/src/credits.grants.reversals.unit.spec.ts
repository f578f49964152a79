import fc from 'fast-check';
import type { CreditsCommand } from './credits.commands';
import { type Decision, decide } from './credits.decide';
import type { BonusGranted, RecordedCreditsEvent } from './credits.events';
import { grantsBalance } from './credits.grants';
import { type CreditsState, evolve, initialState, spendableCredits } from './credits.state';
import { plainState, recordAfter } from './testing/credits.given-when-then';
import {
  DAY,
  T0,
  bonus,
  closeDisputeOf,
  consume,
  expire,
  failureOf,
  grantIdOf,
  openDisputeOf,
  plus,
  recharge,
  refundOf,
  voidGrant,
} from './testing/grant-commands';

/**
 * Grants under refunds, refund failures and disputes, interleaved with expiring bonuses, consumptions and voids.
 * Written as an adversarial review of the grants change: each `describe` named "finding" was a defect (a crash
 * or credits lost, invented or stranded), fixed since, and stays to keep it fixed; the rest pin behaviour.
 *
 * Reversal commands are built for the grant specs' user (GRANTS_USER_ID); `recharge(id, credits)` pays
 * `credits * 10` cents, so refunding `credits * 10` takes every credit back.
 */

// ---------------------------------------------------------------------------------------------------------------
// Harness: one stream, decided and folded as the command handler does. Every state ever produced is kept with a
// plain snapshot taken when it was made, so that a later mutation of a shared tree or array is caught.
// ---------------------------------------------------------------------------------------------------------------

class Stream {
  state: CreditsState = initialState();
  readonly events: RecordedCreditsEvent[] = [];
  readonly history: Array<{ state: CreditsState; plain: object }> = [
    { state: this.state, plain: plainState(this.state) },
  ];

  run(command: CreditsCommand): Decision {
    const decision = decide(command, this.state);
    if (decision.kind === 'recorded') {
      const recorded = recordAfter(this.state, decision.events, BigInt(1000 + this.events.length));
      this.state = recorded.reduce(evolve, this.state);
      this.events.push(...recorded);
      this.history.push({ state: this.state, plain: plainState(this.state) });
    }
    return decision;
  }

  /** Runs and insists it is recorded. */
  record(command: CreditsCommand): void {
    const decision = this.run(command);
    if (decision.kind !== 'recorded') {
      throw new Error(`${command.type} ${command.metadata.idempotencyKey} not recorded: ${JSON.stringify(decision)}`);
    }
  }
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Credits held by grants that are expired or voided: nobody can spend them, nothing will ever remove them. */
function strandedCredits(state: CreditsState): number {
  let stranded = 0;
  for (const grant of state.grants.byId.values()) if (grant.status !== 'active') stranded += grant.remaining;
  return stranded;
}

// ---------------------------------------------------------------------------------------------------------------
// Finding 1 (CRASH): a huge `expiresIn` is accepted and records `expiresAt: null`; the fold then throws.
// ---------------------------------------------------------------------------------------------------------------

describe('finding 1: a huge expiresIn is recorded with expiresAt null and bricks the stream', () => {
  // `Duration.fromISO('P300000Y')` is valid, but `DateTime.plus` of it is an *invalid* DateTime (NaN). In
  // `expiryOf` both guards compare with NaN (`expires <= decidedAt`, `expires > now + 100y`) and are false, so
  // the terms are accepted and `expires.toUTC().toISO()!` is `null`. `decide` records a BonusGranted with
  // `expiresAt: null`; `addGrant` then throws "expires at an invalid time" on every fold of the stream.
  // The DTO only limits the string to 64 characters, so any admin/API caller can do this.
  // Expected: refused as invalid-grant-terms (expiresIn, "must be within 100 years").
  it.each(['P300000Y', 'P100000000D', 'PT99999999999999999999S', 'P999999999Y'])(
    'FAILS: GrantBonus with expiresIn %s is refused, not recorded',
    (expiresIn) => {
      const decision = decide(bonus('huge', 10, { expiresIn }), initialState());
      expect(decision).toEqual({
        kind: 'refused',
        error: { type: 'invalid-grant-terms', field: 'expiresIn', reason: 'must be within 100 years' },
      });
    },
  );

  it('whatever decide records for expiresIn P300000Y, folding it does not throw', () => {
    const stream = new Stream();
    expect(() => stream.run(bonus('huge', 10, { expiresIn: 'P300000Y' }))).not.toThrow();
  });

  // PINS: hostile but handled durations/dates.
  it.each([
    ['P-1D', 'expiresIn'],
    ['PT0.0001S', 'expiresIn'], // luxon floors the fraction to 0 ms: expires == now
    ['PT-0.5S', 'expiresIn'],
    ['P0D', 'expiresIn'],
    ['P101Y', 'expiresIn'],
  ] as const)('PINS: expiresIn %s is refused', (expiresIn, field) => {
    const decision = decide(bonus('hostile', 10, { expiresIn }), initialState());
    expect(decision).toMatchObject({ kind: 'refused', error: { type: 'invalid-grant-terms', field } });
  });

  it.each([
    '2026-02-29T00:00:00Z', // no such day
    '2026-06-01T00:00:00', // no offset
    '2026-06-01', // no time
    '+275760-09-13T00:00:00.000Z', // beyond 100 years
    '2025-12-31T23:59:59.999Z', // past
    '2026-01-01T00:00:00.0009Z', // == now once luxon drops sub-millisecond digits
  ])('PINS: expiresAt %s is refused', (expiresAt) => {
    const decision = decide(bonus('hostile', 10, { expiresAt }), initialState());
    expect(decision).toMatchObject({ kind: 'refused', error: { type: 'invalid-grant-terms', field: 'expiresAt' } });
  });

  it('lenient-but-valid ISO forms are normalised to UTC milliseconds, and P1Y from a leap day is 28 Feb', () => {
    const at = (terms: Parameters<typeof bonus>[2], now = T0) => {
      const decision = decide(bonus('b', 10, terms, now), initialState());
      return decision.kind === 'recorded' ? (decision.events[0] as BonusGranted).data.expiresAt : decision;
    };
    expect(at({ expiresAt: '2026-01-02T00:00:00.000+0100' })).toBe('2026-01-01T23:00:00.000Z');
    expect(at({ expiresAt: '2026-W02-1T00:00Z' })).toBe('2026-01-05T00:00:00.000Z');
    expect(at({ expiresAt: '2026-01-01T24:00:00Z' })).toBe('2026-01-02T00:00:00.000Z');
    expect(at({ expiresIn: 'P1DT-86399.5S' })).toBe('2026-01-01T00:00:00.500Z');
    expect(at({ expiresIn: 'P1Y' }, '2028-02-29T12:00:00.000Z')).toBe('2029-02-28T12:00:00.000Z');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Finding 2 (MONEY): a refund under `debt` takes back credits of a grant that has lapsed but whose expiry is not
// yet recorded, instead of leaving the debt: the outcome depends on whether the expiry process ran first.
// ---------------------------------------------------------------------------------------------------------------

describe('finding 2: a refund takes lapsed (expired, unrecorded) credits instead of leaving a debt', () => {
  // A bonus B of 100 spent after paid credits (priority 300), expiring after 1 day; a recharge R of 100
  // (1,000 cents). At T0 the user spends 60 — from R (priority 200 goes first). On day 2 R is refunded in full
  // under `debt`. B lapsed on day 1.
  //   Expiry recorded first (day 1.5): B expires 100, the refund takes R's 40 and leaves a debt of 60.
  //   Expiry recorded late (day 2.5): `takeBack` walks `spendOrder`, which still holds lapsed B, takes R's 40
  //   and then 60 of B's *lapsed* credits: no debt. The user has consumed 60 refunded credits for free.
  // Expected: the same end state whatever the expiry process's timing (debt 60, balance -60): a refund, like
  // `planDraw`, must not count credits past their expiry.
  function history(expiryFirst: boolean): CreditsState {
    const stream = new Stream();
    const b = bonus('b', 100, { priority: 300, expiresIn: 'P1D' });
    stream.record(b);
    stream.record(recharge('r', 100));
    stream.record(consume('c', 60));
    if (expiryFirst) stream.record(expire(grantIdOf(b), plus(T0, 1.5 * DAY)));
    stream.record(refundOf('r', 1000, plus(T0, 2 * DAY), 'debt'));
    if (!expiryFirst) stream.record(expire(grantIdOf(b), plus(T0, 2.5 * DAY)));
    return stream.state;
  }

  it('with the expiry recorded first, the refund leaves a debt of 60', () => {
    const state = history(true);
    expect(state.grants.debt).toBe(60);
    expect(state.balance).toBe(-60);
  });

  it('with the expiry recorded after the refund, the end state is the same (debt 60, balance -60)', () => {
    const state = history(false);
    expect(state.grants.debt).toBe(60);
    expect(state.balance).toBe(-60);
  });
});

describe('finding 2b: under writeoff, a refund that took lapsed credits and then fails gives back credits never spent', () => {
  // Same grants as finding 2 (B 100 lapsing on day 1, spent after R 100; 60 of R spent at T0). R is refunded in
  // full under `writeoff` on day 2, and the refund then FAILS.
  //   Expiry recorded first: balance 40, the refund debits 40 and writes off 60; the failure restores the 60
  //   write-off (never credited) and credits 40: the user has R's 40 back, as before the refund. Correct.
  //   Expiry recorded late: balance 140 (lapsed B counted), the refund "debits" 100 — R's 40 and 60 of lapsed
  //   B — and writes off nothing; the failure then credits all 100 to R: the user ends with 100 spendable
  //   instead of 40. 60 credits invented, and which one happens depends on the expiry process's timing.
  // Expected: 40 spendable either way.
  function history(expiryFirst: boolean): Stream {
    const stream = new Stream();
    const b = bonus('b', 100, { priority: 300, expiresIn: 'P1D' });
    stream.record(b);
    stream.record(recharge('r', 100));
    stream.record(consume('c', 60));
    if (expiryFirst) stream.record(expire(grantIdOf(b), plus(T0, 1.5 * DAY)));
    const refundedAt = seconds(plus(T0, 2 * DAY));
    stream.record(refundOf('r', 1000, plus(T0, 2 * DAY), 'writeoff', refundedAt));
    if (!expiryFirst) stream.record(expire(grantIdOf(b), plus(T0, 2.5 * DAY)));
    stream.record(
      failureOf('r', 're_1', 1000, { createdAt: refundedAt, failedAt: refundedAt + 3600 }, plus(T0, 2.75 * DAY)),
    );
    return stream;
  }

  it('expiry recorded first: after the failed refund the user has the 40 credits of R back', () => {
    const stream = history(true);
    expect(spendableCredits(stream.state, plus(T0, 3 * DAY))).toBe(40);
    expect(stream.state.balance).toBe(40);
  });

  it('expiry recorded after the refund: the user still has 40, not 100', () => {
    const stream = history(false);
    expect(spendableCredits(stream.state, plus(T0, 3 * DAY))).toBe(40);
    expect(stream.state.balance).toBe(40);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Finding 3 (MONEY): a dispute's freeze lands on lapsed credits, so the dispute holds nothing real.
// ---------------------------------------------------------------------------------------------------------------

describe('finding 3: a dispute freezes lapsed credits and leaves live ones spendable', () => {
  // B1 100 (priority 300, expires day 1), B2 100 (priority 300, never expires), R 100. At T0 the user spends
  // 60 from R. On day 2 (B1 lapsed, expiry not recorded) R is disputed: `openDispute` freezes
  // min(100, spendable 140) = 100, computed WITHOUT lapsed credits, but `freeze` walks spend order WITH them:
  // R 40, then B1 (expiry day 1 sorts before B2's never) 60. The dispute holds 60 worthless credits; spendable
  // stays 100 (R 0 + B2 100) instead of 40. If the dispute is then lost, the take-back again finds B1's lapsed
  // credits, so the user keeps the 160 credits spent (60 of R before, 100 of B2 during the dispute): 60
  // invented.
  // Expected: while the dispute is open, only 40 may be spent (the freeze skips lapsed grants, as planDraw does).
  function disputed(): { stream: Stream; b1: string } {
    const stream = new Stream();
    const b1 = bonus('b1', 100, { priority: 300, expiresIn: 'P1D' });
    stream.record(b1);
    stream.record(bonus('b2', 100, { priority: 300 }));
    stream.record(recharge('r', 100));
    stream.record(consume('c', 60));
    stream.record(openDisputeOf('r', 'dp_1', plus(T0, 2 * DAY)));
    return { stream, b1: grantIdOf(b1) };
  }

  it("freezes only what is left of the recharge's own grant, never a lapsed one", () => {
    const { stream } = disputed();
    expect(stream.state.frozenCredits).toBe(40);
    // B2's 100 stay spendable; B1 lapsed is worth nothing.
    expect(spendableCredits(stream.state, plus(T0, 2 * DAY))).toBe(100);
  });

  it('spend during the dispute, lose it under debt: the user owes the 60 spent of the charged-back recharge', () => {
    const { stream, b1 } = disputed();
    // The user spends what the ledger lets them: B2's 100.
    const spendable = spendableCredits(stream.state, plus(T0, 2 * DAY));
    stream.record(consume('c2', spendable, plus(T0, 2 * DAY)));
    stream.record(closeDisputeOf('r', 'dp_1', 'lost', 1000, 'debt', plus(T0, 3 * DAY)));
    stream.record(expire(b1, plus(T0, 3 * DAY)));
    // Credits legitimately usable: B2's 100 (B1 expired unused, R charged back). Everything spent beyond that
    // must be owed.
    const spent = 60 + spendable;
    expect(stream.state.balance).toBe(100 - spent);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Finding 4 (MONEY): credits frozen on a grant when it expires (or is voided) are stranded in the balance.
// ---------------------------------------------------------------------------------------------------------------

describe('finding 4: frozen credits of an expired or voided grant are stranded', () => {
  // B 100 (priority 300, expires day 1), R 100. At T0 the user spends 60 from R, then R is disputed: the freeze
  // takes R's 40 and 60 of B (the recharge's own credits were spent). On day 1 ExpireGrant takes only B's
  // unfrozen 40 and closes B; its 60 frozen credits stay in `remaining` of a closed grant. When the dispute
  // closes, `unfreeze`/`takeBack` never reach them again: ExpireGrant refuses a closed grant, `spendOrder` no
  // longer lists it.
  //   Won: balance 100 forever, spendable 40: 60 credits shown that nobody can spend or expire.
  //   Lost under `writeoff`: creditsDebited = min(100, balance 100) = 100; the fold finds only R's 40 and turns
  //   the other 60 into DEBT — under a policy that never makes debt — which the next recharge pays first.
  // Expected: when the dispute closes, released credits of a grant past its expiry lapse (or the expiry
  // records them later); no closed grant keeps credits; writeoff never makes debt.
  function disputedThenExpired(close: 'expire' | 'void'): { stream: Stream; b: string } {
    const stream = new Stream();
    const b = bonus('b', 100, { priority: 300, expiresIn: 'P1D' });
    stream.record(b);
    stream.record(recharge('r', 100));
    stream.record(consume('c', 60));
    stream.record(openDisputeOf('r', 'dp_1', T0));
    // The dispute freezes the recharge's own grant only: the bonus is never frozen, so nothing can strand.
    expect(stream.state.grants.byId.get(grantIdOf(b))?.frozen).toBe(0);
    expect(stream.state.grants.byId.get(grantIdOf(recharge('r', 100)))?.frozen).toBe(40);
    stream.record(close === 'expire' ? expire(grantIdOf(b), plus(T0, DAY)) : voidGrant(grantIdOf(b), T0));
    return { stream, b: grantIdOf(b) };
  }

  it('dispute won after the frozen bonus expired: balance equals what can be spent (no stranded credits)', () => {
    const { stream } = disputedThenExpired('expire');
    stream.record(closeDisputeOf('r', 'dp_1', 'won', 1000, 'debt', plus(T0, 2 * DAY)));
    const spendable = spendableCredits(stream.state, plus(T0, 2 * DAY));
    expect(spendable).toBe(40);
    expect({ balance: stream.state.balance, stranded: strandedCredits(stream.state) }).toEqual({
      balance: 40,
      stranded: 0,
    });
  });

  it('dispute won after the frozen bonus was voided: the void removes all of it once released', () => {
    const { stream } = disputedThenExpired('void');
    stream.record(closeDisputeOf('r', 'dp_1', 'won', 1000, 'debt', plus(T0, 2 * DAY)));
    expect({ balance: stream.state.balance, stranded: strandedCredits(stream.state) }).toEqual({
      balance: 40,
      stranded: 0,
    });
  });

  it('dispute lost under writeoff after the frozen bonus expired: no debt, and a new recharge is all spendable', () => {
    const { stream } = disputedThenExpired('expire');
    stream.record(closeDisputeOf('r', 'dp_1', 'lost', 1000, 'writeoff', plus(T0, 2 * DAY)));
    expect(stream.state.grants.debt).toBe(0);
    stream.record(recharge('r2', 100, plus(T0, 3 * DAY)));
    expect(spendableCredits(stream.state, plus(T0, 3 * DAY))).toBe(100);
  });
});

describe('finding 4 via a refund: a refund under writeoff makes debt when the dispute froze an expired grant', () => {
  // Found by fast-check (the writeoff property below), made deterministic. R 2 (20 cents), both spent; bonus B 1
  // expiring in 1h; R disputed: R has nothing left, so the freeze takes B's 1. B expires with its credit frozen
  // (ExpireGrant takes 0). Bonus C 1. R refunded in full under `writeoff`: creditsDebited = min(2, balance 2)
  // = 2 — the balance counts B's stranded credit — but the fold reaches only C's 1, and the other 1 becomes
  // DEBT, which the user's next credits pay. Expected: writeoff never makes debt (it would debit 1, write off 1).
  it('no debt under writeoff', () => {
    const stream = new Stream();
    stream.record(recharge('r', 2));
    stream.record(consume('c', 2));
    const b = bonus('b', 1, { expiresIn: 'PT1H' });
    stream.record(b);
    stream.record(openDisputeOf('r', 'dp_1', T0));
    stream.record(expire(grantIdOf(b), plus(T0, 3_600_000)));
    stream.record(bonus('bonus-c', 1, {}, plus(T0, 3_600_000)));
    stream.record(refundOf('r', 20, plus(T0, 3_600_000), 'writeoff'));
    expect(stream.state.grants.debt).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties: random histories with refunds, failures, disputes, expiring bonuses, consumptions and voids.
// ---------------------------------------------------------------------------------------------------------------

const HOUR = 3_600_000;

type Step =
  | { kind: 'bonus'; amount: number; priority: number; expiresInHours?: number }
  | { kind: 'recharge'; credits: number }
  | { kind: 'consume'; amount: number }
  | { kind: 'expire' | 'void'; pick: number }
  | { kind: 'refund'; pick: number; share: number; debt: boolean }
  | { kind: 'failure'; pick: number }
  | { kind: 'open'; pick: number }
  | { kind: 'close'; pick: number; won: boolean; share: number; debt: boolean };

const stepArbitrary = (allowDebt: boolean): fc.Arbitrary<{ step: Step; hoursLater: number }> =>
  fc.record({
    hoursLater: fc.integer({ min: 0, max: 30 }),
    step: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record(
          {
            kind: fc.constant('bonus' as const),
            amount: fc.integer({ min: 1, max: 50 }),
            priority: fc.integer({ min: 0, max: 300 }),
            expiresInHours: fc.integer({ min: 1, max: 72 }),
          },
          { requiredKeys: ['kind', 'amount', 'priority'] },
        ),
      },
      {
        weight: 3,
        arbitrary: fc.record({ kind: fc.constant('recharge' as const), credits: fc.integer({ min: 1, max: 80 }) }),
      },
      {
        weight: 4,
        arbitrary: fc.record({ kind: fc.constant('consume' as const), amount: fc.integer({ min: 1, max: 40 }) }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constantFrom('expire' as const, 'void' as const), pick: fc.nat() }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('refund' as const),
          pick: fc.nat(),
          share: fc.integer({ min: 1, max: 100 }),
          debt: allowDebt ? fc.boolean() : fc.constant(false),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('failure' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const), pick: fc.nat() }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('close' as const),
          pick: fc.nat(),
          won: fc.boolean(),
          share: fc.integer({ min: 1, max: 100 }),
          debt: allowDebt ? fc.boolean() : fc.constant(false),
        }),
      },
    ),
  });

type RechargeTrack = {
  id: string;
  paid: number;
  /** Cumulative refunded on ch_1, as the next report says. */
  refunded: number;
  refunds: Array<{ refundId: string; amount: number; createdAt: number }>;
  dispute: string | undefined;
  disputes: number;
};

type Run = {
  stream: Stream;
  nowMs: number;
  /** Consumptions and when they were decided. */
  grantIds: string[];
  recharges: RechargeTrack[];
};

function runSteps(steps: ReadonlyArray<{ step: Step; hoursLater: number }>): Run {
  const stream = new Stream();
  let nowMs = Date.parse(T0);
  const grantIds: string[] = [];
  const recharges: RechargeTrack[] = [];
  steps.forEach(({ step, hoursLater }, index) => {
    nowMs += hoursLater * HOUR;
    const now = new Date(nowMs).toISOString();
    const command = commandOf(step, index, now, grantIds, recharges);
    if (command === undefined) return;
    const decision = stream.run(command);
    if (decision.kind !== 'recorded') return;
    if (command.type === 'GrantBonus' || command.type === 'CompleteRecharge') grantIds.push(grantIdOf(command));
    if (command.type === 'OpenDispute') {
      const track = recharges.find((r) => r.id === command.data.rechargeId)!;
      track.dispute = command.data.disputeId;
    }
    if (command.type === 'CloseDispute') {
      const track = recharges.find((r) => r.id === command.data.rechargeId)!;
      if (track.dispute === command.data.disputeId) track.dispute = undefined;
    }
  });
  return { stream, nowMs, grantIds, recharges };
}

function commandOf(
  step: Step,
  index: number,
  now: string,
  grantIds: string[],
  recharges: RechargeTrack[],
): CreditsCommand | undefined {
  const pickedGrant = (pick: number) => grantIds[pick % Math.max(1, grantIds.length)] ?? 'none';
  const pickedRecharge = (pick: number) => recharges[pick % Math.max(1, recharges.length)];
  const at = seconds(now) + index;
  switch (step.kind) {
    case 'bonus':
      return bonus(
        `bonus-${index}`,
        step.amount,
        {
          priority: step.priority,
          ...(step.expiresInHours === undefined ? {} : { expiresIn: `PT${step.expiresInHours}H` }),
        },
        now,
      );
    case 'recharge':
      recharges.push({
        id: `pack-${index}`,
        paid: step.credits * 10,
        refunded: 0,
        refunds: [],
        dispute: undefined,
        disputes: 0,
      });
      return recharge(`pack-${index}`, step.credits, now);
    case 'consume':
      return consume(`job-${index}`, step.amount, now);
    case 'expire':
      return expire(pickedGrant(step.pick), now);
    case 'void':
      return voidGrant(pickedGrant(step.pick), now);
    case 'refund': {
      const target = pickedRecharge(step.pick);
      if (target === undefined || target.refunded >= target.paid) return undefined;
      const amount = Math.min(target.paid - target.refunded, Math.max(1, Math.ceil((target.paid * step.share) / 100)));
      target.refunded += amount;
      target.refunds.push({ refundId: `re_${index}`, amount, createdAt: at });
      return refundOf(target.id, target.refunded, now, step.debt ? 'debt' : 'writeoff', at);
    }
    case 'failure': {
      const target = pickedRecharge(step.pick);
      const refund = target?.refunds.shift();
      if (target === undefined || refund === undefined) return undefined;
      target.refunded -= refund.amount;
      return failureOf(target.id, refund.refundId, refund.amount, { createdAt: refund.createdAt, failedAt: at }, now);
    }
    case 'open': {
      const target = pickedRecharge(step.pick);
      if (target === undefined) return undefined;
      target.disputes += 1;
      return openDisputeOf(target.id, `dp_${target.id}_${target.disputes}`, now);
    }
    case 'close': {
      const disputed = recharges.filter((r) => r.dispute !== undefined);
      const target = disputed[step.pick % Math.max(1, disputed.length)];
      if (target?.dispute === undefined) return undefined;
      const amountDisputed = Math.max(1, Math.ceil((target.paid * step.share) / 100));
      return closeDisputeOf(
        target.id,
        target.dispute,
        step.won ? 'won' : 'lost',
        amountDisputed,
        step.debt ? 'debt' : 'writeoff',
        now,
      );
    }
  }
}

/** Closes every open dispute (won), then expires every grant due, far in the future. */
function settle(run: Run): { state: CreditsState; now: string } {
  const now = new Date(run.nowMs + 1000 * DAY).toISOString();
  run.recharges.forEach((track) => {
    if (track.dispute !== undefined) {
      run.stream.record(closeDisputeOf(track.id, track.dispute, 'won', track.paid, 'debt', now));
      track.dispute = undefined;
    }
  });
  for (const grantId of run.grantIds) {
    const grant = run.stream.state.grants.byId.get(grantId);
    if (grant?.status === 'active' && grant.expiresAt !== undefined) run.stream.record(expire(grantId, now));
  }
  return { state: run.stream.state, now };
}

const RUNS = { numRuns: 300 };
const histories = (allowDebt = true) => fc.array(stepArbitrary(allowDebt), { minLength: 10, maxLength: 60 });

describe('properties with refunds, failures and disputes interleaved with expiring grants', () => {
  // PINS (expected to pass): every recorded event folds; grants and balance agree; spendable never negative
  // nor above balance less frozen; no consumption draws from a grant at or after its expiry; no state is ever
  // changed after it was made (persistent trees and shared arrays untouched).
  it('decide-then-fold never throws and keeps the ledger invariants; states are never mutated', () => {
    fc.assert(
      fc.property(histories(), (steps) => {
        const run = runSteps(steps);
        const { stream } = run;
        for (const { state, plain } of stream.history) {
          expect(grantsBalance(state.grants)).toBe(state.balance);
          expect(plainState(state)).toEqual(plain);
        }
        const expiries = new Map<string, number>();
        for (const event of stream.events) {
          if (event.type === 'BonusGranted' && event.data.expiresAt !== undefined) {
            expiries.set(event.id, Date.parse(event.data.expiresAt));
          }
          if (event.type === 'CreditsConsumed') {
            for (const draw of event.data.drawnFrom ?? []) {
              expect(Date.parse(event.metadata.occurredAt)).toBeLessThan(expiries.get(draw.grantId) ?? Infinity);
            }
          }
        }
        const now = new Date(run.nowMs).toISOString();
        const spendable = spendableCredits(stream.state, now);
        expect(spendable).toBeGreaterThanOrEqual(0);
        expect(spendable).toBeLessThanOrEqual(Math.max(0, stream.state.balance - stream.state.frozenCredits));
        // Spending all that is spendable is always recorded (planDraw covers spendableCredits, never throws).
        if (spendable > 0) expect(decide(consume('all', spendable, now), stream.state).kind).toBe('recorded');
        // Refold from scratch gives the same state.
        expect(plainState(stream.events.reduce(evolve, initialState()))).toEqual(plainState(stream.state));
      }),
      RUNS,
    );
  });

  // FAILS (findings 3 and 4 generalised): once every dispute is closed and every grant due is expired, nothing
  // is frozen, no closed grant holds credits, and (without debt) the balance is exactly what can be spent.
  it('settled (disputes closed, due grants expired), balance less debt is spendable and nothing is stranded', () => {
    fc.assert(
      fc.property(histories(), (steps) => {
        const { state, now } = settle(runSteps(steps));
        expect(state.frozenCredits).toBe(0);
        expect(strandedCredits(state)).toBe(0);
        if (state.grants.debt === 0) expect(spendableCredits(state, now)).toBe(state.balance);
      }),
      RUNS,
    );
  });

  // FAILS (finding 4 generalised): the `writeoff` policy never creates debt ("below zero only after a refund
  // under the debt policy"); histories here use writeoff only. fast-check finds it through a plain REFUND too:
  // recharge 2, spend 2, bonus 1 expiring in 1h, dispute opens (freezes the bonus: R has nothing left), the
  // bonus expires with its 1 credit frozen, bonus C 1, full refund under writeoff: debited = min(2, balance 2)
  // but only C's 1 is reachable, so 1 becomes debt.
  // Counterexample seen: recharge 2; consume 2; bonus 1 PT1H; open; +1h expire; bonus 1; refund 100% writeoff.
  it('under writeoff only, the ledger never owes a debt', () => {
    fc.assert(
      fc.property(histories(false), (steps) => {
        const { stream } = runSteps(steps);
        for (const { state } of stream.history) expect(state.grants.debt).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// decideInOrder and the grant cap.
// ---------------------------------------------------------------------------------------------------------------

describe('the cap on active grants and expiring twice', () => {
  // PINS: ACTIVE_GRANTS_MAX counts active grants with credits left (spendOrder.size): a recharge is never
  // refused for it; a grant spent to zero stops counting. Doubt (not a bug per the comment "grants holding
  // credits"): grants past their expiry whose CreditsExpired is not recorded yet still count, so a stalled
  // expiry process blocks new bonuses.
  it('the 10,001st bonus is refused, a recharge is not, and spending a grant to zero frees a place', () => {
    let state = initialState();
    const fold = (command: CreditsCommand) => {
      const decision = decide(command, state);
      if (decision.kind !== 'recorded') return decision;
      state = recordAfter(state, decision.events, BigInt(1000 + state.version)).reduce(evolve, state);
      return decision;
    };
    for (let index = 0; index < 10_000; index++) fold(bonus(`cap-${index}`, 1, { expiresIn: 'PT1H' }));
    expect(state.grants.spendOrder.size).toBe(10_000);
    expect(fold(bonus('one-too-many', 1))).toEqual({
      kind: 'refused',
      error: { type: 'grant-limit-exceeded', activeGrants: 10_000, activeGrantsMax: 10_000 },
    });
    expect(fold(recharge('paid', 5)).kind).toBe('recorded');
    expect(fold(consume('spend-two', 2)).kind).toBe('recorded');
    expect(state.grants.spendOrder.size).toBe(9_999);
    expect(fold(bonus('fits', 1)).kind).toBe('recorded');
    // Doubt: two hours later every capped bonus has lapsed, yet with none recorded a bonus is still refused.
    expect(fold(bonus('after-lapse', 1, {}, plus(T0, 2 * 3_600_000))).kind).toBe('refused');
  });

  // PINS: the expiry's key is the grant's: a second ExpireGrant (another process, another time) replays.
  it('expiring a grant twice replays the first expiry; voiding it after is refused', () => {
    const stream = new Stream();
    const b = bonus('b', 10, { expiresIn: 'P1D' });
    stream.record(b);
    stream.record(expire(grantIdOf(b), plus(T0, DAY)));
    expect(stream.run(expire(grantIdOf(b), plus(T0, 5 * DAY))).kind).toBe('replayed');
    expect(stream.run(voidGrant(grantIdOf(b), plus(T0, 5 * DAY)))).toMatchObject({
      kind: 'refused',
      error: { type: 'grant-not-closable', reason: 'expired' },
    });
    expect(stream.events.filter((event) => event.type === 'CreditsExpired')).toHaveLength(1);
  });
});
