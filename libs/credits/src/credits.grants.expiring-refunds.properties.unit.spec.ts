import fc from 'fast-check';
import type { CreditsCommand } from './credits.commands';
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
  openDisputeOf,
  voidGrant,
  consume,
  expire,
  failureOf,
  grantIdOf,
  plus,
  recharge,
  refundOf,
} from './testing/grant-commands';

/**
 * Refunds, failures and disputes of expiring recharges, written as an adversarial review of the money rules
 * (README, "Grants", rules 3 to 5). The first block pins the defect it found (a failed refund gave the debt its
 * take-back left to the refunded grant, though a later grant had paid it: those credits were lost when that
 * grant had expired); the properties hold every random history to the ledger's invariants, and a refund that
 * fails in full to the history without it.
 */
const E = plus(T0, 30 * DAY);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function after(...commands: CreditsCommand[]): {
  state: CreditsState;
  events: RecordedCreditsEvent[];
  last: CreditsEvent[];
} {
  let state = initialState();
  let last: CreditsEvent[] = [];
  const events: RecordedCreditsEvent[] = [];
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') {
      throw new Error(`${command.type} ${command.metadata.idempotencyKey}: ${JSON.stringify(decision)}`);
    }
    last = decision.events;
    const recorded = recordAfter(state, decision.events, 1000n + BigInt(state.version));
    events.push(...recorded);
    state = recorded.reduce(evolve, state);
  }
  return { state, events, last };
}

describe('give-back of a take-back that became debt, once that debt was paid by a later grant', () => {
  const pack = recharge('pack-P', 100, T0, E);
  const P = grantIdOf(pack);
  const later = bonus('later', 100, {}, plus(T0, 2 * DAY));

  it('a failed refund gives back the credits the later grant paid the debt with, even if the pack has expired since', () => {
    const withRefund = after(
      pack,
      consume('job-1', 100, plus(T0, DAY / 2)),
      refundOf('pack-P', 1000, plus(T0, DAY), 'debt'),
      later,
      expire(P, E),
      failureOf(
        'pack-P',
        're-1',
        1000,
        { createdAt: seconds(plus(T0, DAY)), failedAt: seconds(plus(E, DAY)) },
        plus(E, DAY),
      ),
    );
    const withoutRefund = after(pack, consume('job-1', 100, plus(T0, DAY / 2)), later, expire(P, E));

    expect(withoutRefund.state.balance).toBe(100);
    expect(withRefund.state.balance).toBe(withoutRefund.state.balance);
    expect(spendableCredits(withRefund.state, plus(E, 2 * DAY))).toBe(100);
  });

  it('never counts a negative take-back on the pack when the debt portion comes back', () => {
    const { state } = after(
      pack,
      consume('job-1', 100, plus(T0, DAY / 2)),
      refundOf('pack-P', 1000, plus(T0, DAY), 'debt'),
      failureOf(
        'pack-P',
        're-1',
        1000,
        { createdAt: seconds(plus(T0, DAY)), failedAt: seconds(plus(T0, 2 * DAY)) },
        plus(T0, 2 * DAY),
      ),
    );
    expect(state.balance).toBe(0);
    expect(state.grants.debt).toBe(0);
    expect(state.grants.byId.get(P)).toMatchObject({ takenBack: 0, debtPaid: 0, spent: 100, remaining: 0 });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Random histories: Stripe's refunds modelled as Stripe makes them (each refund created, maybe failed), its
// reports and failures delivered late and out of order, disputes, expiries, voids, time moving forward.
// ---------------------------------------------------------------------------------------------------------------

const HOUR = 3_600_000;

type Step =
  | { kind: 'bonus'; amount: number; priority?: number; paid: boolean; expiresInHours?: number }
  | { kind: 'recharge'; credits: number; expiresInHours?: number }
  | { kind: 'consume'; amount: number }
  | { kind: 'expire' | 'void'; pick: number }
  | { kind: 'refund'; pick: number; share: number; debt: boolean; delay: boolean }
  | { kind: 'fail'; pick: number; which: number; delay: boolean; lowered: boolean }
  | { kind: 'deliver'; which: number }
  | { kind: 'dispute'; pick: number }
  | { kind: 'close'; pick: number; won: boolean; debt: boolean };

type StripeRefund = { refundId: string; amount: number; createdAt: number; failedAt?: number };
type Track = { id: string; paid: number; refunds: StripeRefund[]; dispute?: string };

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
      weight: 3,
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
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('consume' as const), amount: fc.integer({ min: 1, max: 40 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('expire' as const, 'void' as const), pick: fc.nat() }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('refund' as const),
        pick: fc.nat(),
        share: fc.integer({ min: 1, max: 100 }),
        debt: fc.boolean(),
        delay: fc.boolean(),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('fail' as const),
        pick: fc.nat(),
        which: fc.nat(),
        delay: fc.boolean(),
        lowered: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('deliver' as const), which: fc.nat() }) },
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

/** Stripe's figure for the charge in a report made at `at`. */
function reportedAmount(track: Track, at: number): number {
  let amount = 0;
  for (const refund of track.refunds) {
    const counted = refund.createdAt <= at && (refund.failedAt === undefined || at < refund.failedAt);
    if (counted) amount += refund.amount;
  }
  return Math.min(track.paid, amount);
}

type Run = {
  events: RecordedCreditsEvent[];
  states: Array<{ state: CreditsState; now: string }>;
  commands: CreditsCommand[];
  nowMs: number;
};

function runHistory(steps: ReadonlyArray<{ step: Step; hoursLater: number }>): Run {
  let state = initialState();
  let nowMs = Date.parse(T0);
  const events: RecordedCreditsEvent[] = [];
  const states: Run['states'] = [];
  const grantIds: string[] = [];
  const tracks: Track[] = [];
  const pending: Array<(now: string) => CreditsCommand> = [];
  const commands: CreditsCommand[] = [];
  const apply = (command: CreditsCommand, now: string) => {
    commands.push(command);
    const decision = decide(command, state);
    if (decision.kind === 'recorded') {
      const recorded = recordAfter(state, decision.events, BigInt(1000 + events.length));
      state = recorded.reduce(evolve, state);
      events.push(...recorded);
      if (command.type === 'GrantBonus' || command.type === 'CompleteRecharge') grantIds.push(grantIdOf(command));
    }
    states.push({ state, now });
  };
  steps.forEach(({ step, hoursLater }, index) => {
    nowMs += hoursLater * HOUR;
    const now = new Date(nowMs).toISOString();
    const at = Math.floor(nowMs / 1000) + index;
    const picked = (pick: number) => grantIds[pick % Math.max(1, grantIds.length)] ?? 'none';
    const track = (pick: number) => tracks[pick % Math.max(1, tracks.length)];
    const report = (target: Track, policy: 'debt' | 'writeoff'): CreditsCommand => {
      const command = refundOf(target.id, Math.max(1, reportedAmount(target, at)), now, policy, at);
      return command;
    };
    switch (step.kind) {
      case 'bonus':
        return apply(
          bonus(
            `bonus-${index}`,
            step.amount,
            {
              category: step.paid ? 'paid' : 'promotional',
              ...(step.priority === undefined ? {} : { priority: step.priority }),
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
        return apply(recharge(`pack-${index}`, step.credits, now, expiresAt), now);
      }
      case 'consume':
        return apply(consume(`job-${index}`, step.amount, now), now);
      case 'expire':
        return apply(expire(picked(step.pick), now), now);
      case 'void':
        return apply(voidGrant(picked(step.pick), now), now);
      case 'refund': {
        const target = track(step.pick);
        if (target === undefined) return;
        const left = target.paid - reportedAmount(target, at);
        if (left <= 0) return;
        const amount = Math.min(left, Math.max(1, Math.ceil((target.paid * step.share) / 100)));
        target.refunds.push({ refundId: `re-${index}`, amount, createdAt: at });
        const policy = step.debt ? 'debt' : 'writeoff';
        // The report is made now; it may be delivered later.
        const command = report(target, policy);
        if (step.delay)
          pending.push((deliveredAt) => ({ ...command, metadata: { ...command.metadata, now: deliveredAt } }));
        else apply(command, now);
        return;
      }
      case 'fail': {
        const target = track(step.pick);
        const open = target?.refunds.filter((refund) => refund.failedAt === undefined) ?? [];
        const refund = open[step.which % Math.max(1, open.length)];
        if (target === undefined || refund === undefined) return;
        refund.failedAt = at;
        const failure = failureOf(
          target.id,
          refund.refundId,
          refund.amount,
          { createdAt: refund.createdAt, failedAt: at },
          now,
        );
        if (step.lowered) {
          // Stripe reports the charge's lowered figure (when something is still refunded) before the failure.
          if (reportedAmount(target, at) > 0) apply(report(target, 'debt'), now);
        }
        if (step.delay)
          pending.push((deliveredAt) => ({ ...failure, metadata: { ...failure.metadata, now: deliveredAt } }));
        else apply(failure, now);
        return;
      }
      case 'deliver': {
        const [make] = pending.splice(step.which % Math.max(1, pending.length), 1);
        if (make !== undefined) apply(make(now), now);
        return;
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
        const outcome = step.won ? 'won' : 'lost';
        return apply(
          closeDisputeOf(target.id, disputeId, outcome, target.paid, step.debt ? 'debt' : 'writeoff', now),
          now,
        );
      }
    }
  });
  return { events, states, commands, nowMs };
}

const histories = fc.array(stepArbitrary, { minLength: 10, maxLength: 60 });
const RUNS = { numRuns: 400 };

describe('random histories of expiring recharges, refunds failing in any order, disputes', () => {
  it('decide-then-fold never throws, refolds to the same state, and grants agree with the balance and frozen credits', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        const { events, states } = runHistory(steps);
        for (const { state } of states) {
          expect(grantsBalance(state.grants)).toBe(state.balance);
          let frozen = 0;
          for (const grant of state.grants.byId.values()) {
            const { granted, debtPaid, spent, expired, voided, takenBack } = grant;
            expect(grant.remaining).toBe(granted - debtPaid - spent - expired - voided - takenBack);
            expect(grant.frozen).toBeGreaterThanOrEqual(0);
            expect(grant.frozen).toBeLessThanOrEqual(grant.remaining);
            if (grant.status !== 'active') expect(grant.remaining).toBe(0);
            frozen += grant.frozen;
          }
          expect(frozen).toBe(state.frozenCredits);
          expect(state.grants.debt).toBeGreaterThanOrEqual(0);
        }
        const refolded = events.reduce(evolve, initialState());
        expect(plainState(refolded)).toEqual(plainState(states.at(-1)?.state ?? initialState()));
        const closings = events.flatMap((event) =>
          event.type === 'CreditsExpired'
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

  it('every grant counts what was taken back from it as zero or more, and debt paid only out of what it was granted', () => {
    fc.assert(
      fc.property(histories, (steps) => {
        for (const { state } of runHistory(steps).states) {
          for (const grant of state.grants.byId.values()) {
            expect(grant.takenBack).toBeGreaterThanOrEqual(0);
            expect(grant.debtPaid).toBeLessThanOrEqual(grant.granted);
          }
        }
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Money conservation: a refund that fails in full leaves the user as if it had never been made.
// ---------------------------------------------------------------------------------------------------------------

/**
 * Any history (the prefix) with the target recharge `pack-T` at its start, then a refund of `pack-T` (its first,
 * under either policy), then only credit-ins, expiries, voids and time passing, then that refund's failure.
 * The same history without the refund and its failure must end with the same balance, debt, frozen and
 * spendable credits, and every grant holding the same credits in the same status: give-backs return credits to
 * the grants they left (closing with a closed one), restore what was written off or counted as lapsed, and
 * what the refund's debt had cost later grants (they paid it) comes back to them. Nothing else in between
 * depends on the refund (no consumption, no dispute), so any difference is a credit lost or invented.
 */
type MiddleStep =
  | { kind: 'bonus'; amount: number; expiresInHours?: number; priority: number }
  | { kind: 'recharge'; credits: number; expiresInHours?: number }
  | { kind: 'expire' | 'void'; pick: number };

const middleArbitrary: fc.Arbitrary<{ step: MiddleStep; hoursLater: number }> = fc.record({
  hoursLater: fc.integer({ min: 0, max: 48 }),
  step: fc.oneof(
    fc.record(
      {
        kind: fc.constant('bonus' as const),
        amount: fc.integer({ min: 1, max: 60 }),
        priority: fc.integer({ min: 0, max: 300 }),
        expiresInHours: fc.integer({ min: 1, max: 120 }),
      },
      { requiredKeys: ['kind', 'amount', 'priority'] },
    ),
    fc.record(
      {
        kind: fc.constant('recharge' as const),
        credits: fc.integer({ min: 1, max: 80 }),
        expiresInHours: fc.integer({ min: 1, max: 120 }),
      },
      { requiredKeys: ['kind', 'credits'] },
    ),
    fc.record({ kind: fc.constantFrom('expire' as const, 'void' as const), pick: fc.nat() }),
  ),
});

const conservationCase = fc.record({
  target: fc.record(
    { credits: fc.integer({ min: 1, max: 80 }), expiresInHours: fc.integer({ min: 1, max: 200 }) },
    { requiredKeys: ['credits'] },
  ),
  prefix: fc.array(stepArbitrary, { minLength: 0, maxLength: 30 }),
  refund: fc.record({
    hoursLater: fc.integer({ min: 0, max: 72 }),
    share: fc.integer({ min: 1, max: 100 }),
    debt: fc.boolean(),
  }),
  middle: fc.array(middleArbitrary, { minLength: 0, maxLength: 8 }),
  failHoursLater: fc.integer({ min: 0, max: 72 }),
});

function foldCommands(commands: readonly CreditsCommand[]): CreditsState {
  let state = initialState();
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind === 'recorded') {
      state = recordAfter(state, decision.events, 1000n + BigInt(state.version)).reduce(evolve, state);
    }
  }
  return state;
}

function grantsOf(state: CreditsState) {
  return [...state.grants.byId.values()].map(({ grantId, remaining, frozen, status }) => ({
    grantId,
    remaining,
    frozen,
    status,
  }));
}

describe('money conservation of a refund that fails in full', () => {
  it('ends as the same history without the refund and its failure', () => {
    fc.assert(
      fc.property(conservationCase, ({ target, prefix, refund, middle, failHoursLater }) => {
        const T = recharge(
          'pack-T',
          target.credits,
          T0,
          target.expiresInHours === undefined ? undefined : plus(T0, target.expiresInHours * HOUR),
        );
        const before = runHistory(prefix);
        const prefixCommands = [T, ...before.commands.map((command) => command)];
        let nowMs = before.nowMs + refund.hoursLater * HOUR;
        const refundNow = new Date(nowMs).toISOString();
        const refundAt = Math.floor(nowMs / 1000) + 1_000;
        const amount = Math.max(1, Math.ceil((target.credits * 10 * refund.share) / 100));
        const refundCommand = {
          ...refundOf('pack-T', amount, refundNow, refund.debt ? 'debt' : 'writeoff', refundAt),
        };
        const between: CreditsCommand[] = [];
        const grantIds = [
          grantIdOf(T),
          ...before.commands.flatMap((command) =>
            command.type === 'GrantBonus' || command.type === 'CompleteRecharge' ? [grantIdOf(command)] : [],
          ),
        ];
        middle.forEach(({ step, hoursLater }, index) => {
          nowMs += hoursLater * HOUR;
          const now = new Date(nowMs).toISOString();
          const picked = grantIds[step.kind === 'expire' || step.kind === 'void' ? step.pick % grantIds.length : 0];
          switch (step.kind) {
            case 'bonus': {
              const command = bonus(
                `mid-bonus-${index}`,
                step.amount,
                {
                  priority: step.priority,
                  ...(step.expiresInHours === undefined ? {} : { expiresIn: `PT${step.expiresInHours}H` }),
                },
                now,
              );
              grantIds.push(grantIdOf(command));
              between.push(command);
              return;
            }
            case 'recharge': {
              const expiresAt =
                step.expiresInHours === undefined
                  ? undefined
                  : new Date(nowMs + step.expiresInHours * HOUR).toISOString();
              const command = recharge(`mid-pack-${index}`, step.credits, now, expiresAt);
              grantIds.push(grantIdOf(command));
              between.push(command);
              return;
            }
            case 'expire':
              between.push(expire(picked, now));
              return;
            case 'void':
              between.push(voidGrant(picked, now));
              return;
          }
        });
        nowMs += failHoursLater * HOUR + 1_000;
        const failNow = new Date(nowMs).toISOString();
        const failure = failureOf(
          'pack-T',
          're-T',
          amount,
          { createdAt: refundAt, failedAt: refundAt + 1 + Math.floor((nowMs - Date.parse(refundNow)) / 1000) },
          failNow,
        );

        // The refund must have been recorded for the comparison to mean anything.
        const refunded = foldCommands([...prefixCommands, refundCommand]);
        fc.pre(refunded.recharges.get('pack-T')!.creditsTakenBack > 0);
        const withRefund = foldCommands([...prefixCommands, refundCommand, ...between, failure]);
        const without = foldCommands([...prefixCommands, ...between]);
        expect(withRefund.recharges.get('pack-T')!.creditsTakenBack).toBe(0);
        expect({
          balance: withRefund.balance,
          debt: withRefund.grants.debt,
          frozen: withRefund.frozenCredits,
          spendable: spendableCredits(withRefund, failNow),
          grants: grantsOf(withRefund),
        }).toEqual({
          balance: without.balance,
          debt: without.grants.debt,
          frozen: without.frozenCredits,
          spendable: spendableCredits(without, failNow),
          grants: grantsOf(without),
        });
      }),
      { numRuns: 500 },
    );
  });
});
