import fc from 'fast-check';
import type { CreditsCommand, RefundRecharge } from './credits.commands';
import { decide } from './credits.decide';
import type { RecordedCreditsEvent } from './credits.events';
import { grantsBalance } from './credits.grants';
import { refundIdempotencyKey } from './credits.idempotency';
import { type CreditsState, evolve, initialState, spendableCredits } from './credits.state';
import { plainState, recordAfter } from './testing/credits.given-when-then';
import {
  GRANTS_USER_ID,
  T0,
  bonus,
  closeDisputeOf,
  consume,
  expire,
  failureOf,
  grantIdOf,
  openDisputeOf,
  recharge,
  voidGrant,
} from './testing/grant-commands';

/**
 * Grants under random histories: bonuses of random category, priority and expiry, recharges that may expire,
 * consumptions, expiries and voids of random grants, refunds under either policy and their failures, disputes
 * opened and won or lost, at times that move forward by up to 30 hours a step, so grants lapse before, while
 * and after their expiry is recorded, and while disputes hold them.
 */
const RUNS = { numRuns: 150 };
const HOUR = 3_600_000;

type Step =
  | { kind: 'bonus'; amount: number; priority?: number; paid: boolean; expiresInHours?: number }
  | { kind: 'recharge'; credits: number; expiresInHours?: number }
  | { kind: 'consume'; amount: number }
  | { kind: 'expire' | 'void'; pick: number }
  | { kind: 'refund'; pick: number; share: number; debt: boolean }
  | { kind: 'fail'; pick: number; share: number }
  | { kind: 'dispute'; pick: number }
  | { kind: 'close'; pick: number; won: boolean; debt: boolean };

/** What the history knows of a recharge, to make Stripe's reports of it. */
type RechargeSeen = {
  id: string;
  paid: number;
  /** Cumulative refunded on `ch_1`, as Stripe would report it. */
  refunded: number;
  /** When the last report was made, and how much it added (a refund that may fail). */
  lastReport?: { at: number; amount: number };
  openDispute?: string;
};

const stepArbitrary: fc.Arbitrary<{ step: Step; hoursLater: number }> = fc.record({
  hoursLater: fc.integer({ min: 0, max: 30 }),
  step: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record(
        {
          kind: fc.constant('bonus' as const),
          amount: fc.integer({ min: 1, max: 50 }),
          priority: fc.integer({ min: 0, max: 300 }),
          paid: fc.boolean(),
          expiresInHours: fc.integer({ min: 1, max: 120 }),
        },
        { requiredKeys: ['kind', 'amount', 'paid'] },
      ),
    },
    {
      weight: 2,
      arbitrary: fc.record(
        {
          kind: fc.constant('recharge' as const),
          credits: fc.integer({ min: 1, max: 80 }),
          expiresInHours: fc.integer({ min: 1, max: 120 }),
        },
        { requiredKeys: ['kind', 'credits'] },
      ),
    },
    {
      weight: 5,
      arbitrary: fc.record({ kind: fc.constant('consume' as const), amount: fc.integer({ min: 1, max: 25 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('expire' as const, 'void' as const), pick: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('refund' as const),
        pick: fc.nat(),
        share: fc.integer({ min: 1, max: 100 }),
        debt: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('fail' as const),
        pick: fc.nat(),
        share: fc.integer({ min: 1, max: 100 }),
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

type Run = { events: RecordedCreditsEvent[]; states: Array<{ state: CreditsState; now: string }> };

function run(steps: ReadonlyArray<{ step: Step; hoursLater: number }>): Run {
  let state = initialState();
  let nowMs = Date.parse(T0);
  const events: RecordedCreditsEvent[] = [];
  const states: Run['states'] = [];
  const grantIds: string[] = [];
  const recharges: RechargeSeen[] = [];
  steps.forEach(({ step, hoursLater }, index) => {
    nowMs += hoursLater * HOUR;
    const now = new Date(nowMs).toISOString();
    const command = commandOf(step, index, now, grantIds, recharges);
    const decision = decide(command, state);
    if (decision.kind === 'recorded') {
      const recorded = recordAfter(state, decision.events, BigInt(1000 + events.length));
      state = recorded.reduce(evolve, state);
      events.push(...recorded);
      if (command.type === 'GrantBonus' || command.type === 'CompleteRecharge') grantIds.push(grantIdOf(command));
    }
    states.push({ state, now });
  });
  return { events, states };
}

function commandOf(
  step: Step,
  index: number,
  now: string,
  grantIds: string[],
  recharges: RechargeSeen[],
): CreditsCommand {
  const picked = (pick: number) => grantIds[pick % Math.max(1, grantIds.length)] ?? 'none';
  const seconds = Math.floor(Date.parse(now) / 1000) + index;
  switch (step.kind) {
    case 'bonus':
      return bonus(
        `bonus-${index}`,
        step.amount,
        {
          category: step.paid ? 'paid' : 'promotional',
          ...(step.priority === undefined ? {} : { priority: step.priority }),
          ...(step.expiresInHours === undefined ? {} : { expiresIn: `PT${step.expiresInHours}H` }),
        },
        now,
      );
    case 'recharge': {
      recharges.push({ id: `pack-${index}`, paid: step.credits * 10, refunded: 0 });
      const hours = step.expiresInHours;
      const expiresAt = hours === undefined ? undefined : new Date(Date.parse(now) + hours * HOUR).toISOString();
      return recharge(`pack-${index}`, step.credits, now, expiresAt);
    }
    case 'consume':
      return consume(`job-${index}`, step.amount, now);
    case 'expire':
      return expire(picked(step.pick), now);
    case 'void':
      return voidGrant(picked(step.pick), now);
    case 'refund': {
      const target = recharges[step.pick % Math.max(1, recharges.length)];
      if (target === undefined) return consume(`job-${index}`, 1, now);
      const before = target.refunded;
      target.refunded = Math.min(target.paid, target.refunded + Math.ceil((target.paid * step.share) / 100));
      const refundedAt = seconds;
      target.lastReport = { at: refundedAt, amount: target.refunded - before };
      const refund: RefundRecharge = {
        type: 'RefundRecharge',
        data: {
          userId: GRANTS_USER_ID,
          rechargeId: target.id,
          chargeId: 'ch_1',
          amountRefundedOfCharge: target.refunded,
          refundedAt,
          shortfallPolicy: step.debt ? 'debt' : 'writeoff',
          source: { kind: 'manual' },
        },
        metadata: { idempotencyKey: refundIdempotencyKey(target.id, 'ch_1', target.refunded, refundedAt), now },
      };
      return refund;
    }
    case 'fail': {
      // The last refund reported fails, in part or whole: Stripe's figure goes down by it.
      const target = recharges[step.pick % Math.max(1, recharges.length)];
      const report = target?.lastReport;
      if (target === undefined || report === undefined || report.amount === 0) return consume(`job-${index}`, 1, now);
      const amount = Math.max(1, Math.floor((report.amount * step.share) / 100));
      target.refunded -= amount;
      target.lastReport = undefined;
      return failureOf(target.id, `re-${index}`, amount, { createdAt: report.at, failedAt: seconds + 1 }, now);
    }
    case 'dispute': {
      const target = recharges[step.pick % Math.max(1, recharges.length)];
      if (target === undefined || target.openDispute !== undefined) return consume(`job-${index}`, 1, now);
      target.openDispute = `dp-${index}`;
      return openDisputeOf(target.id, target.openDispute, now);
    }
    case 'close': {
      const target = recharges.find((seen, at) => seen.openDispute !== undefined && at >= step.pick % recharges.length);
      const disputeId = target?.openDispute;
      if (target === undefined || disputeId === undefined) return consume(`job-${index}`, 1, now);
      target.openDispute = undefined;
      const outcome = step.won ? 'won' : 'lost';
      return closeDisputeOf(target.id, disputeId, outcome, target.paid, step.debt ? 'debt' : 'writeoff', now);
    }
  }
}

const histories = fc.array(stepArbitrary, { minLength: 10, maxLength: 50 });

describe('grants properties', () => {
  it('the sum of the grants’ remainders less the debt is the balance, and each grant accounts for its credits', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        for (const { state } of run(steps).states) {
          expect(grantsBalance(state.grants)).toBe(state.balance);
          let frozen = 0;
          for (const grant of state.grants.byId.values()) {
            const { granted, debtPaid, spent, expired, voided, takenBack } = grant;
            expect(grant.remaining).toBe(granted - debtPaid - spent - expired - voided - takenBack);
            expect(grant.frozen).toBeLessThanOrEqual(grant.remaining);
            // Give-backs return credits to the grants they left, never more than left them.
            expect(takenBack).toBeGreaterThanOrEqual(0);
            if (grant.status !== 'active') expect(grant.remaining).toBe(0);
            frozen += grant.frozen;
          }
          expect(frozen).toBe(state.frozenCredits);
          for (const recharge of state.recharges.values()) {
            // A take-back counts a credit as lapsed only if the recharge's grant lost it to its expiry.
            const grant = state.grants.byId.get(recharge.grantId)!;
            expect(recharge.creditsLapsed).toBeLessThanOrEqual(grant.expired + grant.remaining);
          }
        }
      }),
      RUNS,
    );
  });

  it('what may be spent is never negative, nor more than the balance less what is frozen', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        for (const { state, now } of run(steps).states) {
          const spendable = spendableCredits(state, now);
          expect(spendable).toBeGreaterThanOrEqual(0);
          expect(spendable).toBeLessThanOrEqual(Math.max(0, state.balance - state.frozenCredits));
        }
      }),
      RUNS,
    );
  });

  it('never spends a credit of a grant at or after its expiry, and draws exactly what is consumed', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        const { events } = run(steps);
        const expiries = new Map<string, number>();
        for (const event of events) {
          if (
            (event.type === 'BonusGranted' || event.type === 'RechargeCompleted') &&
            event.data.expiresAt !== undefined
          ) {
            expiries.set(event.id, Date.parse(event.data.expiresAt));
          }
          if (event.type !== 'CreditsConsumed') continue;
          const drawnFrom = event.data.drawnFrom ?? [];
          expect(drawnFrom.reduce((sum, draw) => sum + draw.credits, 0)).toBe(event.data.amount);
          for (const draw of drawnFrom) {
            expect(draw.credits).toBeGreaterThan(0);
            expect(Date.parse(event.metadata.occurredAt)).toBeLessThan(expiries.get(draw.grantId) ?? Infinity);
          }
        }
      }),
      RUNS,
    );
  });

  it('expires each grant at most once, never before its time', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        const { events } = run(steps);
        const expiresAt = new Map<string, number>();
        const closings: Array<{ grantId: string; at: number }> = [];
        for (const event of events) {
          const at = Date.parse(event.metadata.occurredAt);
          if (event.type === 'BonusGranted' || event.type === 'RechargeCompleted') {
            expiresAt.set(event.id, event.data.expiresAt === undefined ? Infinity : Date.parse(event.data.expiresAt));
          }
          if (event.type === 'CreditsExpired') closings.push({ grantId: event.data.grantId, at });
          // A won dispute lets the grants it held past their expiry lapse as it releases them.
          if (event.type === 'CreditsUnfrozen')
            closings.push(...event.data.expired.map(({ grantId }) => ({ grantId, at })));
        }
        expect(new Set(closings.map((closing) => closing.grantId)).size).toBe(closings.length);
        for (const { grantId, at } of closings) expect(at).toBeGreaterThanOrEqual(expiresAt.get(grantId)!);
      }),
      RUNS,
    );
  });

  it('folds the recorded events back to the same state', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        const { events, states } = run(steps);
        const refolded = events.reduce(evolve, initialState());
        expect(plainState(refolded)).toEqual(plainState(states.at(-1)?.state ?? initialState()));
      }),
      RUNS,
    );
  });
});
