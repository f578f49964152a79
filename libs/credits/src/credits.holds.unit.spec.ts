import type { CreditsCommand } from './credits.commands';
import { decide } from './credits.decide';
import type {
  CreditsEvent,
  CreditsHeld,
  HoldCaptured,
  HoldExpired,
  HoldReleased,
  RechargeRefunded,
} from './credits.events';
import { type GrantCredits, grantOf, grantsBalance } from './credits.grants';
import { payloadFingerprint } from './credits.idempotency';
import { HISTORY_FIELDS, historyOf } from './credits.history';
import { type CreditsState, evolve, initialState, spendableCredits } from './credits.state';
import { given, recordAfter } from './testing/credits.given-when-then';
import {
  DAY,
  T0,
  bonus,
  closeDisputeOf,
  consume,
  eventIdOf,
  expire,
  grantIdOf,
  openDisputeOf,
  plus,
  recharge,
  refundOf,
  voidGrant,
} from './testing/grant-commands';
import { captureOf, expireHoldOf, holdIdOf, placeHoldOf, releaseOf } from './testing/hold-commands';

const MINUTE = 60_000;

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

function held(command: ReturnType<typeof placeHoldOf>, drawnFrom: GrantCredits[], expiresAt: string): CreditsHeld {
  const { requestedAmount = NaN, feature, reference, metadata } = command.data;
  return {
    type: 'CreditsHeld',
    schemaVersion: 1,
    ...identity(command),
    data: { feature, reference, amount: requestedAmount, expiresAt, drawnFrom, metadata },
  };
}

type Split = {
  capturedFrom?: GrantCredits[];
  debtPaidFrom?: GrantCredits[];
  returnedTo?: GrantCredits[];
  frozenFrom?: GrantCredits[];
  lapsed?: GrantCredits[];
  /** Default: all of `lapsed` (no carry-over to follow). */
  creditsLapsedOnReturn?: number;
  expired?: GrantCredits[];
};

/** The split's lists, each empty unless given. */
function returned(split: Split) {
  const { debtPaidFrom = [], returnedTo = [], frozenFrom = [], lapsed = [], expired = [] } = split;
  const creditsLapsedOnReturn = split.creditsLapsedOnReturn ?? lapsed.reduce((sum, part) => sum + part.credits, 0);
  return { debtPaidFrom, returnedTo, frozenFrom, lapsed, creditsLapsedOnReturn, expired };
}

function captured(command: ReturnType<typeof captureOf>, place: ReturnType<typeof placeHoldOf>, split: Split) {
  const { capturedFrom = [] } = split;
  const event: HoldCaptured = {
    type: 'HoldCaptured',
    schemaVersion: 1,
    ...identity(command),
    data: {
      holdId: command.data.holdId,
      feature: place.data.feature,
      reference: place.data.reference,
      amount: capturedFrom.reduce((sum, part) => sum + part.credits, 0),
      capturedFrom,
      ...returned(split),
    },
  };
  return event;
}

function released(command: ReturnType<typeof releaseOf>, split: Split): HoldReleased {
  return {
    type: 'HoldReleased',
    schemaVersion: 1,
    ...identity(command),
    data: { holdId: command.data.holdId, ...returned(split) },
  };
}

function holdExpired(command: ReturnType<typeof expireHoldOf>, expiresAt: string, split: Split): HoldExpired {
  return {
    type: 'HoldExpired',
    schemaVersion: 1,
    ...identity(command),
    data: { holdId: command.data.holdId, expiresAt, ...returned(split) },
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

const pack = recharge('pack-1', 100);
const place = placeHoldOf('job-1', 30);
const holdId = holdIdOf(place);
const EXPIRES_AT = plus(T0, 15 * MINUTE);

describe('holds: placing', () => {
  it('reserves credits of their grants in spend order, for 15 minutes by default; the balance stays', () => {
    const welcome = bonus('welcome', 10);

    const state = given(pack, welcome)
      .when(place)
      .thenRecords(
        held(
          place,
          [
            { grantId: grantIdOf(welcome), credits: 10 },
            { grantId: grantIdOf(pack), credits: 20 },
          ],
          EXPIRES_AT,
        ),
      );

    expect(state.balance).toBe(110);
    expect(spendableCredits(state, T0)).toBe(80);
    expect(state.grants.held).toBe(30);
    expect(grantOf(state.grants, grantIdOf(pack))).toMatchObject({ remaining: 80, held: 20 });
    expect(grantsBalance(state.grants)).toBe(state.balance);
  });

  it('takes its expiry from expiresIn, counted from the command', () => {
    const hour = placeHoldOf('job-hour', 5, T0, 'PT1H');

    given(pack)
      .when(hour)
      .thenRecords(held(hour, [{ grantId: grantIdOf(pack), credits: 5 }], plus(T0, 60 * MINUTE)));
  });

  it('counts fixed units in milliseconds and months in calendar months, in UTC', () => {
    const endOfJanuary = '2026-01-31T10:00:00.000Z';
    for (const [expiresIn, expected] of [
      ['P1W', '2026-02-07T10:00:00.000Z'],
      ['P1DT1H30M', '2026-02-01T11:30:00.000Z'],
      ['PT0.5S', '2026-01-31T10:00:00.500Z'],
      ['P1M', '2026-02-28T10:00:00.000Z'],
      ['P1Y', '2027-01-31T10:00:00.000Z'],
    ] as const) {
      const command = placeHoldOf(`job-${expiresIn}`, 1, endOfJanuary, expiresIn);
      const decision = decide(command, stateAfter(recharge('pack-x', 10, endOfJanuary)));
      expect([
        expiresIn,
        decision.kind === 'recorded' && decision.events[0].type === 'CreditsHeld'
          ? decision.events[0].data.expiresAt
          : decision.kind,
      ]).toEqual([expiresIn, expected]);
    }
    given(pack)
      .when(placeHoldOf('job-huge', 1, T0, 'PT999999999H'))
      .thenRefuses({ type: 'invalid-hold-terms', field: 'expiresIn', reason: 'must be within 100 years' });
  });

  it('refuses an expiresIn that is not a positive duration', () => {
    for (const expiresIn of ['15 minutes', 'PT0S', '-PT1M']) {
      given(pack)
        .when(placeHoldOf('job-bad', 5, T0, expiresIn))
        .thenRefuses({ type: 'invalid-hold-terms', field: 'expiresIn', reason: expect.any(String) as string });
    }
  });

  it('is refused when what may be spent, other holds left out, does not cover it', () => {
    given(pack, placeHoldOf('job-0', 80))
      .when(placeHoldOf('job-1', 30))
      .thenRefuses({ type: 'insufficient-credits', balance: 100, requested: 30, heldCredits: 80, spendable: 20 });
  });

  it('leaves consumptions only the unheld credits', () => {
    given(pack, place)
      .when(consume('spend-71', 71))
      .thenRefuses({ type: 'insufficient-credits', balance: 100, requested: 71, heldCredits: 30, spendable: 70 });
  });
});

describe('holds: capture', () => {
  it('consumes all the hold reserved when it names no amount', () => {
    const capture = captureOf(holdId, plus(T0, MINUTE));

    const state = given(pack, place)
      .when(capture)
      .thenRecords(captured(capture, place, { capturedFrom: [{ grantId: grantIdOf(pack), credits: 30 }] }));

    expect(state.balance).toBe(70);
    expect(state.grants.held).toBe(0);
    expect(grantOf(state.grants, grantIdOf(pack))).toMatchObject({ remaining: 70, held: 0, spent: 30 });
    expect(state.holds.get(holdId)).toMatchObject({ status: 'captured', capturedAmount: 30 });
  });

  it('consumes part in the order the hold drew, and returns the rest to its grants in the same event', () => {
    const welcome = bonus('welcome', 10);
    const capture = captureOf(holdId, plus(T0, MINUTE), 12);

    const state = given(pack, welcome, place)
      .when(capture)
      .thenRecords(
        captured(capture, place, {
          capturedFrom: [
            { grantId: grantIdOf(welcome), credits: 10 },
            { grantId: grantIdOf(pack), credits: 2 },
          ],
          returnedTo: [{ grantId: grantIdOf(pack), credits: 18 }],
        }),
      );

    expect(state.balance).toBe(98);
    expect(spendableCredits(state, plus(T0, MINUTE))).toBe(98);
    expect(grantsBalance(state.grants)).toBe(98);
  });

  it('refuses nothing, a fraction or more than the hold reserved (a release is how to use none)', () => {
    for (const amount of [0, 1.5, 31, -1]) {
      given(pack, place)
        .when(captureOf(holdId, plus(T0, MINUTE), amount))
        .thenRefuses({ type: 'invalid-capture-amount', holdId, amount, heldAmount: 30 });
    }
  });

  it('succeeds a millisecond before the hold expires, and is refused at its expiresAt, recorded or not', () => {
    const lastMoment = captureOf(holdId, plus(EXPIRES_AT, -1));
    given(pack, place)
      .when(lastMoment)
      .thenRecords(captured(lastMoment, place, { capturedFrom: [{ grantId: grantIdOf(pack), credits: 30 }] }));

    given(pack, place)
      .when(captureOf(holdId, EXPIRES_AT))
      .thenRefuses({ type: 'hold-expired', holdId, expiresAt: EXPIRES_AT });
    given(pack, place, expireHoldOf(holdId, EXPIRES_AT))
      .when(captureOf(holdId, plus(EXPIRES_AT, MINUTE)))
      .thenRefuses({ type: 'hold-expired', holdId, expiresAt: EXPIRES_AT });
  });

  it('answers the same capture again with its first outcome, and refuses another amount', () => {
    const state = stateAfter(pack, place, captureOf(holdId, plus(T0, MINUTE), 10));
    const outcome = state.outcomes.get(captureOf(holdId, T0).metadata.idempotencyKey)!;

    given(pack, place, captureOf(holdId, plus(T0, MINUTE), 10))
      .when(captureOf(holdId, plus(T0, 2 * MINUTE), 10))
      .thenReplays(outcome);
    given(pack, place, captureOf(holdId, plus(T0, MINUTE), 10))
      .when(captureOf(holdId, plus(T0, 2 * MINUTE), 11))
      .thenRefuses({ type: 'hold-already-captured', holdId, capturedAmount: 10 });
    given(pack, place, captureOf(holdId, plus(T0, MINUTE), 10))
      .when(releaseOf(holdId, plus(T0, 2 * MINUTE)))
      .thenRefuses({ type: 'hold-already-captured', holdId, capturedAmount: 10 });
  });

  it('is refused after a release, and for a hold the stream does not hold', () => {
    given(pack, place, releaseOf(holdId, plus(T0, MINUTE)))
      .when(captureOf(holdId, plus(T0, 2 * MINUTE)))
      .thenRefuses({ type: 'hold-already-released', holdId });
    given(pack).when(captureOf('no-such-hold', T0)).thenRefuses({ type: 'unknown-hold', holdId: 'no-such-hold' });
  });
});

describe('holds: release and expiry', () => {
  it('returns every credit to its grant; the balance is unchanged', () => {
    const release = releaseOf(holdId, plus(T0, MINUTE));

    const state = given(pack, place)
      .when(release)
      .thenRecords(released(release, { returnedTo: [{ grantId: grantIdOf(pack), credits: 30 }] }));

    expect(state.balance).toBe(100);
    expect(spendableCredits(state, plus(T0, MINUTE))).toBe(100);
    expect(state.holds.get(holdId)?.status).toBe('released');
  });

  it('answers a second release, or a release after the expiry, with how the hold ended', () => {
    const afterRelease = stateAfter(pack, place, releaseOf(holdId, plus(T0, MINUTE)));
    given(pack, place, releaseOf(holdId, plus(T0, MINUTE)))
      .when(releaseOf(holdId, plus(T0, 2 * MINUTE)))
      .thenReplays(afterRelease.outcomes.get(releaseOf(holdId, T0).metadata.idempotencyKey)!);

    const afterExpiry = stateAfter(pack, place, expireHoldOf(holdId, EXPIRES_AT));
    given(pack, place, expireHoldOf(holdId, EXPIRES_AT))
      .when(releaseOf(holdId, plus(EXPIRES_AT, MINUTE)))
      .thenReplays(afterExpiry.outcomes.get(releaseOf(holdId, T0).metadata.idempotencyKey)!);
  });

  it('expires a hold at its expiresAt exactly, not before, and once', () => {
    given(pack, place)
      .when(expireHoldOf(holdId, plus(EXPIRES_AT, -1)))
      .thenRefuses({ type: 'hold-not-due', holdId, expiresAt: EXPIRES_AT });

    const expiry = expireHoldOf(holdId, EXPIRES_AT);
    const state = given(pack, place)
      .when(expiry)
      .thenRecords(holdExpired(expiry, EXPIRES_AT, { returnedTo: [{ grantId: grantIdOf(pack), credits: 30 }] }));
    expect(state.holds.get(holdId)?.status).toBe('expired');
    expect(state.grants.held).toBe(0);

    given(pack, place, expiry)
      .when(expireHoldOf(holdId, plus(EXPIRES_AT, MINUTE)))
      .thenReplays(state.outcomes.get(expiry.metadata.idempotencyKey)!);
  });

  it('is refused for the expiry process once the hold was captured', () => {
    given(pack, place, captureOf(holdId, plus(T0, MINUTE)))
      .when(expireHoldOf(holdId, EXPIRES_AT))
      .thenRefuses({ type: 'hold-already-captured', holdId, capturedAmount: 30 });
  });
});

describe('holds and expiring grants', () => {
  const soon = plus(T0, 5 * MINUTE);
  const expiringPack = recharge('pack-soon', 50, T0, soon);
  const placeLong = placeHoldOf('job-long', 20, T0, 'PT1H');
  const longHoldId = holdIdOf(placeLong);
  const packGrant = grantIdOf(expiringPack);

  it('does not expire a grant while a hold holds some of it: it is not spendable, and closes with the hold', () => {
    given(expiringPack, placeLong)
      .when(expire(packGrant, soon))
      .thenRefuses({ type: 'grant-not-closable', grantId: packGrant, reason: 'held', expiresAt: soon });
    expect(spendableCredits(stateAfter(expiringPack, placeLong), soon)).toBe(0);

    const capture = captureOf(longHoldId, plus(soon, MINUTE));
    const state = given(expiringPack, placeLong)
      .when(capture)
      .thenRecords(
        captured(capture, placeLong, {
          capturedFrom: [{ grantId: packGrant, credits: 20 }],
          expired: [{ grantId: packGrant, credits: 30 }],
        }),
      );
    expect(state.balance).toBe(0);
    expect(grantOf(state.grants, packGrant)).toMatchObject({ status: 'expired', expired: 30, spent: 20, held: 0 });
    expect(grantsBalance(state.grants)).toBe(0);
  });

  it('lets a release past the grant’s expiry return the credits and close the grant with all it has, once', () => {
    const release = releaseOf(longHoldId, plus(soon, MINUTE));

    const state = given(expiringPack, placeLong)
      .when(release)
      .thenRecords(
        released(release, {
          returnedTo: [{ grantId: packGrant, credits: 20 }],
          expired: [{ grantId: packGrant, credits: 50 }],
        }),
      );

    expect(state.balance).toBe(0);
    expect(grantOf(state.grants, packGrant)).toMatchObject({ expired: 50, held: 0, status: 'expired' });
    given(expiringPack, placeLong, release)
      .when(expire(packGrant, plus(soon, 2 * MINUTE)))
      .thenRefuses({ type: 'grant-not-closable', grantId: packGrant, reason: 'expired', expiresAt: soon });
  });

  it('leaves the grant to the expiry process while another hold still holds some of it', () => {
    const other = placeHoldOf('job-other', 10, T0, 'PT2H');
    const release = releaseOf(longHoldId, plus(soon, MINUTE));

    given(expiringPack, placeLong, other)
      .when(release)
      .thenRecords(released(release, { returnedTo: [{ grantId: packGrant, credits: 20 }] }));
    const afterBoth = stateAfter(
      expiringPack,
      placeLong,
      other,
      release,
      releaseOf(holdIdOf(other), plus(soon, 2 * MINUTE)),
    );
    expect(grantOf(afterBoth.grants, packGrant)).toMatchObject({ status: 'expired', expired: 50 });
    expect(afterBoth.balance).toBe(0);
  });

  it('returns a partial capture’s rest to a grant still valid, and closes the one past its expiry', () => {
    const lasting = recharge('pack-lasting', 50);
    const placeBoth = placeHoldOf('job-both', 70, T0, 'PT1H');
    const capture = captureOf(holdIdOf(placeBoth), plus(soon, MINUTE), 10);

    given(expiringPack, lasting, placeBoth)
      .when(capture)
      .thenRecords(
        captured(capture, placeBoth, {
          capturedFrom: [{ grantId: packGrant, credits: 10 }],
          returnedTo: [
            { grantId: packGrant, credits: 40 },
            { grantId: grantIdOf(lasting), credits: 20 },
          ],
          expired: [{ grantId: packGrant, credits: 40 }],
        }),
      );
  });

  describe('a plan period’s grant with a carry-over, held across its end', () => {
    const periodEnd = plus(T0, DAY);
    const plan = recharge('plan-1', 100, T0, periodEnd);
    const withCarry = { ...plan, data: { ...plan.data, rollover: { expiresAt: plus(T0, 31 * DAY) } } };
    const planGrant = grantIdOf(plan);
    const acrossEnd = placeHoldOf('job-over-end', 30, plus(periodEnd, -MINUTE), 'PT1H');
    const carryOverOf = (state: CreditsState) => grantOf(state.grants, planGrant).rolledInto!;

    it('carries over what is not held at once, and what the hold hands back follows into the carry-over', () => {
      const rolled = stateAfter(withCarry, acrossEnd, expire(planGrant, plus(periodEnd, MINUTE)));
      expect(grantOf(rolled.grants, planGrant)).toMatchObject({ status: 'expired', rolledOver: 70, held: 30 });
      const state = stateAfter(
        withCarry,
        acrossEnd,
        expire(planGrant, plus(periodEnd, MINUTE)),
        releaseOf(holdIdOf(acrossEnd), plus(periodEnd, 2 * MINUTE)),
      );
      expect(state.balance).toBe(100);
      expect(spendableCredits(state, plus(periodEnd, 2 * MINUTE))).toBe(100);
      expect(grantOf(state.grants, planGrant)).toMatchObject({ rolledOver: 100, held: 0 });
      expect(grantOf(state.grants, carryOverOf(state))).toMatchObject({ remaining: 100 });
    });

    it('a full refund after the end records the carry-over first and takes it back; the release pays the rest owed', () => {
      const state = stateAfter(
        withCarry,
        acrossEnd,
        refundOf('plan-1', 1000, plus(periodEnd, MINUTE), 'debt'),
        releaseOf(holdIdOf(acrossEnd), plus(periodEnd, 2 * MINUTE)),
      );
      expect({ balance: state.balance, debt: state.grants.debt }).toEqual({ balance: 0, debt: 0 });
      expect(spendableCredits(state, plus(periodEnd, 2 * MINUTE))).toBe(0);
      expect(state.recharges.get('plan-1')?.creditsLapsed).toBe(0);
    });

    it('a dispute open across the end freezes what a release hands back, and its loss takes all back', () => {
      const longHold = placeHoldOf('job-long', 30, T0, 'P2D');
      const state = stateAfter(
        withCarry,
        longHold,
        openDisputeOf('plan-1', 'dp_a2', plus(T0, MINUTE)),
        releaseOf(holdIdOf(longHold), plus(periodEnd, MINUTE)),
      );
      expect(state.frozenCredits).toBe(100);
      const lost = stateAfter(
        withCarry,
        longHold,
        openDisputeOf('plan-1', 'dp_a2', plus(T0, MINUTE)),
        releaseOf(holdIdOf(longHold), plus(periodEnd, MINUTE)),
        closeDisputeOf('plan-1', 'dp_a2', 'lost', 1000, 'debt', plus(periodEnd, 2 * MINUTE)),
      );
      expect({ balance: lost.balance, frozen: lost.frozenCredits }).toEqual({ balance: 0, frozen: 0 });
      const expired = stateAfter(
        withCarry,
        longHold,
        openDisputeOf('plan-1', 'dp_a2', plus(T0, MINUTE)),
        releaseOf(holdIdOf(longHold), plus(periodEnd, MINUTE)),
        closeDisputeOf('plan-1', 'dp_a2', 'lost', 1000, 'debt', plus(periodEnd, 2 * MINUTE)),
        expire(planGrant, plus(periodEnd, 3 * MINUTE)),
      );
      // Nothing left to carry over: the lost dispute took every credit of the period back.
      expect({ balance: expired.balance, spendable: spendableCredits(expired, plus(periodEnd, 3 * MINUTE)) }).toEqual({
        balance: 0,
        spendable: 0,
      });
    });

    it('a dispute opened after the end freezes the carry-over, and what the hold hands back lands on it frozen', () => {
      const state = stateAfter(
        withCarry,
        acrossEnd,
        openDisputeOf('plan-1', 'dp_b', plus(periodEnd, MINUTE)),
        releaseOf(holdIdOf(acrossEnd), plus(periodEnd, 2 * MINUTE)),
      );
      expect(state.frozenCredits).toBe(100);
      expect(grantOf(state.grants, carryOverOf(state))).toMatchObject({ remaining: 100, frozen: 100 });
      expect(spendableCredits(state, plus(periodEnd, 2 * MINUTE))).toBe(0);
    });
  });
});

describe('holds and reversals', () => {
  it('leaves held credits to a refund: it takes the unheld ones, the rest is debt, and the capture still works', () => {
    const refund = refundOf('pack-1', 1000, plus(T0, MINUTE), 'debt');
    const state = stateAfter(pack, place, refund);
    const refunded = [...state.outcomes.values()].find((outcome) => outcome.eventType === 'RechargeRefunded');
    expect(refunded?.amount).toBe(100);
    expect(grantOf(state.grants, grantIdOf(pack))).toMatchObject({ remaining: 0, held: 30, takenBack: 70 });
    expect(state.grants.debt).toBe(30);
    expect(state.balance).toBe(0);

    const afterCapture = stateAfter(pack, place, refund, captureOf(holdId, plus(T0, 2 * MINUTE)));
    expect(afterCapture.balance).toBe(-30);
    expect(grantsBalance(afterCapture.grants)).toBe(-30);
  });

  it('does not write held credits off under writeoff: they are owed, and the release pays the debt', () => {
    const refund = refundOf('pack-1', 1000, plus(T0, MINUTE), 'writeoff');
    const decision = decide(refund, stateAfter(pack, place));
    expect(decision.kind).toBe('recorded');
    const event = (decision as { events: RechargeRefunded[] }).events[0];
    expect(event.data).toMatchObject({ creditsDebited: 100, takenFrom: [{ grantId: grantIdOf(pack), credits: 70 }] });
    expect(stateAfter(pack, place, refund)).toMatchObject({ balance: 0 });

    const release = releaseOf(holdId, plus(T0, 2 * MINUTE));
    const state = given(pack, place, refund)
      .when(release)
      .thenRecords(released(release, { debtPaidFrom: [{ grantId: grantIdOf(pack), credits: 30 }] }));
    expect(state.balance).toBe(0);
    expect(state.grants.debt).toBe(0);
    expect(spendableCredits(state, plus(T0, 2 * MINUTE))).toBe(0);
  });

  it('writes off only what is neither there nor held: a hold of all the credits, a full refund, a release', () => {
    const placeAll = placeHoldOf('job-all', 100);
    const state = stateAfter(
      pack,
      placeAll,
      refundOf('pack-1', 1000, plus(T0, MINUTE), 'writeoff'),
      releaseOf(holdIdOf(placeAll), plus(T0, 2 * MINUTE)),
    );
    expect({ balance: state.balance, debt: state.grants.debt }).toEqual({ balance: 0, debt: 0 });
    expect(grantOf(state.grants, grantIdOf(pack)).remaining).toBe(0);
  });

  it('pays a refund’s debt with what a hold hands back, before its grant lapses', () => {
    const packEnd = plus(T0, DAY);
    const expiring = recharge('pack-2', 100, T0, packEnd);
    const placeIt = placeHoldOf('job-2', 30);
    const state = stateAfter(
      expiring,
      placeIt,
      refundOf('pack-2', 1000, plus(T0, MINUTE), 'debt'),
      releaseOf(holdIdOf(placeIt), plus(packEnd, MINUTE)),
    );
    // Nothing was consumed and all the money went back: the user owes nothing.
    expect({ balance: state.balance, debt: state.grants.debt }).toEqual({ balance: 0, debt: 0 });
  });

  it('freezes what a release hands back to a disputed recharge’s grant: nothing of the payment gets spendable', () => {
    const release = releaseOf(holdId, plus(T0, 2 * MINUTE));
    const state = given(pack, place, openDisputeOf('pack-1', 'dp_1', plus(T0, MINUTE)))
      .when(release)
      .thenRecords(
        released(release, {
          returnedTo: [{ grantId: grantIdOf(pack), credits: 30 }],
          frozenFrom: [{ grantId: grantIdOf(pack), credits: 30 }],
        }),
      );
    expect(state.frozenCredits).toBe(100);
    expect(spendableCredits(state, plus(T0, 2 * MINUTE))).toBe(0);
    expect(state.recharges.get('pack-1')?.dispute).toEqual({ disputeId: 'dp_1', frozenCredits: 100 });
    expect(decide(consume('spend-disputed', 1, plus(T0, 3 * MINUTE)), state).kind).toBe('refused');
  });

  it('freezes what a release hands back to the carry-over of a disputed plan period, as its dispute freezes it', () => {
    const periodEnd = plus(T0, DAY);
    const plan = recharge('plan-1', 100, T0, periodEnd);
    const withCarry = { ...plan, data: { ...plan.data, rollover: { expiresAt: plus(T0, 31 * DAY) } } };
    const carried = stateAfter(withCarry, expire(grantIdOf(plan), periodEnd));
    const carryOver = grantOf(carried.grants, grantIdOf(plan)).rolledInto!;
    const placeCarried = placeHoldOf('job-c', 40, plus(periodEnd, MINUTE));
    const state = stateAfter(
      withCarry,
      expire(grantIdOf(plan), periodEnd),
      placeCarried,
      openDisputeOf('plan-1', 'dp_2', plus(periodEnd, 2 * MINUTE)),
      releaseOf(holdIdOf(placeCarried), plus(periodEnd, 3 * MINUTE)),
    );
    expect(grantOf(state.grants, carryOver)).toMatchObject({ frozen: 100, held: 0 });
    expect(state.frozenCredits).toBe(100);
    expect(state.recharges.get('plan-1')?.dispute?.frozenCredits).toBe(100);
    expect(spendableCredits(state, plus(periodEnd, 3 * MINUTE))).toBe(0);
  });

  it('freezes for a dispute only what the hold left of the recharge’s grant', () => {
    const state = stateAfter(pack, place, openDisputeOf('pack-1', 'dp_1', plus(T0, MINUTE)));

    expect(state.frozenCredits).toBe(70);
    expect(grantOf(state.grants, grantIdOf(pack))).toMatchObject({ frozen: 70, held: 30 });
    expect(spendableCredits(state, plus(T0, MINUTE))).toBe(0);
    expect(
      stateAfter(
        pack,
        place,
        openDisputeOf('pack-1', 'dp_1', plus(T0, MINUTE)),
        captureOf(holdId, plus(T0, 2 * MINUTE)),
      ).balance,
    ).toBe(70);
  });

  it('voids only the unheld credits of a bonus; what the hold then hands back to it is voided too', () => {
    const welcome = bonus('welcome', 40);
    const placeWelcome = placeHoldOf('job-w', 15);
    const voiding = voidGrant(grantIdOf(welcome), plus(T0, MINUTE));
    const afterVoid = stateAfter(welcome, placeWelcome, voiding);
    expect(grantOf(afterVoid.grants, grantIdOf(welcome))).toMatchObject({ status: 'voided', voided: 25, held: 15 });

    const release = releaseOf(holdIdOf(placeWelcome), plus(T0, 2 * MINUTE));
    const state = given(welcome, placeWelcome, voiding)
      .when(release)
      .thenRecords(released(release, { lapsed: [{ grantId: grantIdOf(welcome), credits: 15 }] }));
    expect(grantOf(state.grants, grantIdOf(welcome))).toMatchObject({ voided: 40, held: 0 });
    expect(state.balance).toBe(0);
  });
});

describe('holds: refold', () => {
  it('folds a stream with holds into the same state whether decided or read back', () => {
    const commands: CreditsCommand[] = [
      pack,
      place,
      captureOf(holdId, plus(T0, MINUTE), 5),
      placeHoldOf('job-2', 10),
      expireHoldOf(holdIdOf(placeHoldOf('job-2', 10)), plus(T0, DAY)),
    ];
    const state = stateAfter(...commands);
    expect(state.balance).toBe(95);
    expect(state.grants.held).toBe(0);
    expect([...state.holds.values()].map((hold) => hold.status)).toEqual(
      [...state.holds.values()].map((hold) => (hold.holdId === holdId ? 'captured' : 'expired')),
    );
  });
});

describe('holds: the fold refuses an end or a placing that does not fit (a bug or a tampered stream)', () => {
  const atVersion = (state: CreditsState, event: CreditsEvent) =>
    recordAfter(state, [event], 1000n + BigInt(state.version))[0];
  const placedState = () => stateAfter(pack, place);

  it('refuses a hold placed twice under one id', () => {
    const state = placedState();
    const again = held(placeHoldOf('job-1', 30), [{ grantId: grantIdOf(pack), credits: 30 }], EXPIRES_AT);
    expect(() =>
      evolve(state, atVersion(state, { ...again, metadata: { ...again.metadata, idempotencyKey: 'other' } })),
    ).toThrow(`hold ${holdId} is placed twice`);
  });

  it('refuses a capture that moves other credits than the hold reserved', () => {
    const state = placedState();
    const capture = captureOf(holdId, plus(T0, MINUTE), 20);
    const tooFew = captured(capture, place, {
      capturedFrom: [{ grantId: grantIdOf(pack), credits: 20 }],
      returnedTo: [{ grantId: grantIdOf(pack), credits: 5 }],
    });
    expect(() => evolve(state, atVersion(state, tooFew))).toThrow(`does not end hold ${holdId}`);
  });

  it('takes an end that splits the hold’s credits over several lists', () => {
    const state = placedState();
    const capture = captureOf(holdId, plus(T0, MINUTE), 20);
    const split = captured(capture, place, {
      capturedFrom: [{ grantId: grantIdOf(pack), credits: 20 }],
      returnedTo: [{ grantId: grantIdOf(pack), credits: 10 }],
    });
    const after = evolve(state, atVersion(state, split));
    expect(after.holds.get(holdId)).toMatchObject({ status: 'captured', capturedAmount: 20 });
    expect(after.balance).toBe(80);
  });
});

describe('holds in the history', () => {
  it('shows what each hold held after it, its hold id, and splits a capture into paid and promotional credits', () => {
    const welcome = bonus('welcome', 10);
    const commands: CreditsCommand[] = [pack, welcome, place, captureOf(holdId, plus(T0, MINUTE), 15)];
    const events = commands.reduce<{ state: CreditsState; recorded: ReturnType<typeof recordAfter> }>(
      ({ state, recorded }, command) => {
        const decision = decide(command, state);
        if (decision.kind !== 'recorded') throw new Error(`${command.type} was ${decision.kind}`);
        const added = recordAfter(state, decision.events, 1000n + BigInt(state.version));
        return { state: added.reduce(evolve, state), recorded: [...recorded, ...added] };
      },
      { state: initialState(), recorded: [] },
    ).recorded;

    const { entries } = historyOf(events);

    expect(
      entries.map(({ type, delta, balanceAfter, heldCreditsAfter, holdId: id }) => ({
        type,
        delta,
        balanceAfter,
        heldCreditsAfter,
        holdId: id,
      })),
    ).toEqual([
      { type: 'RechargeCompleted', delta: 100, balanceAfter: 100, heldCreditsAfter: 0, holdId: null },
      { type: 'BonusGranted', delta: 10, balanceAfter: 110, heldCreditsAfter: 0, holdId: null },
      { type: 'CreditsHeld', delta: 0, balanceAfter: 110, heldCreditsAfter: 30, holdId },
      { type: 'HoldCaptured', delta: -15, balanceAfter: 95, heldCreditsAfter: 0, holdId },
    ]);
    // The hold drew the bonus's 10 first (promotional before paid), then 20 of the pack: the capture took 10 and 5.
    expect(entries[3]).toMatchObject({ paidCredits: 5, promotionalCredits: 10 });
    expect(HISTORY_FIELDS).toEqual(expect.arrayContaining(['holdId', 'heldCreditsAfter']));
  });
});

describe('holds: the key of a hold’s end', () => {
  it('is in a namespace of its own, which decide refuses to any other command (a caller’s bug)', () => {
    const squatter = { ...placeHoldOf('job-x', 1), metadata: { idempotencyKey: `hold-ended:${holdId}`, now: T0 } };
    expect(() => decide(squatter, stateAfter(pack, place))).toThrow(/hold's end key/);
    const consuming = { ...consume('x', 1), metadata: { idempotencyKey: `hold-ended:${holdId}`, now: T0 } };
    expect(() => decide(consuming, stateAfter(pack, place))).toThrow(/hold's end key/);
    expect(captureOf(holdId, T0).metadata.idempotencyKey).toBe(`hold-ended:${holdId}`);
  });
});
