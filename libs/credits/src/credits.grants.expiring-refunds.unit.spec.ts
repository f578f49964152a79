import type { CreditsCommand } from './credits.commands';
import { decide } from './credits.decide';
import type { CreditsEvent, RechargeRefunded, RefundReversed } from './credits.events';
import { grantsBalance } from './credits.grants';
import { type CreditsState, evolve, initialState, spendableCredits } from './credits.state';
import { recordAfter } from './testing/credits.given-when-then';
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
 * The money rules for refunds, disputes and give-backs of recharges whose
 * credits expire (README, "Grants": rules 3, 4 and 5). The pack `P` buys 100
 * credits for 1,000 cents and expires at `E`, 30 days after `T0`; refunding
 * 1,000 takes all 100 back.
 */
const E = plus(T0, 30 * DAY);
const pack = recharge('pack-P', 100, T0, E);
const P = grantIdOf(pack);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
const HOUR = 3_600_000;

/** Decides and folds each command; returns the state and the events the last one recorded. */
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

function refunded(events: CreditsEvent[]): RechargeRefunded['data'] {
  const [event] = events;
  if (event?.type !== 'RechargeRefunded') throw new Error(`expected a RechargeRefunded, got ${event?.type}`);
  return event.data;
}

function reversed(events: CreditsEvent[]): RefundReversed['data'] {
  const [event] = events;
  if (event?.type !== 'RefundReversed') throw new Error(`expected a RefundReversed, got ${event?.type}`);
  return event.data;
}

describe('rule 3: a refund takes from the refunded grant first, then the others in spend order', () => {
  it('before the expiry: what is left of the pack, then a grant spent after it', () => {
    const welcome = bonus('welcome', 50);
    const reserve = bonus('reserve', 50, { priority: 300 });
    const { state, last } = after(
      pack,
      welcome,
      reserve,
      consume('job-1', 70),
      refundOf('pack-P', 1000, plus(T0, DAY), 'debt'),
    );

    expect(refunded(last)).toMatchObject({
      creditsTakenBack: 100,
      creditsLapsed: 0,
      creditsDebited: 100,
      takenFrom: [
        { grantId: P, credits: 80 },
        { grantId: grantIdOf(reserve), credits: 20 },
      ],
      shortfallCredits: 0,
    });
    expect(state.balance).toBe(30);
  });

  it('after the expiry was recorded: the credits that lapsed count as taken back, nothing moves for them', () => {
    const reserve = bonus('reserve', 50);
    const { state, last } = after(
      pack,
      consume('job-1', 40, plus(T0, DAY)),
      expire(P, E),
      reserve,
      refundOf('pack-P', 1000, plus(E, DAY), 'debt'),
    );

    expect(refunded(last)).toMatchObject({
      creditsTakenBack: 100,
      creditsLapsed: 60,
      creditsDebited: 40,
      takenFrom: [{ grantId: grantIdOf(reserve), credits: 40 }],
    });
    expect(state.balance).toBe(10);
    expect(state.grants.debt).toBe(0);
  });

  it('after the expiry, not yet recorded: the same, and the expiry process then takes what is left once', () => {
    const reserve = bonus('reserve', 50);
    const history = [pack, consume('job-1', 40, plus(T0, DAY)), reserve];
    const { state, last } = after(...history, refundOf('pack-P', 1000, plus(E, DAY), 'debt'));

    expect(refunded(last)).toMatchObject({ creditsLapsed: 60, creditsDebited: 40 });
    const expired = after(...history, refundOf('pack-P', 1000, plus(E, DAY), 'debt'), expire(P, plus(E, 2 * DAY)));
    expect(expired.last[0]).toMatchObject({ type: 'CreditsExpired', data: { grantId: P, credits: 60 } });
    expect(expired.state.balance).toBe(10);
    expect(state.grants.byId.get(P)).toMatchObject({ remaining: 60, takenBack: 0 });
  });

  it('two partial refunds after the expiry never count the same lapsed credit twice', () => {
    const reserve = bonus('reserve', 50);
    const history = [pack, consume('job-1', 40, plus(T0, DAY)), expire(P, E), reserve];
    const half = after(...history, refundOf('pack-P', 500, plus(E, DAY), 'debt'));
    const whole = after(
      ...history,
      refundOf('pack-P', 500, plus(E, DAY), 'debt'),
      refundOf('pack-P', 1000, plus(E, 2 * DAY), 'debt'),
    );

    expect(refunded(half.last)).toMatchObject({ creditsTakenBack: 50, creditsLapsed: 50, creditsDebited: 0 });
    expect(refunded(whole.last)).toMatchObject({ creditsTakenBack: 50, creditsLapsed: 10, creditsDebited: 40 });
    expect(whole.state.balance).toBe(10);
    expect(whole.state.recharges.get('pack-P')).toMatchObject({ creditsLapsed: 60, creditsTakenBack: 100 });
  });

  it("never takes credits another recharge's open dispute froze: under writeoff they are written off", () => {
    const disputed = recharge('pack-D', 100);
    const refundedPack = recharge('pack-R', 100);
    const { state, last } = after(
      disputed,
      refundedPack,
      openDisputeOf('pack-D', 'dp-1', T0),
      consume('job-1', 100),
      refundOf('pack-R', 1000, plus(T0, DAY), 'writeoff'),
    );

    expect(refunded(last)).toMatchObject({ creditsDebited: 0, takenFrom: [], shortfallCredits: 100 });
    expect(state.balance).toBe(100);
    expect(state.grants.byId.get(grantIdOf(disputed))).toMatchObject({ remaining: 100, frozen: 100 });
  });

  it('under debt, what the grants it may take from do not hold becomes debt, frozen credits untouched', () => {
    const disputed = recharge('pack-D', 100);
    const { state, last } = after(
      disputed,
      recharge('pack-R', 100),
      openDisputeOf('pack-D', 'dp-1', T0),
      consume('job-1', 100),
      refundOf('pack-R', 1000, plus(T0, DAY), 'debt'),
    );

    expect(refunded(last)).toMatchObject({ creditsDebited: 100, takenFrom: [], shortfallCredits: 100 });
    expect(state.grants.debt).toBe(100);
    expect(state.frozenCredits).toBe(100);
    expect(spendableCredits(state, plus(T0, DAY))).toBe(0);
  });
});

describe('rule 4: a dispute on a grant due to expire', () => {
  const opened = [pack, consume('job-1', 30), openDisputeOf('pack-P', 'dp-1', plus(T0, DAY))];

  it('freezes what is left of the pack, which does not lapse while the dispute is open', () => {
    const { state } = after(...opened);
    const decision = decide(expire(P, plus(E, DAY)), state);

    expect(state.grants.byId.get(P)).toMatchObject({ remaining: 70, frozen: 70 });
    expect(decision).toEqual({
      kind: 'refused',
      error: { type: 'grant-not-closable', grantId: P, reason: 'frozen', expiresAt: E },
    });
    expect(spendableCredits(state, plus(E, DAY))).toBe(0);
  });

  it('won after the expiry: the release lets the credits lapse in the same event, and the grant expires once', () => {
    const won = after(...opened, closeDisputeOf('pack-P', 'dp-1', 'won', 1000, 'debt', plus(E, DAY)));

    expect(won.last[0]).toMatchObject({
      type: 'CreditsUnfrozen',
      data: { credits: 70, expired: [{ grantId: P, credits: 70 }] },
    });
    expect(won.state.balance).toBe(0);
    expect(won.state.frozenCredits).toBe(0);
    expect(won.state.grants.byId.get(P)).toMatchObject({ status: 'expired', expired: 70, remaining: 0 });
    expect(decide(expire(P, plus(E, 2 * DAY)), won.state)).toMatchObject({
      kind: 'refused',
      error: { type: 'grant-not-closable', reason: 'expired' },
    });
  });

  it('won before the expiry: the credits are spendable again until it', () => {
    const won = after(...opened, closeDisputeOf('pack-P', 'dp-1', 'won', 1000, 'debt', plus(E, -DAY)));

    expect(won.last[0]).toMatchObject({ type: 'CreditsUnfrozen', data: { credits: 70, expired: [] } });
    expect(spendableCredits(won.state, plus(E, -1))).toBe(70);
    expect(spendableCredits(won.state, E)).toBe(0);
  });

  it('lost after the expiry: it takes the frozen credits first, and the rest is the shortfall', () => {
    const lost = after(...opened, closeDisputeOf('pack-P', 'dp-1', 'lost', 1000, 'writeoff', plus(E, DAY)));

    expect(refunded(lost.last)).toMatchObject({
      creditsUnfrozen: 70,
      creditsTakenBack: 100,
      creditsLapsed: 0,
      creditsDebited: 70,
      takenFrom: [{ grantId: P, credits: 70 }],
      shortfallCredits: 30,
    });
    expect(lost.state.balance).toBe(0);
    expect(lost.state.grants.byId.get(P)).toMatchObject({ remaining: 0, frozen: 0, takenBack: 70 });
  });
});

describe('rule 5: credits given back return to the grants they left', () => {
  const failedAt = (now: string) => ({ createdAt: seconds(plus(T0, DAY)), failedAt: seconds(now) });

  it('after the expiry: the lapsed credits are restored without moving, the rest returns to where it was taken', () => {
    const reserve = bonus('reserve', 50);
    const { state, last } = after(
      pack,
      consume('job-1', 40, plus(T0, DAY)),
      expire(P, E),
      reserve,
      refundOf('pack-P', 1000, plus(T0, DAY), 'debt', seconds(plus(E, DAY))),
      failureOf('pack-P', 're-1', 1000, failedAt(plus(E, 2 * DAY)), plus(E, 2 * DAY)),
    );

    expect(reversed(last)).toMatchObject({
      creditsGivenBack: 100,
      creditsLapseReversed: 60,
      creditsWriteOffReversed: 0,
      creditsCredited: 40,
      givenTo: [{ grantId: grantIdOf(reserve), credits: 40 }],
      creditsLapsedOnReturn: 0,
    });
    expect(state.balance).toBe(50);
    expect(state.grants.byId.get(grantIdOf(reserve))).toMatchObject({ remaining: 50, takenBack: 0 });
  });

  it('to a grant expired since: what became debt cancels it, and the rest lapses with the grant in the same event', () => {
    const { state, last } = after(
      pack,
      consume('job-1', 30),
      refundOf('pack-P', 1000, plus(T0, DAY), 'debt'),
      expire(P, E),
      failureOf('pack-P', 're-1', 1000, failedAt(plus(E, DAY)), plus(E, DAY)),
    );

    expect(reversed(last)).toMatchObject({
      creditsCredited: 100,
      debtForgiven: 30,
      givenTo: [{ grantId: P, credits: 70 }],
      creditsLapsedOnReturn: 70,
    });
    // Had the refund not been made: 30 spent, 70 lapsed at E.
    expect(state.balance).toBe(0);
    expect(state.grants.debt).toBe(0);
    expect(state.grants.byId.get(P)).toMatchObject({ status: 'expired', expired: 70, remaining: 0, takenBack: 0 });
  });

  it('to a bonus voided since: what became debt cancels it, and what the bonus gave closes with it', () => {
    const reserve = bonus('reserve', 50, { priority: 300 });
    const plain = recharge('pack-R', 100);
    const { state, last } = after(
      plain,
      reserve,
      consume('job-1', 100),
      refundOf('pack-R', 1000, plus(T0, DAY), 'debt'),
      voidGrant(grantIdOf(reserve), plus(T0, 2 * DAY)),
      failureOf('pack-R', 're-1', 1000, failedAt(plus(T0, 3 * DAY)), plus(T0, 3 * DAY)),
    );

    expect(reversed(last)).toMatchObject({
      creditsCredited: 100,
      debtForgiven: 50,
      givenTo: [{ grantId: grantIdOf(reserve), credits: 50 }],
      creditsLapsedOnReturn: 50,
    });
    // Had the refund not been made: 100 spent, and the void would have removed the reserve's 50.
    expect(state.balance).toBe(0);
    expect(state.grants.debt).toBe(0);
    expect(state.grants.byId.get(grantIdOf(reserve))).toMatchObject({ status: 'voided', voided: 50, remaining: 0 });
  });
});

describe('rollover: a plan period carries what is left into the next period', () => {
  const nextEnd = plus(E, 31 * DAY);
  const period = (creditsMax?: number) => {
    const command = recharge('period-1', 100, T0, E);
    return { ...command, data: { ...command.data, rollover: { creditsMax, expiresAt: nextEnd } } };
  };
  const periodGrant = grantIdOf(recharge('period-1', 100));

  it('with a cap: carries up to it into a grant expiring at the next period end, and the rest lapses, once', () => {
    const { state, last } = after(period(50), consume('job-1', 30), expire(periodGrant, E));
    const [rolled] = last;

    expect(rolled).toMatchObject({
      type: 'CreditsRolledOver',
      data: { grantId: periodGrant, creditsExpired: 20, creditsRolledOver: 50, rolledOverExpiresAt: nextEnd },
    });
    expect(state.balance).toBe(50);
    expect(state.grants.byId.get(periodGrant)).toMatchObject({ status: 'expired', expired: 20, rolledOver: 50 });
    expect(state.grants.byId.get(rolled.id)).toMatchObject({
      category: 'paid',
      granted: 50,
      remaining: 50,
      expiresAt: nextEnd,
      sourceGrantId: periodGrant,
      rollover: undefined,
    });
    expect(spendableCredits(state, plus(nextEnd, -1))).toBe(50);
    const carriedExpiry = after(period(50), consume('job-1', 30), expire(periodGrant, E), expire(rolled.id, nextEnd));
    expect(carriedExpiry.last[0]).toMatchObject({ type: 'CreditsExpired', data: { grantId: rolled.id, credits: 50 } });
    expect(decide(expire(periodGrant, plus(E, DAY)), state)).toMatchObject({ kind: 'replayed' });
  });

  it('without a cap: carries all that is left; with nothing left, records a plain expiry', () => {
    const all = after(period(), consume('job-1', 30), expire(periodGrant, E));
    const none = after(period(), consume('job-1', 100), expire(periodGrant, E));

    expect(all.last[0]).toMatchObject({ data: { creditsExpired: 0, creditsRolledOver: 70 } });
    expect(none.last[0]).toMatchObject({ type: 'CreditsExpired', data: { credits: 0 } });
  });

  it('a refund of the period follows its credits into the carry-over', () => {
    const { state, last } = after(
      period(50),
      consume('job-1', 30),
      expire(periodGrant, E),
      refundOf('period-1', 1000, plus(E, DAY), 'debt'),
    );
    const rolledId = state.grants.byId.get(periodGrant)!.rolledInto;

    expect(refunded(last)).toMatchObject({
      creditsTakenBack: 100,
      takenFrom: [{ grantId: rolledId, credits: 50 }],
      creditsLapsed: 20,
      creditsDebited: 80,
      shortfallCredits: 30,
    });
    expect(state.balance).toBe(-30);
  });

  it('a dispute on the period freezes the carry-over', () => {
    const { state, last } = after(
      period(50),
      consume('job-1', 30),
      expire(periodGrant, E),
      openDisputeOf('period-1', 'dp-1', plus(E, DAY)),
    );

    expect(last[0]).toMatchObject({ type: 'CreditsFrozen', data: { credits: 50 } });
    expect(spendableCredits(state, plus(E, DAY))).toBe(0);
  });

  it('a refund between the period end and the expiry process records the carry-over first, then takes it back', () => {
    const { state, last } = after(period(), refundOf('period-1', 1000, plus(E, HOUR), 'debt'));

    expect(last.map((event) => event.type)).toEqual(['CreditsRolledOver', 'RechargeRefunded']);
    expect(last[1]).toMatchObject({ data: { creditsTakenBack: 100, creditsLapsed: 0, creditsDebited: 100 } });
    expect(state.balance).toBe(0);
    expect(spendableCredits(state, plus(E, DAY))).toBe(0);
    expect(decide(expire(periodGrant, plus(E, 2 * HOUR)), state)).toMatchObject({ kind: 'replayed' });
  });

  it('a refund taken before the carry-over and failing after it leaves the user as without it', () => {
    const refundAt = plus(T0, DAY);
    const times = { createdAt: seconds(refundAt), failedAt: seconds(plus(E, DAY)) };
    const failure = failureOf('period-1', 're-1', 300, times, plus(E, DAY));
    const withRefund = after(period(), refundOf('period-1', 300, refundAt, 'debt'), expire(periodGrant, E), failure);
    const without = after(period(), expire(periodGrant, E));

    // The 30 returned to the period's grant follow into its carry-over: it would have carried them.
    expect(without.state.balance).toBe(100);
    expect(withRefund.state.balance).toBe(100);
    expect(reversed(withRefund.last)).toMatchObject({ givenTo: [{ grantId: periodGrant, credits: 30 }] });
  });

  it("a debt payment undone on a period's grant that carried over since follows into the carry-over", () => {
    const refundAt = plus(T0, 2 * HOUR);
    const spent = [recharge('pack-O', 50), consume('job-1', 50, plus(T0, HOUR))];
    const paying = { ...period(), metadata: { ...period().metadata, now: plus(T0, 3 * HOUR) } };
    const times = { createdAt: seconds(refundAt), failedAt: seconds(plus(E, DAY)) };
    const failure = failureOf('pack-O', 're-1', 500, times, plus(E, DAY));
    const withRefund = after(
      ...spent,
      refundOf('pack-O', 500, refundAt, 'debt'),
      paying,
      expire(periodGrant, E),
      failure,
    );
    const without = after(...spent, paying, expire(periodGrant, E));

    expect(reversed(withRefund.last)).toMatchObject({ debtPaymentsUndone: [{ grantId: periodGrant, credits: 50 }] });
    expect(without.state.balance).toBe(100);
    expect(withRefund.state.balance).toBe(100);
  });

  it('refuses a carry-over without an expiry, or ending before it', () => {
    const command = recharge('period-2', 100);
    const withoutExpiry = { ...command, data: { ...command.data, rollover: { expiresAt: nextEnd } } };
    const backwards = { ...period(), data: { ...period().data, rollover: { expiresAt: E } } };

    expect(decide(withoutExpiry, initialState())).toMatchObject({
      kind: 'refused',
      error: { type: 'invalid-grant-terms', field: 'rollover' },
    });
    expect(decide(backwards, initialState())).toMatchObject({
      kind: 'refused',
      error: { type: 'invalid-grant-terms', field: 'rollover', reason: 'expiresAt must be after the credits expire' },
    });
  });
});
