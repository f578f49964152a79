import fc from 'fast-check';
import type { CompleteRecharge, CreditsCommand } from './credits.commands';
import { decide } from './credits.decide';
import type { CreditsEvent, RecordedCreditsEvent } from './credits.events';
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
 * Review of a plan period's carry-over (`CreditsRolledOver`) and of the debt a give-back returns
 * (`debtForgiven`, `debtPaymentsUndone`), against the money rules (README, "Grants"). The period `P` buys 100
 * credits for 1,000 cents, expires at `E` and carries over into a grant expiring at `NEXT`.
 */
const HOUR = 3_600_000;
const E = plus(T0, 30 * DAY);
const NEXT = plus(E, 31 * DAY);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function withRollover(command: CompleteRecharge, expiresAt: string, creditsMax?: number): CompleteRecharge {
  const rollover = { ...(creditsMax === undefined ? {} : { creditsMax }), expiresAt };
  return { ...command, data: { ...command.data, rollover } };
}

const period = (creditsMax?: number, credits = 100) =>
  withRollover(recharge('period-1', credits, T0, E), NEXT, creditsMax);
const P = grantIdOf(recharge('period-1', 100));

/** Decides and folds each command (every one must be recorded); returns the state and the events of the last. */
function after(...commands: CreditsCommand[]): { state: CreditsState; last: CreditsEvent[] } {
  let state = initialState();
  let last: CreditsEvent[] = [];
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') {
      throw new Error(`${command.type} ${command.metadata.idempotencyKey}: ${JSON.stringify(decision)}`);
    }
    last = decision.events;
    state = recordAfter(state, decision.events, 1000n + BigInt(state.version)).reduce(evolve, state);
    expect(grantsBalance(state.grants)).toBe(state.balance);
  }
  return { state, last };
}

describe('given a plan period with a carry-over', () => {
  it('when the carry-over is capped, then it carries at most creditsMax and the rest lapses', () => {
    const { state, last } = after(period(40), consume('job-1', 10, plus(T0, DAY)), expire(P, E));
    expect(last[0]).toMatchObject({
      type: 'CreditsRolledOver',
      data: { grantId: P, creditsExpired: 50, creditsRolledOver: 40, rolledOverExpiresAt: NEXT, debtPaidCredits: 0 },
    });
    expect(state.balance).toBe(40);
    expect(state.grants.byId.get(P)).toMatchObject({ status: 'expired', expired: 50, rolledOver: 40, remaining: 0 });
  });

  it('when the carried grant expires, then it lapses (CreditsExpired) and never carries again', () => {
    const rolled = after(period(), expire(P, E));
    const carriedId = rolled.last[0].id;
    const { state, last } = after(period(), expire(P, E), expire(carriedId, NEXT));
    expect(last[0]).toMatchObject({ type: 'CreditsExpired', data: { grantId: carriedId, credits: 100 } });
    expect(state.grants.byId.get(carriedId)).toMatchObject({ status: 'expired', rolledOver: 0, rollover: undefined });
    expect(state.balance).toBe(0);
  });

  it('when a refund of another recharge takes from the period before its end, then only what is left carries over', () => {
    const other = recharge('pack-O', 50, T0);
    const { state, last } = after(
      period(),
      other,
      consume('job-1', 50, plus(T0, HOUR)),
      // The pack's 50 credits were spent: refunding it in full leaves 50 of debt, as the period held 50 still.
      refundOf('pack-O', 500, plus(T0, DAY), 'debt'),
      expire(P, E),
    );
    expect(last[0]).toMatchObject({ type: 'CreditsRolledOver', data: { creditsRolledOver: 50, debtPaidCredits: 0 } });
    expect(state.balance).toBe(50);
  });

  it('when the carry-over pays debt, then a failed refund of that debt gives the payment back to the carried grant', () => {
    // pack-O expires first, so it is spent first; refunded past the period's end (before the process ran), the
    // period's credits cannot be taken: 50 of debt, which the carry-over pays.
    const other = recharge('pack-O', 50, T0, plus(E, -DAY));
    const refundAt = plus(E, HOUR);
    const history = [
      period(),
      other,
      consume('job-1', 50, plus(T0, HOUR)),
      refundOf('pack-O', 500, refundAt, 'debt'),
      expire(P, plus(E, 2 * HOUR)),
    ];
    const rolled = after(...history);
    expect(rolled.last[0]).toMatchObject({
      type: 'CreditsRolledOver',
      data: { creditsExpired: 0, creditsRolledOver: 100, debtPaidCredits: 50 },
    });
    expect(rolled.state.balance).toBe(50);
    const carriedId = rolled.last[0].id;
    const failure = failureOf(
      'pack-O',
      're-1',
      500,
      { createdAt: seconds(refundAt), failedAt: seconds(refundAt) + 7200 },
      plus(E, 3 * HOUR),
    );
    const { state, last } = after(...history, failure);
    expect(last[0]).toMatchObject({
      data: { debtForgiven: 0, debtPaymentsUndone: [{ grantId: carriedId, credits: 50 }], givenTo: [] },
    });
    expect(state.balance).toBe(100);
    expect(state.grants.byId.get(carriedId)).toMatchObject({ debtPaid: 0, remaining: 100 });
    expect(spendableCredits(state, plus(E, 3 * HOUR))).toBe(100);
  });

  it('when a refund of the period comes after the carry-over, twice in part, then lapsed credits count once', () => {
    const first = after(
      period(50),
      consume('job-1', 30, plus(T0, DAY)),
      expire(P, E),
      refundOf('period-1', 500, plus(E, DAY), 'debt'),
    );
    // 50 of the 100 refunded: the carried grant holds 50, 20 lapsed; the refund takes its own (carried) first.
    expect(first.last[0]).toMatchObject({ data: { creditsTakenBack: 50, creditsLapsed: 0, creditsDebited: 50 } });
    const second = after(
      period(50),
      consume('job-1', 30, plus(T0, DAY)),
      expire(P, E),
      refundOf('period-1', 500, plus(E, DAY), 'debt'),
      refundOf('period-1', 1000, plus(E, 2 * DAY), 'debt'),
    );
    expect(second.last[0]).toMatchObject({ data: { creditsTakenBack: 50, creditsLapsed: 20, creditsDebited: 30 } });
    expect(second.state.balance).toBe(-30);
    expect(second.state.grants.debt).toBe(30);
  });

  it('when a refund after the carry-over fails, then its credits return to the carried grant', () => {
    const refundAt = plus(E, DAY);
    const { state, last } = after(
      period(),
      expire(P, E),
      refundOf('period-1', 400, refundAt, 'writeoff'),
      failureOf(
        'period-1',
        're-1',
        400,
        { createdAt: seconds(refundAt), failedAt: seconds(refundAt) + 60 },
        plus(refundAt, HOUR),
      ),
    );
    const carriedId = state.grants.byId.get(P)!.rolledInto!;
    expect(last[0]).toMatchObject({
      data: { givenTo: [{ grantId: carriedId, credits: 40 }], creditsLapsedOnReturn: 0 },
    });
    expect(state.balance).toBe(100);
    expect(state.grants.byId.get(carriedId)).toMatchObject({ remaining: 100, takenBack: 0 });
  });

  it('when the carried grant expired before a refund of it failed, then the credits lapse with it, as without the refund', () => {
    const refundAt = plus(E, DAY);
    const rolled = after(period(), expire(P, E));
    const carriedId = rolled.last[0].id;
    const { state, last } = after(
      period(),
      expire(P, E),
      refundOf('period-1', 400, refundAt, 'writeoff'),
      expire(carriedId, NEXT),
      failureOf(
        'period-1',
        're-1',
        400,
        { createdAt: seconds(refundAt), failedAt: seconds(NEXT) + 60 },
        plus(NEXT, HOUR),
      ),
    );
    expect(last[0]).toMatchObject({ data: { creditsLapsedOnReturn: 40 } });
    expect(state.balance).toBe(0);
    expect(state.grants.byId.get(carriedId)).toMatchObject({ status: 'expired', expired: 100, takenBack: 0 });
  });

  it('when a dispute holds the period at its end, then the expiry is refused; won afterwards, the process carries it over', () => {
    const won = plus(E, DAY);
    const disputed = after(period(60), openDisputeOf('period-1', 'dp-1', plus(T0, DAY)));
    expect(decide(expire(P, E), disputed.state)).toMatchObject({
      kind: 'refused',
      error: { type: 'grant-not-closable', reason: 'frozen' },
    });
    const released = after(
      period(60),
      openDisputeOf('period-1', 'dp-1', plus(T0, DAY)),
      closeDisputeOf('period-1', 'dp-1', 'won', 1000, 'debt', won),
    );
    expect(released.last[0]).toMatchObject({ type: 'CreditsUnfrozen', data: { credits: 100, expired: [] } });
    const { state, last } = after(
      period(60),
      openDisputeOf('period-1', 'dp-1', plus(T0, DAY)),
      closeDisputeOf('period-1', 'dp-1', 'won', 1000, 'debt', won),
      expire(P, plus(won, HOUR)),
    );
    expect(last[0]).toMatchObject({ type: 'CreditsRolledOver', data: { creditsExpired: 40, creditsRolledOver: 60 } });
    expect(state.balance).toBe(60);
  });

  it('when a dispute on the carry-over is won past its expiry, then the carried credits lapse in the same event', () => {
    const rolled = after(period(), expire(P, E));
    const carriedId = rolled.last[0].id;
    const { state, last } = after(
      period(),
      expire(P, E),
      openDisputeOf('period-1', 'dp-1', plus(E, DAY)),
      closeDisputeOf('period-1', 'dp-1', 'won', 1000, 'debt', plus(NEXT, DAY)),
    );
    expect(last[0]).toMatchObject({
      type: 'CreditsUnfrozen',
      data: { credits: 100, expired: [{ grantId: carriedId, credits: 100 }] },
    });
    expect(state.balance).toBe(0);
    expect(decide(expire(carriedId, plus(NEXT, 2 * DAY)), state)).toMatchObject({ kind: 'refused' });
  });

  it('when a dispute on the carry-over is lost, then it takes the carried credits', () => {
    const { state, last } = after(
      period(70),
      expire(P, E),
      openDisputeOf('period-1', 'dp-1', plus(E, DAY)),
      closeDisputeOf('period-1', 'dp-1', 'lost', 1000, 'debt', plus(E, 2 * DAY)),
    );
    expect(last[0]).toMatchObject({ data: { creditsTakenBack: 100, creditsLapsed: 30, creditsDebited: 70 } });
    expect(state.balance).toBe(0);
    expect(state.frozenCredits).toBe(0);
  });

  it('when the expiry process runs after the next period ended, then it carries into a grant already due, which lapses next', () => {
    const late = plus(NEXT, DAY);
    const { state, last } = after(period(), expire(P, late));
    const carriedId = last[0].id;
    expect(last[0]).toMatchObject({ type: 'CreditsRolledOver', data: { creditsRolledOver: 100 } });
    expect(spendableCredits(state, late)).toBe(0);
    const lapsed = after(period(), expire(P, late), expire(carriedId, late));
    expect(lapsed.last[0]).toMatchObject({ type: 'CreditsExpired', data: { credits: 100 } });
    expect(lapsed.state.balance).toBe(0);
  });

  it('when the expiry is decided again (the same key, another process), then the carry-over is replayed', () => {
    const { state } = after(period(30), expire(P, E));
    expect(decide(expire(P, plus(E, HOUR)), state)).toMatchObject({ kind: 'replayed' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Random histories with carry-overs
// ---------------------------------------------------------------------------------------------------------------

type Step =
  | { kind: 'bonus'; amount: number; priority: number; paid: boolean; expiresInHours?: number }
  | {
      kind: 'recharge';
      credits: number;
      expiresInHours?: number;
      rollover?: { creditsMax?: number; afterHours: number };
    }
  | { kind: 'consume'; amount: number }
  | { kind: 'expire' | 'void'; pick: number }
  | { kind: 'process' }
  | { kind: 'refund'; pick: number; share: number; debt: boolean }
  | { kind: 'fail'; pick: number; which: number; lowered: boolean }
  | { kind: 'dispute'; pick: number }
  | { kind: 'close'; pick: number; won: boolean; debt: boolean };

const stepArbitrary: fc.Arbitrary<{ step: Step; hoursLater: number }> = fc.record({
  hoursLater: fc.integer({ min: 0, max: 30 }),
  step: fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record(
        {
          kind: fc.constant('bonus' as const),
          amount: fc.integer({ min: 1, max: 50 }),
          priority: fc.integer({ min: 0, max: 300 }),
          paid: fc.boolean(),
          expiresInHours: fc.integer({ min: 1, max: 120 }),
        },
        { requiredKeys: ['kind', 'amount', 'priority', 'paid'] },
      ),
    },
    {
      weight: 4,
      arbitrary: fc.record(
        {
          kind: fc.constant('recharge' as const),
          credits: fc.integer({ min: 1, max: 80 }),
          expiresInHours: fc.integer({ min: 1, max: 120 }),
          rollover: fc.record(
            { creditsMax: fc.integer({ min: 1, max: 60 }), afterHours: fc.integer({ min: 1, max: 120 }) },
            { requiredKeys: ['afterHours'] },
          ),
        },
        { requiredKeys: ['kind', 'credits'] },
      ),
    },
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('consume' as const), amount: fc.integer({ min: 1, max: 40 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('expire' as const, 'void' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'process' as const }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('refund' as const),
        pick: fc.nat(),
        share: fc.integer({ min: 1, max: 100 }),
        debt: fc.boolean(),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('fail' as const),
        pick: fc.nat(),
        which: fc.nat(),
        lowered: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispute' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('close' as const),
        pick: fc.nat(),
        won: fc.boolean(),
        debt: fc.boolean(),
      }),
    },
  ),
});

type StripeRefund = { refundId: string; amount: number; createdAt: number; failedAt?: number };
type Track = { id: string; paid: number; refunds: StripeRefund[]; dispute?: string };

function reportedAmount(track: Track, at: number): number {
  let amount = 0;
  for (const refund of track.refunds) {
    if (refund.createdAt <= at && (refund.failedAt === undefined || at < refund.failedAt)) amount += refund.amount;
  }
  return Math.min(track.paid, amount);
}

type Run = {
  events: RecordedCreditsEvent[];
  states: Array<{ state: CreditsState; now: string }>;
  commands: CreditsCommand[];
};

/**
 * A random history; `process` runs the expiry process at the current time (every grant due, frozen or not: a frozen
 * one is refused). Throws if a decision's events do not fold.
 */
function runHistory(steps: ReadonlyArray<{ step: Step; hoursLater: number }>, startMs = Date.parse(T0)): Run {
  let state = initialState();
  let nowMs = startMs;
  const events: RecordedCreditsEvent[] = [];
  const states: Run['states'] = [];
  const commands: CreditsCommand[] = [];
  const tracks: Track[] = [];
  const apply = (command: CreditsCommand, now: string) => {
    commands.push(command);
    const decision = decide(command, state);
    if (decision.kind === 'recorded') {
      const recorded = recordAfter(state, decision.events, BigInt(1000 + events.length));
      state = recorded.reduce(evolve, state);
      events.push(...recorded);
    }
    states.push({ state, now });
  };
  steps.forEach(({ step, hoursLater }, index) => {
    nowMs += hoursLater * HOUR;
    const now = new Date(nowMs).toISOString();
    const at = Math.floor(nowMs / 1000) + index;
    const grantIds = [...state.grants.byId.keys()];
    const picked = (pick: number) => grantIds[pick % Math.max(1, grantIds.length)] ?? 'none';
    const track = (pick: number) => tracks[pick % Math.max(1, tracks.length)];
    switch (step.kind) {
      case 'bonus':
        return apply(
          bonus(
            `bonus-${index}`,
            step.amount,
            {
              category: step.paid ? 'paid' : 'promotional',
              priority: step.priority,
              ...(step.expiresInHours === undefined ? {} : { expiresIn: `PT${step.expiresInHours}H` }),
            },
            now,
          ),
          now,
        );
      case 'recharge': {
        tracks.push({ id: `pack-${index}`, paid: step.credits * 10, refunds: [] });
        const hours = step.expiresInHours;
        const expiresAt = hours === undefined ? undefined : new Date(nowMs + hours * HOUR).toISOString();
        const command = recharge(`pack-${index}`, step.credits, now, expiresAt);
        if (step.rollover === undefined || expiresAt === undefined) return apply(command, now);
        const carriedUntil = plus(expiresAt, step.rollover.afterHours * HOUR);
        return apply(withRollover(command, carriedUntil, step.rollover.creditsMax), now);
      }
      case 'consume':
        return apply(consume(`job-${index}`, step.amount, now), now);
      case 'expire':
        return apply(expire(picked(step.pick), now), now);
      case 'void':
        return apply(voidGrant(picked(step.pick), now), now);
      case 'process': {
        for (const grant of [...state.grants.byId.values()]) {
          if (grant.status === 'active' && grant.expiresAtMs <= nowMs) apply(expire(grant.grantId, now), now);
        }
        return;
      }
      case 'refund': {
        const target = track(step.pick);
        if (target === undefined) return;
        const left = target.paid - reportedAmount(target, at);
        if (left <= 0) return;
        const amount = Math.min(left, Math.max(1, Math.ceil((target.paid * step.share) / 100)));
        target.refunds.push({ refundId: `re-${index}`, amount, createdAt: at });
        return apply(
          refundOf(target.id, Math.max(1, reportedAmount(target, at)), now, step.debt ? 'debt' : 'writeoff', at),
          now,
        );
      }
      case 'fail': {
        const target = track(step.pick);
        const open = target?.refunds.filter((refund) => refund.failedAt === undefined) ?? [];
        const refund = open[step.which % Math.max(1, open.length)];
        if (target === undefined || refund === undefined) return;
        refund.failedAt = at;
        if (step.lowered && reportedAmount(target, at) > 0) {
          apply(refundOf(target.id, reportedAmount(target, at), now, 'debt', at), now);
        }
        return apply(
          failureOf(target.id, refund.refundId, refund.amount, { createdAt: refund.createdAt, failedAt: at }, now),
          now,
        );
      }
      case 'dispute': {
        const target = track(step.pick);
        if (target === undefined || target.dispute !== undefined) return;
        target.dispute = `dp-${index}`;
        return apply(openDisputeOf(target.id, target.dispute, now), now);
      }
      case 'close': {
        const target = tracks.find(
          (seen, position) => seen.dispute !== undefined && position >= step.pick % tracks.length,
        );
        const disputeId = target?.dispute;
        if (target === undefined || disputeId === undefined) return;
        target.dispute = undefined;
        return apply(
          closeDisputeOf(
            target.id,
            disputeId,
            step.won ? 'won' : 'lost',
            target.paid,
            step.debt ? 'debt' : 'writeoff',
            now,
          ),
          now,
        );
      }
    }
  });
  return { events, states, commands };
}

const histories = fc.array(stepArbitrary, { minLength: 10, maxLength: 60 });
const RUNS = { numRuns: 400 };

describe('random histories with carry-overs, refunds, failures, disputes, expiries at any time', () => {
  it('decide-then-fold never throws, refolds equal, and every grant adds up', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        const { events, states } = runHistory(steps);
        for (const { state } of states) {
          expect(grantsBalance(state.grants)).toBe(state.balance);
          let frozen = 0;
          for (const grant of state.grants.byId.values()) {
            const { granted, debtPaid, spent, expired, voided, takenBack, rolledOver, remaining } = grant;
            expect(granted).toBe(debtPaid + spent + expired + voided + takenBack + rolledOver + remaining);
            expect(takenBack).toBeGreaterThanOrEqual(0);
            expect(debtPaid).toBeLessThanOrEqual(granted);
            expect(grant.frozen).toBeGreaterThanOrEqual(0);
            expect(grant.frozen).toBeLessThanOrEqual(remaining);
            if (grant.status !== 'active') expect(remaining).toBe(0);
            frozen += grant.frozen;
            if (grant.sourceGrantId !== undefined) {
              // A carry-over never carries again, and holds what its source says it carried.
              expect(grant.rollover).toBeUndefined();
              expect(grant.rolledOver).toBe(0);
              expect(grant.rolledInto).toBeUndefined();
              const source = state.grants.byId.get(grant.sourceGrantId)!;
              expect(source.rolledInto).toBe(grant.grantId);
              expect(source.rolledOver).toBe(granted);
              expect(granted).toBeLessThanOrEqual(source.rollover?.creditsMax ?? Infinity);
              expect(grant.category).toBe(source.category);
              expect(grant.priority).toBe(source.priority);
              expect(grant.expiresAt).toBe(source.rollover?.expiresAt);
            }
            if (grant.rolledOver > 0) expect(grant.status).toBe('expired');
          }
          expect(frozen).toBe(state.frozenCredits);
          expect(state.grants.debt).toBeGreaterThanOrEqual(0);
        }
        const last = states.at(-1)?.state ?? initialState();
        expect(plainState(events.reduce(evolve, initialState()))).toEqual(plainState(last));
        const closings = events.flatMap((event) =>
          event.type === 'CreditsExpired' || event.type === 'CreditsRolledOver' || event.type === 'GrantVoided'
            ? [event.data.grantId]
            : event.type === 'CreditsUnfrozen'
              ? event.data.expired.map((lapsed) => lapsed.grantId)
              : [],
        );
        expect(new Set(closings).size).toBe(closings.length);
      }),
      RUNS,
    );
  });

  it('an expiry decided again after it was recorded replays its outcome', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        const { events, states } = runHistory(steps);
        const last = states.at(-1);
        if (last === undefined) return;
        for (const event of events) {
          if (event.type !== 'CreditsRolledOver' && event.type !== 'CreditsExpired') continue;
          expect(decide(expire(event.data.grantId, last.now), last.state)).toMatchObject({ kind: 'replayed' });
        }
      }),
      { numRuns: 100 },
    );
  });
});
