/**
 * Refund failures against refunds recorded before report times were kept: a `RechargeRefunded` of the code
 * before dc2ff37 has no `refundedAt` (and was keyed `refund:<recharge>:<charge>:<amount>`). Its figure is placed
 * when it was recorded (`metadata.occurredAt`): Stripe made the report no later.
 */
import type {
  CompleteRecharge,
  ConsumeCredits,
  CreditsCommand,
  RefundRecharge,
  ReverseRefund,
} from './credits.commands';
import { decide } from './credits.decide';
import type { CreditsEvent, RechargeRefunded, ShortfallPolicy } from './credits.events';
import {
  eventIdFor,
  payloadFingerprint,
  rechargeIdempotencyKey,
  refundIdempotencyKey,
  refundReversedIdempotencyKey,
} from './credits.idempotency';
import { type CreditsState, evolve, initialState } from './credits.state';
import { creditsStreamId } from './credits.stream';
import { recordAfter } from './testing/credits.given-when-then';

/** 100 credits bought for 10.00 EUR (1,000 cents), paid by the charge `ch_1`. */
const USER_ID = 'user-1';
const STREAM_ID = creditsStreamId(USER_ID);
const RECHARGE_ID = 'pi_1';
const PAID_CENTS = 1_000;
/** 2025-03-01T09:00:00Z, Unix seconds: when the old refund was recorded, unless a test says otherwise. */
const T0 = 1_740_819_600;
const NOW = new Date(T0 * 1000).toISOString();
let consumeCount = 0;

describe('a refund recorded before report times were kept', () => {
  it('a refund made after it failed, reported before that failure comes, is taken back', () => {
    // Before the upgrade: re_1 (500) refunded, 50 credits taken back. After it: re_1 fails at T0+1000 (the
    // charge's amount_refunded goes to 0); re_2 (300) is made at T0+2000, and its charge.refunded (300) comes
    // before re_1's failure. In the end re_2 stands: 30 of the 100 credits are taken back.
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 500, creditsTakenBack: 50, recordedAt: T0 }),
      refund(300, T0 + 2_000),
      failure('re_1', 500, T0, T0 + 1_000),
    ]);
    // The report of re_2 is later than the old figure, and lower: it gives back the difference (20).
    expect(kinds).toEqual(['recorded', 'folded', 'recorded', 'recorded']);
    expect(state.balance).toBe(70);
    expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ amountRefundedTotal: 300, creditsTakenBack: 30 });
  });

  it('a refund made after it, failing before its own report comes, gives back nothing of it', () => {
    // re_1 (500) recorded before the upgrade (balance 50). After it: re_2 (300) made at T0+2000 and failed at
    // T0+2100; its refund.failed comes before its charge.refunded. re_2 was never taken back: re_1 stands.
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 500, creditsTakenBack: 50, recordedAt: T0 }),
      failure('re_2', 300, T0 + 2_000, T0 + 2_100),
    ]);
    expect(kinds).toEqual(['recorded', 'folded', 'recorded']);
    expect(state.balance).toBe(50);
    expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ amountRefundedTotal: 500, creditsTakenBack: 50 });
  });

  it('... so that under writeoff no credits are spent that the user does not have, nor written off', () => {
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 500, creditsTakenBack: 50, recordedAt: T0 }),
      failure('re_2', 300, T0 + 2_000, T0 + 2_100),
      consume(80),
      refund(800, T0 + 2_000, 'writeoff'),
    ]);
    // re_2's late report counts re_2, known to have failed: the charge stays at 500, nothing moves.
    expect(kinds).toEqual(['recorded', 'folded', 'recorded', 'refused:insufficient-credits', 'recorded']);
    expect(state.balance).toBe(50);
    expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ creditsTakenBack: 50, creditsWrittenOff: 0 });
  });

  it('its failure after the upgrade gives its credits back, once', () => {
    // re_1 was made two seconds before it was recorded, and fails a day later.
    const failed = failure('re_1', 500, T0 - 2, T0 + 86_400);
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 500, creditsTakenBack: 50, recordedAt: T0 }),
      failed,
      { ...failed, data: { ...failed.data, failedAt: T0 + 86_401 } },
    ]);
    expect(kinds).toEqual(['recorded', 'folded', 'recorded', 'replayed']);
    expect(state.balance).toBe(100);
    expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ amountRefundedTotal: 0, creditsTakenBack: 0 });
  });

  it('a refund that failed before a later old figure was recorded is not in that figure: its failure gives nothing', () => {
    // Before the upgrade: re_1 (300) made at T0-300 and recorded (30 credits); re_1 failed at T0-100 (the
    // refund.failed was ignored then); re_2 (500) made at T0, its charge.refunded (500, without re_1) recorded
    // at T0+1 (20 more). After the upgrade the operator reprocesses re_1's failure: re_2 alone stands.
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 300, creditsTakenBack: 30, recordedAt: T0 - 299 }),
      legacyRefunded({ amount: 500, creditsTakenBack: 20, recordedAt: T0 + 1 }),
      failure('re_1', 300, T0 - 300, T0 - 100),
    ]);
    expect(kinds).toEqual(['recorded', 'folded', 'folded', 'recorded']);
    expect(state.balance).toBe(50);
    expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ amountRefundedTotal: 500, creditsTakenBack: 50 });
  });

  it('an older report counting more, delivered after the upgrade, is refused: it counts a refund failed since', () => {
    // re_1 (500) made at T0-600, its charge.refunded held back by Stripe's retries; re_1 failed at T0-300 (the
    // refund.failed was ignored then); re_2 (300) made at T0-100, its report (300) recorded at T0. After the
    // upgrade both late events come: re_2 alone stands, 30 credits taken back.
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 300, creditsTakenBack: 30, recordedAt: T0 }),
      refund(500, T0 - 600),
      failure('re_1', 500, T0 - 600, T0 - 300),
    ]);
    expect(kinds).toEqual(['recorded', 'folded', 'refused:refund-already-applied', 'recorded']);
    expect(state.balance).toBe(70);
    expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ amountRefundedTotal: 300, creditsTakenBack: 30 });
  });

  it.each([500, 300])(
    'the upgrade procedure: a refund failed before it and made again (%i) is taken back once its failure, then its charge’s reports, are reprocessed',
    (retried) => {
      // Before the upgrade: re_1 (500) made at T0, recorded at T0+1 (50 credits). re_1 failed at T0+1000 (its
      // refund.failed recorded `ignored`). re_2 made at T0+2000: its charge.refunded (amount_refunded = re_2 alone)
      // was not above 500, refused or replayed under the old key, and nothing was recorded. After the upgrade the
      // operator reprocesses re_1's failure, then the charge.refunded of the same charge, in Stripe's `created`
      // order (the README's procedure; `npm run stripe -- sync` delivers them so).
      const { state, kinds } = run([
        recharge(100),
        legacyRefunded({ amount: 500, creditsTakenBack: 50, recordedAt: T0 + 1 }),
        failure('re_1', 500, T0, T0 + 1_000),
        refund(retried, T0 + 2_000),
      ]);
      expect(kinds).toEqual(['recorded', 'folded', 'recorded', 'recorded']);
      // Exact: re_2 alone stands.
      expect(state.balance).toBe(100 - retried / 10);
      expect(state.recharges.get(RECHARGE_ID)).toMatchObject({
        amountRefundedTotal: retried,
        creditsTakenBack: retried / 10,
      });
    },
  );

  it('its report delivered again after the upgrade, under its new key, changes nothing', () => {
    // Stripe made the report at T0-3; it was recorded at T0 under the old key.
    const { state, kinds } = run([
      recharge(100),
      legacyRefunded({ amount: 500, creditsTakenBack: 50, recordedAt: T0 }),
      refund(500, T0 - 3),
    ]);
    expect(kinds).toEqual(['recorded', 'folded', 'refused:refund-already-applied']);
    expect(state.balance).toBe(50);
  });
});

/** Decides and folds each command (or folds each event), as the runner does; returns the state and each outcome. */
function run(history: ReadonlyArray<CreditsCommand | CreditsEvent>): { state: CreditsState; kinds: string[] } {
  let state = initialState();
  const kinds: string[] = [];
  for (const fact of history) {
    if ('id' in fact) {
      state = recordAfter(state, [fact], 1000n + BigInt(state.version)).reduce(evolve, state);
      kinds.push('folded');
      continue;
    }
    const decision = decide(fact, state);
    kinds.push(decision.kind === 'refused' ? `refused:${decision.error.type}` : decision.kind);
    if (decision.kind === 'recorded') {
      state = recordAfter(state, decision.events, 1000n + BigInt(state.version)).reduce(evolve, state);
    }
  }
  return { state, kinds };
}

function recharge(credits: number): CompleteRecharge {
  return {
    type: 'CompleteRecharge',
    data: {
      userId: USER_ID,
      rechargeId: RECHARGE_ID,
      credits,
      amountPaid: PAID_CENTS,
      currency: 'eur',
      source: { kind: 'stripe', paymentIntentId: RECHARGE_ID },
      metadata: {},
    },
    metadata: { idempotencyKey: rechargeIdempotencyKey(RECHARGE_ID), now: NOW },
  };
}

function consume(amount: number): ConsumeCredits {
  consumeCount += 1;
  return {
    type: 'ConsumeCredits',
    data: {
      userId: USER_ID,
      feature: 'video_generation',
      reference: `render-${consumeCount}`,
      requestedAmount: amount,
      price: { credits: 1, amountOverride: { amountMax: 1_000 } },
      metadata: {},
    },
    metadata: { idempotencyKey: `consume-${consumeCount}`, now: NOW },
  };
}

/** charge.refunded of `ch_1` reporting `amount` refunded in all, made by Stripe at `at`. */
function refund(amount: number, at: number, shortfallPolicy: ShortfallPolicy = 'debt'): RefundRecharge {
  return {
    type: 'RefundRecharge',
    data: {
      userId: USER_ID,
      rechargeId: RECHARGE_ID,
      chargeId: 'ch_1',
      amountRefundedOfCharge: amount,
      refundedAt: at,
      shortfallPolicy,
      source: { kind: 'stripe', stripeEventId: `evt_refunded_${amount}_${at}`, chargeId: 'ch_1' },
    },
    metadata: { idempotencyKey: refundIdempotencyKey(RECHARGE_ID, 'ch_1', amount, at), now: NOW },
  };
}

/** refund.failed of `refundId` (`amount`, on `ch_1`), created at `createdAt`, failed at `failedAt`. */
function failure(refundId: string, amount: number, createdAt: number, failedAt: number): ReverseRefund {
  return {
    type: 'ReverseRefund',
    data: {
      userId: USER_ID,
      rechargeId: RECHARGE_ID,
      refundId,
      chargeId: 'ch_1',
      amount,
      status: 'failed',
      refundCreatedAt: createdAt,
      failedAt,
      source: { kind: 'stripe', stripeEventId: `evt_failed_${refundId}`, chargeId: 'ch_1', refundId },
    },
    metadata: { idempotencyKey: refundReversedIdempotencyKey(refundId), now: NOW },
  };
}

/**
 * A `RechargeRefunded` as the code before dc2ff37 recorded it, under debt with a balance that held the credits:
 * key `refund:<recharge>:<charge>:<amount>`, no `refundedAt`, decided at `recordedAt` (Unix seconds).
 */
function legacyRefunded(refunded: { amount: number; creditsTakenBack: number; recordedAt: number }): RechargeRefunded {
  const { amount, creditsTakenBack, recordedAt } = refunded;
  const idempotencyKey = `refund:${RECHARGE_ID}:ch_1:${amount}`;
  const source = { kind: 'stripe' as const, stripeEventId: `evt_legacy_${amount}`, chargeId: 'ch_1' };
  const occurredAt = new Date(recordedAt * 1000).toISOString();
  const legacyCommand = {
    type: 'RefundRecharge',
    data: {
      userId: USER_ID,
      rechargeId: RECHARGE_ID,
      chargeId: 'ch_1',
      amountRefundedOfCharge: amount,
      shortfallPolicy: 'debt',
      source,
    },
    metadata: { idempotencyKey, now: occurredAt },
  } as unknown as CreditsCommand;
  // As the parser reads it: version 1 upcast to version 2 (nothing lapsed, `takenFrom` unknown).
  return {
    type: 'RechargeRefunded',
    schemaVersion: 2,
    id: eventIdFor(STREAM_ID, idempotencyKey),
    data: {
      rechargeId: RECHARGE_ID,
      reason: 'refund',
      refundedBy: 'ch_1',
      amountRefundedBy: amount,
      amountRefundedTotal: amount,
      creditsTakenBack,
      creditsLapsed: 0,
      creditsDebited: creditsTakenBack,
      shortfallCredits: 0,
      shortfallPolicy: 'debt',
      creditsUnfrozen: 0,
      source,
    },
    metadata: { idempotencyKey, payloadFingerprint: payloadFingerprint(legacyCommand), occurredAt },
  };
}
