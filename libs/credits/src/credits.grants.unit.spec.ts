import type { CreditsCommand, RefundRecharge } from './credits.commands';
import { decide } from './credits.decide';
import type { CreditsConsumed, CreditsEvent, CreditsExpired, GrantVoided } from './credits.events';
import { ACTIVE_GRANTS_MAX, type GrantCredits, grantsBalance } from './credits.grants';
import { payloadFingerprint, refundIdempotencyKey } from './credits.idempotency';
import { type CreditsState, evolve, initialState, spendableCredits } from './credits.state';
import { given, recordAfter } from './testing/credits.given-when-then';
import {
  DAY,
  GRANTS_USER_ID,
  T0,
  bonus,
  consume,
  eventIdOf,
  expire,
  grantIdOf,
  plus,
  recharge,
  voidGrant,
} from './testing/grant-commands';

function consumed(command: ReturnType<typeof consume>, drawnFrom: GrantCredits[]): CreditsConsumed {
  const { requestedAmount = NaN, feature, reference, metadata } = command.data;
  return {
    type: 'CreditsConsumed',
    schemaVersion: 2,
    ...identity(command),
    data: { amount: requestedAmount, feature, reference, metadata, drawnFrom },
  };
}

function expired(command: ReturnType<typeof expire>, expiresAt: string, credits: number): CreditsExpired {
  return {
    type: 'CreditsExpired',
    schemaVersion: 1,
    ...identity(command),
    data: { grantId: command.data.grantId, expiresAt, credits },
  };
}

function voided(command: ReturnType<typeof voidGrant>, credits: number): GrantVoided {
  const { grantId, reason, metadata } = command.data;
  return { type: 'GrantVoided', schemaVersion: 1, ...identity(command), data: { grantId, reason, credits, metadata } };
}

function identity(command: CreditsCommand): Pick<CreditsEvent, 'id' | 'metadata'> {
  return {
    id: eventIdOf(command),
    metadata: {
      idempotencyKey: command.metadata.idempotencyKey,
      payloadFingerprint: payloadFingerprint(command),
      occurredAt: command.metadata.now,
    },
  };
}

/** Decides and folds each command, as the runner does; throws on a refusal. */
function stateAfter(...commands: CreditsCommand[]): CreditsState {
  let state = initialState();
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type} was ${decision.kind}`);
    state = recordAfter(state, decision.events, 1000n + BigInt(state.version)).reduce(evolve, state);
  }
  return state;
}

describe('grants: spend order', () => {
  it('spends the lowest priority first, whatever the category', () => {
    const promotional = bonus('welcome', 10);
    const salesLed = bonus('sales', 10, { category: 'paid', priority: 50 });
    const pack = recharge('pack-1', 10);
    const spend = consume('job-1', 15);

    given(pack, promotional, salesLed)
      .when(spend)
      .thenRecords(
        consumed(spend, [
          { grantId: grantIdOf(salesLed), credits: 10 },
          { grantId: grantIdOf(promotional), credits: 5 },
        ]),
      );
  });

  it('spends promotional credits before paid ones by default', () => {
    const pack = recharge('pack-1', 10);
    const welcome = bonus('welcome', 10);
    const spend = consume('job-1', 12);

    given(pack, welcome)
      .when(spend)
      .thenRecords(
        consumed(spend, [
          { grantId: grantIdOf(welcome), credits: 10 },
          { grantId: grantIdOf(pack), credits: 2 },
        ]),
      );
  });

  it('within a priority, spends the soonest to expire first and the never-expiring last', () => {
    const never = bonus('never', 5);
    const late = bonus('late', 5, { expiresIn: 'P30D' });
    const soon = bonus('soon', 5, { expiresIn: 'P7D' });
    const spend = consume('job-1', 12);

    given(never, late, soon)
      .when(spend)
      .thenRecords(
        consumed(spend, [
          { grantId: grantIdOf(soon), credits: 5 },
          { grantId: grantIdOf(late), credits: 5 },
          { grantId: grantIdOf(never), credits: 2 },
        ]),
      );
  });

  it('between grants of one priority and expiry, spends the oldest first', () => {
    const first = bonus('first', 5, { expiresAt: '2026-02-01T00:00:00Z' });
    const second = bonus('second', 5, { expiresAt: '2026-02-01T00:00:00Z' });
    const spend = consume('job-1', 6);

    given(first, second)
      .when(spend)
      .thenRecords(
        consumed(spend, [
          { grantId: grantIdOf(first), credits: 5 },
          { grantId: grantIdOf(second), credits: 1 },
        ]),
      );
  });
});

describe('grants: expiry', () => {
  const welcome = bonus('welcome', 10, { expiresAt: '2026-01-31T00:00:00Z' });
  const expiresAt = '2026-01-31T00:00:00.000Z';

  it('records the expiry in UTC ISO 8601, however it was asked', () => {
    const state = stateAfter(welcome, bonus('in', 1, { expiresIn: 'P1M' }, '2026-01-31T12:00:00Z'));
    const grants = [...state.grants.byId.values()];

    expect(grants.map((grant) => grant.expiresAt)).toEqual([expiresAt, '2026-02-28T12:00:00.000Z']);
  });

  it('spends a grant one millisecond before it expires', () => {
    const spend = consume('job-1', 10, plus(expiresAt, -1));

    given(welcome)
      .when(spend)
      .thenRecords(consumed(spend, [{ grantId: grantIdOf(welcome), credits: 10 }]));
  });

  it('never spends it at the instant it expires, though its expiry is not recorded yet', () => {
    given(welcome)
      .when(consume('job-1', 1, expiresAt))
      .thenRefuses({ type: 'insufficient-credits', balance: 10, requested: 1, spendable: 0 });
  });

  it('spends the other grants instead of the lapsed one', () => {
    const pack = recharge('pack-1', 5);
    const spend = consume('job-1', 5, plus(expiresAt, DAY));

    given(welcome, pack)
      .when(spend)
      .thenRecords(consumed(spend, [{ grantId: grantIdOf(pack), credits: 5 }]));
  });

  it('expires what is left of the grant once due, and only then', () => {
    const expiry = expire(grantIdOf(welcome), expiresAt);

    given(welcome)
      .when(expire(grantIdOf(welcome), plus(expiresAt, -1)))
      .thenRefuses({ type: 'grant-not-closable', grantId: grantIdOf(welcome), reason: 'not-due', expiresAt });
    const state = given(welcome, consume('job-1', 3, plus(expiresAt, -DAY)))
      .when(expiry)
      .thenRecords(expired(expiry, expiresAt, 7));

    expect(state.balance).toBe(0);
    expect(state.grants.byId.get(grantIdOf(welcome))).toMatchObject({ status: 'expired', remaining: 0 });
  });

  it('expires a grant once: a second expiry, at any time, replays the first', () => {
    const expiry = expire(grantIdOf(welcome), expiresAt);
    const later = expire(grantIdOf(welcome), plus(expiresAt, DAY));
    const state = stateAfter(welcome, expiry);

    given(welcome, expiry).when(later).thenReplays(state.outcomes.get(expiry.metadata.idempotencyKey)!);
  });

  it('refuses to expire a grant that never expires, and one it does not hold', () => {
    const pack = recharge('pack-1', 5);

    given(pack)
      .when(expire(grantIdOf(pack), plus(T0, DAY)))
      .thenRefuses({ type: 'grant-not-closable', grantId: grantIdOf(pack), reason: 'not-due' });
    given(pack)
      .when(expire('no-such-grant', plus(T0, DAY)))
      .thenRefuses({ type: 'unknown-grant', grantId: 'no-such-grant' });
  });

  it('expires nothing when the grant was spent in full, and records it all the same', () => {
    const expiry = expire(grantIdOf(welcome), expiresAt);

    given(welcome, consume('job-1', 10))
      .when(expiry)
      .thenRecords(expired(expiry, expiresAt, 0));
  });
});

describe('grants: expiring recharges', () => {
  const expiresAt = '2026-01-31T00:00:00.000Z';

  it("takes the pack's expiry in UTC, spends it before a pack that never expires, and expires what is left", () => {
    const lasting = recharge('pack-lasting', 10);
    const monthly = recharge('pack-monthly', 10, T0, '2026-01-31T01:00:00+01:00');
    const spend = consume('job-1', 4);
    const state = stateAfter(lasting, monthly, spend, expire(grantIdOf(monthly), expiresAt));
    const grant = state.grants.byId.get(grantIdOf(monthly))!;

    expect(grant).toMatchObject({ expiresAt, category: 'paid', spent: 4, expired: 6, status: 'expired' });
    expect(state.balance).toBe(10);
  });

  it('grants a recharge whose expiry passed before its webhook arrived: nothing of it is spendable', () => {
    const late = recharge('pack-late', 10, plus(expiresAt, DAY), expiresAt);
    const state = stateAfter(late);

    expect(state.balance).toBe(10);
    expect(spendableCredits(state, plus(expiresAt, DAY))).toBe(0);
  });

  it('refuses an expiry that is no instant, or further than 100 years', () => {
    given()
      .when(recharge('pack-bad', 10, T0, '2026-01-31'))
      .thenRefuses({
        type: 'invalid-grant-terms',
        field: 'expiresAt',
        reason: 'must be an ISO 8601 date and time with its offset, e.g. 2027-01-31T00:00:00Z',
      });
    given()
      .when(recharge('pack-far', 10, T0, '2126-01-02T00:00:00Z'))
      .thenRefuses({ type: 'invalid-grant-terms', field: 'expiresAt', reason: 'must be within 100 years' });
  });

  it('credits a payment once, on the terms of its first delivery', () => {
    const first = recharge('pack-1', 10, T0, expiresAt);
    const redelivered = recharge('pack-1', 10, T0, plus(expiresAt, DAY));
    const state = stateAfter(first);

    given(first).when(redelivered).thenReplays(state.outcomes.get(first.metadata.idempotencyKey)!);
  });
});

describe('grants: bonus terms', () => {
  it.each([
    ['an expiry in the past', { expiresAt: '2025-12-31T00:00:00Z' }, 'expiresAt', 'must be after now'],
    ['an expiry at the very time', { expiresAt: T0 }, 'expiresAt', 'must be after now'],
    ['an expiry without its offset', { expiresAt: '2026-02-01T00:00:00' }, 'expiresAt', 'must be an ISO 8601'],
    ['an expiry beyond 100 years', { expiresIn: 'P101Y' }, 'expiresIn', 'must be within 100 years'],
    ['a duration that is not ISO 8601', { expiresIn: '30 days' }, 'expiresIn', 'must be an ISO 8601 duration'],
    ['a duration of nothing', { expiresIn: 'PT0S' }, 'expiresIn', 'must be after now'],
    ['both expiresAt and expiresIn', { expiresAt: '2026-02-01T00:00:00Z', expiresIn: 'P1D' }, 'expiresIn', 'not both'],
    ['a negative priority', { priority: -1 }, 'priority', 'must be an integer'],
    ['a priority above 1000', { priority: 1001 }, 'priority', 'must be an integer'],
    ['a fractional priority', { priority: 1.5 }, 'priority', 'must be an integer'],
  ] as const)('refuses %s with invalid-grant-terms', (_, terms, field, reason) => {
    const decision = decide(bonus('b', 5, terms), initialState());

    expect(decision).toEqual({
      kind: 'refused',
      error: { type: 'invalid-grant-terms', field, reason: expect.stringContaining(reason) },
    });
  });

  it('takes a bonus declared paid with its own priority', () => {
    const state = stateAfter(bonus('sales', 5, { category: 'paid', priority: 7 }));

    expect([...state.grants.byId.values()][0]).toMatchObject({ category: 'paid', priority: 7 });
  });
});

describe('grants: void', () => {
  const welcome = bonus('welcome', 10, { expiresAt: '2026-01-31T00:00:00Z' });

  it('removes what is left of a bonus, once: a second void replays the first whatever its reason', () => {
    const remove = voidGrant(grantIdOf(welcome), plus(T0, DAY));
    const state = given(welcome, consume('job-1', 4)).when(remove).thenRecords(voided(remove, 6));

    expect(state.balance).toBe(0);
    given(welcome, consume('job-1', 4), remove)
      .when(voidGrant(grantIdOf(welcome), plus(T0, 2 * DAY), 'another reason'))
      .thenReplays(state.outcomes.get(remove.metadata.idempotencyKey)!);
  });

  it("refuses to void a recharge's credits: they leave through a refund", () => {
    const pack = recharge('pack-1', 5);

    given(pack)
      .when(voidGrant(grantIdOf(pack)))
      .thenRefuses({ type: 'grant-not-closable', grantId: grantIdOf(pack), reason: 'recharge' });
  });

  it('refuses to void a grant past its expiry, and to expire a voided one', () => {
    given(welcome)
      .when(voidGrant(grantIdOf(welcome), '2026-01-31T00:00:00Z'))
      .thenRefuses({
        type: 'grant-not-closable',
        grantId: grantIdOf(welcome),
        reason: 'expired',
        expiresAt: '2026-01-31T00:00:00.000Z',
      });
    given(welcome, voidGrant(grantIdOf(welcome)))
      .when(expire(grantIdOf(welcome), '2026-02-01T00:00:00Z'))
      .thenRefuses({
        type: 'grant-not-closable',
        grantId: grantIdOf(welcome),
        reason: 'voided',
        expiresAt: '2026-01-31T00:00:00.000Z',
      });
  });
});

describe('grants: frozen credits', () => {
  // Before grants, a dispute froze the recharge's share of the whole balance: a stream recorded then may hold a
  // freeze spilling onto other grants. Such frozen credits neither lapse nor go while the dispute is open.
  const expiring = bonus('expiring', 10, { expiresAt: '2026-01-31T00:00:00Z' });
  const pack = recharge('pack-1', 5);
  const legacyFreeze: CreditsEvent = {
    type: 'CreditsFrozen',
    schemaVersion: 1,
    id: 'legacy-freeze',
    data: { rechargeId: 'pack-1', disputeId: 'dp_1', credits: 8, source: { kind: 'manual' } },
    metadata: { idempotencyKey: 'dispute:dp_1:opened', payloadFingerprint: 'legacy', occurredAt: T0 },
  };

  it('holds a spilled freeze on the other grant, and refuses to expire or void it while the dispute is open', () => {
    // The consumption draws the bonus's 5 first; the freeze of 8 takes the pack's 5, then 3 of the bonus.
    const history = [expiring, pack, consume('job-1', 5), legacyFreeze] as const;
    given(...history)
      .when(expire(grantIdOf(expiring), '2026-02-01T00:00:00Z'))
      .thenRefuses({
        type: 'grant-not-closable',
        grantId: grantIdOf(expiring),
        reason: 'frozen',
        expiresAt: '2026-01-31T00:00:00.000Z',
      });
    given(...history)
      .when(voidGrant(grantIdOf(expiring), T0))
      .thenRefuses({
        type: 'grant-not-closable',
        grantId: grantIdOf(expiring),
        reason: 'frozen',
        expiresAt: '2026-01-31T00:00:00.000Z',
      });
  });
});

describe('grants: the cap on active grants', () => {
  const atCap = () => stateAfter(...Array.from({ length: ACTIVE_GRANTS_MAX }, (_, index) => bonus(`b-${index}`, 1)));

  it('refuses a bonus beyond it, never a recharge', () => {
    const state = atCap();

    expect(decide(bonus('one-more', 1), state)).toEqual({
      kind: 'refused',
      error: { type: 'grant-limit-exceeded', activeGrants: ACTIVE_GRANTS_MAX, activeGrantsMax: ACTIVE_GRANTS_MAX },
    });
    expect(decide(recharge('pack-1', 5), state).kind).toBe('recorded');
    // A grant spent in full no longer counts.
    const spent = stateAfter(...Array.from({ length: 3 }, (_, index) => bonus(`b-${index}`, 1)), consume('job', 3));
    expect(spent.grants.spendOrder.size).toBe(0);
  });
});

describe('grants: debt', () => {
  const refundAll: RefundRecharge = {
    type: 'RefundRecharge',
    data: {
      userId: GRANTS_USER_ID,
      rechargeId: 'pack-1',
      chargeId: 'ch_1',
      amountRefundedOfCharge: 100,
      refundedAt: 1_767_225_700,
      shortfallPolicy: 'debt',
      source: { kind: 'manual' },
    },
    metadata: { idempotencyKey: refundIdempotencyKey('pack-1', 'ch_1', 100, 1_767_225_700), now: T0 },
  };

  it('a refund of spent credits leaves a debt; a grant pays it first, and its event says how much', () => {
    const inDebt = stateAfter(recharge('pack-1', 10), consume('job-1', 6), refundAll);

    expect({ balance: inDebt.balance, debt: inDebt.grants.debt }).toEqual({ balance: -6, debt: 6 });
    expect(spendableCredits(inDebt, T0)).toBe(0);
    expect(decide(bonus('welcome', 4), inDebt)).toMatchObject({
      kind: 'recorded',
      events: [{ data: { debtPaidCredits: 4 } }],
    });
    const paidOff = stateAfter(recharge('pack-1', 10), consume('job-1', 6), refundAll, bonus('welcome', 10));
    expect({ balance: paidOff.balance, debt: paidOff.grants.debt }).toEqual({ balance: 4, debt: 0 });
    expect(paidOff.grants.byId.get(grantIdOf(bonus('welcome', 10)))).toMatchObject({ granted: 10, remaining: 4 });
    expect(grantsBalance(paidOff.grants)).toBe(4);
  });
});

describe('grants: the balance is what the grants hold', () => {
  it('sums the remainders less the debt after every kind of movement', () => {
    const welcome = bonus('welcome', 10, { expiresIn: 'P1D' });
    const state = stateAfter(
      recharge('pack-1', 20),
      welcome,
      consume('job-1', 12),
      bonus('apology', 3),
      expire(grantIdOf(welcome), plus(T0, DAY)),
      consume('job-2', 2, plus(T0, DAY)),
    );

    expect(grantsBalance(state.grants)).toBe(state.balance);
    expect(state.balance).toBe(20 + 10 + 3 - 12 - 0 - 2);
  });
});
