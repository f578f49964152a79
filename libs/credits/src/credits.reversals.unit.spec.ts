import fc from 'fast-check';
import type {
  CloseDispute,
  CompleteRecharge,
  ConsumeCredits,
  CreditsCommand,
  OpenDispute,
  RefundRecharge,
} from './credits.commands';
import { decide } from './credits.decide';
import type { CreditsEvent, RechargeRefunded, ShortfallPolicy } from './credits.events';
import {
  disputeIdempotencyKey,
  eventIdFor,
  payloadFingerprint,
  rechargeIdempotencyKey,
  refundIdempotencyKey,
} from './credits.idempotency';
import { type CreditsState, evolve, initialState } from './credits.state';
import { creditsStreamId } from './credits.stream';
import { given, recordAfter } from './testing/credits.given-when-then';

/** Refunds and disputes of one recharge: 100 credits bought for 10.00 EUR (1,000 cents). */
const USER_ID = 'user-1';
const STREAM_ID = creditsStreamId(USER_ID);
const NOW = '2025-03-01T09:00:00.000Z';
const RECHARGE_ID = 'pi_1';
const PAID_CENTS = 1_000;
/** Each consumption gets a reference (and key) of its own. */
let consumeCount = 0;

describe('refunds', () => {
  describe('when a recharge of 100 credits is refunded in two parts', () => {
    it('takes back the share of each part, computed from the cumulative amount refunded', () => {
      const first = refund(300);
      const afterFirst = given(recharge(100))
        .when(first)
        .thenRecords(refunded(first, { creditsTakenBack: 30, creditsDebited: 30 }));
      expect(afterFirst.balance).toBe(70);

      const second = refund(500);
      const afterSecond = given(recharge(100), first)
        .when(second)
        .thenRecords(refunded(second, { creditsTakenBack: 20, creditsDebited: 20 }));
      expect(afterSecond.balance).toBe(50);
    });

    it('rounds each share down, and the full refund takes back exactly every credit', () => {
      const partial = refund(333);
      given(recharge(100))
        .when(partial)
        .thenRecords(refunded(partial, { creditsTakenBack: 33, creditsDebited: 33 }));

      const full = refund(PAID_CENTS);
      const state = given(recharge(100), partial)
        .when(full)
        .thenRecords(refunded(full, { creditsTakenBack: 67, creditsDebited: 67 }));
      expect(state.balance).toBe(0);
      expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ creditsTakenBack: 100, amountRefundedTotal: 1_000 });
    });

    it('replays a redelivered refund and refuses an older one arriving late', () => {
      const original = given(recharge(100), refund(300), refund(500));

      original
        .when(refund(300, { now: '2025-03-02T00:00:00.000Z' }))
        .thenReplays(expect.objectContaining({ eventType: 'RechargeRefunded', amount: 30, balanceAfter: 70 }));
      original.when(refund(400)).thenRefuses({
        type: 'refund-already-applied',
        rechargeId: RECHARGE_ID,
        chargeId: 'ch_1',
        amountRefundedOfCharge: 500,
      });
    });

    it('counts each charge of a recharge on its own: two charges refunding 500 each take back everything', () => {
      const second = refund(500, { chargeId: 'ch_2' });
      const state = given(recharge(100), refund(500))
        .when(second)
        .thenRecords(refunded(second, { creditsTakenBack: 50, creditsDebited: 50, amountRefundedTotal: 1_000 }));

      expect(state.balance).toBe(0);
      expect(state.recharges.get(RECHARGE_ID)).toMatchObject({ amountRefundedBy: { ch_1: 500, ch_2: 500 } });
    });
  });

  describe('when the refunded credits were already spent (balance 10 of the 100)', () => {
    const history = [recharge(100), consume(90)];

    it('under debt, debits them all: the balance goes below zero and the shortfall is recorded', () => {
      const full = refund(PAID_CENTS, { shortfallPolicy: 'debt' });
      const state = given(...history)
        .when(full)
        .thenRecords(refunded(full, { creditsTakenBack: 100, creditsDebited: 100, shortfallCredits: 90 }));
      expect(state.balance).toBe(-90);
    });

    it('under debt, a later recharge pays the debt first and consumption waits for a positive balance', () => {
      const inDebt = [...history, refund(PAID_CENTS, { shortfallPolicy: 'debt' })];
      given(...inDebt)
        .when(consume(1))
        .thenRefuses({ type: 'insufficient-credits', balance: -90, requested: 1 });
      given(...inDebt, recharge(100, 'pi_2'))
        .when(consume(11))
        .thenRefuses({ type: 'insufficient-credits', balance: 10, requested: 11 });
    });

    it('under writeoff, debits what the balance holds, stops at zero and records the shortfall', () => {
      const full = refund(PAID_CENTS, { shortfallPolicy: 'writeoff' });
      const state = given(...history)
        .when(full)
        .thenRecords(refunded(full, { creditsTakenBack: 100, creditsDebited: 10, shortfallCredits: 90 }));
      expect(state.balance).toBe(0);
    });
  });

  describe('refusals', () => {
    it('refuses a refund of a recharge this stream does not hold', () => {
      given().when(refund(100)).thenRefuses({ type: 'unknown-recharge', rechargeId: RECHARGE_ID });
    });

    it('refuses a refunded amount above what was paid', () => {
      given(recharge(100))
        .when(refund(PAID_CENTS + 1))
        .thenRefuses({
          type: 'invalid-refund-amount',
          rechargeId: RECHARGE_ID,
          amountRefundedOfCharge: 1_001,
          amountPaid: PAID_CENTS,
        });
    });

    it('throws on a refund keyed other than by its recharge, charge and cumulative amount: a caller bug', () => {
      const misKeyed = { ...refund(300), metadata: { idempotencyKey: 'evt_1', now: NOW } };
      expect(() => decide(misKeyed, initialState())).toThrow('must carry the idempotency key "refund:pi_1:ch_1:300"');
    });
  });
});

describe('disputes', () => {
  describe('when a dispute opens on a recharge of 100 credits, 40 of them spent', () => {
    const history = [recharge(100), consume(40)];

    it('freezes what is left of the recharge: the balance stays, but it may not be spent', () => {
      const opened = openDispute();
      const state = given(...history)
        .when(opened)
        .thenRecords(eventOf(opened, 'CreditsFrozen', { credits: 60 }));
      expect(state).toMatchObject({ balance: 60, frozenCredits: 60 });
      given(...history, opened)
        .when(consume(1))
        .thenRefuses({ type: 'insufficient-credits', balance: 60, requested: 1, frozenCredits: 60 });
    });

    it('releases the frozen credits when the dispute is won', () => {
      const won = closeDispute('won');
      const state = given(...history, openDispute())
        .when(won)
        .thenRecords(eventOf(won, 'CreditsUnfrozen', { credits: 60 }));
      expect(state).toMatchObject({ balance: 60, frozenCredits: 0 });
    });

    it('takes the disputed share back when lost, releasing what it froze', () => {
      const lost = closeDispute('lost', { shortfallPolicy: 'debt' });
      const state = given(...history, openDispute())
        .when(lost)
        .thenRecords(
          refunded(lost, {
            reason: 'dispute-lost',
            creditsTakenBack: 100,
            creditsDebited: 100,
            shortfallCredits: 40,
            creditsUnfrozen: 60,
            amountRefundedTotal: PAID_CENTS,
          }),
        );
      expect(state).toMatchObject({ balance: -40, frozenCredits: 0 });
    });

    it('refuses to open a dispute whose closing is recorded: a late opening freezes nothing', () => {
      given(...history, closeDispute('lost'))
        .when(openDispute())
        .thenRefuses({ type: 'dispute-already-closed', rechargeId: RECHARGE_ID, disputeId: 'dp_1' });
    });

    it('refuses a second dispute while one is open', () => {
      given(...history, openDispute())
        .when(openDispute('dp_2'))
        .thenRefuses({ type: 'dispute-already-open', rechargeId: RECHARGE_ID, disputeId: 'dp_1' });
    });

    it('records a win it never saw open, releasing nothing, so that a late opening freezes nothing', () => {
      const won = closeDispute('won');
      given(...history)
        .when(won)
        .thenRecords(eventOf(won, 'CreditsUnfrozen', { credits: 0 }));
      given(...history, won)
        .when(openDispute())
        .thenRefuses({ type: 'dispute-already-closed', rechargeId: RECHARGE_ID, disputeId: 'dp_1' });
    });
  });
});

describe('evolve', () => {
  it('throws on a writeoff refund that would leave the balance below zero: decide never makes one', () => {
    const state = foldAll([recharge(100), consume(90)]);
    const forged = refunded(refund(PAID_CENTS, { shortfallPolicy: 'writeoff' }), {
      creditsTakenBack: 100,
      creditsDebited: 100,
      shortfallCredits: 90,
    });

    expect(() => recordAfter(state, [forged], 2000n).reduce(evolve, state)).toThrow('out of bounds (-90)');
  });
});

function recharge(credits: number, rechargeId = RECHARGE_ID): CompleteRecharge {
  return {
    type: 'CompleteRecharge',
    data: {
      userId: USER_ID,
      rechargeId,
      credits,
      amountPaid: PAID_CENTS,
      currency: 'eur',
      source: { kind: 'stripe', stripeEventId: 'evt_paid', paymentIntentId: rechargeId },
      metadata: {},
    },
    metadata: { idempotencyKey: rechargeIdempotencyKey(rechargeId), now: NOW },
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

/** The charge `ch_1` (unless named) has refunded `amountRefundedOfCharge` in all. */
function refund(
  amountRefundedOfCharge: number,
  options: { shortfallPolicy?: ShortfallPolicy; now?: string; chargeId?: string } = {},
): RefundRecharge {
  const chargeId = options.chargeId ?? 'ch_1';
  return {
    type: 'RefundRecharge',
    data: {
      userId: USER_ID,
      rechargeId: RECHARGE_ID,
      chargeId,
      amountRefundedOfCharge,
      shortfallPolicy: options.shortfallPolicy ?? 'debt',
      source: { kind: 'stripe', stripeEventId: `evt_refund_${amountRefundedOfCharge}`, chargeId },
    },
    metadata: {
      idempotencyKey: refundIdempotencyKey(RECHARGE_ID, chargeId, amountRefundedOfCharge),
      now: options.now ?? NOW,
    },
  };
}

function openDispute(disputeId = 'dp_1'): OpenDispute {
  return {
    type: 'OpenDispute',
    data: { userId: USER_ID, rechargeId: RECHARGE_ID, disputeId, source: { kind: 'stripe', disputeId } },
    metadata: { idempotencyKey: disputeIdempotencyKey(disputeId, 'opened'), now: NOW },
  };
}

function closeDispute(outcome: 'won' | 'lost', options: { shortfallPolicy?: ShortfallPolicy } = {}): CloseDispute {
  return {
    type: 'CloseDispute',
    data: {
      userId: USER_ID,
      rechargeId: RECHARGE_ID,
      disputeId: 'dp_1',
      outcome,
      amountDisputed: PAID_CENTS,
      shortfallPolicy: options.shortfallPolicy ?? 'debt',
      source: { kind: 'stripe', disputeId: 'dp_1' },
    },
    metadata: { idempotencyKey: disputeIdempotencyKey('dp_1', 'closed'), now: NOW },
  };
}

function metadataOf(command: RefundRecharge | OpenDispute | CloseDispute) {
  return {
    id: eventIdFor(STREAM_ID, command.metadata.idempotencyKey),
    metadata: {
      idempotencyKey: command.metadata.idempotencyKey,
      payloadFingerprint: payloadFingerprint(command),
      occurredAt: command.metadata.now,
    },
  };
}

function refunded(
  command: RefundRecharge | CloseDispute,
  amounts: Partial<RechargeRefunded['data']> & { creditsTakenBack: number; creditsDebited: number },
): RechargeRefunded {
  const { shortfallPolicy, source } = command.data;
  return {
    type: 'RechargeRefunded',
    schemaVersion: 1,
    ...metadataOf(command),
    data: {
      rechargeId: RECHARGE_ID,
      reason: 'refund',
      ...refundedByOf(command),
      shortfallCredits: 0,
      shortfallPolicy,
      creditsUnfrozen: 0,
      source: command.type === 'CloseDispute' ? { ...source, disputeId: command.data.disputeId } : source,
      ...amounts,
    },
  };
}

/** What refunded, as the event names it: the charge and its cumulative amount, or the lost dispute's. */
function refundedByOf(command: RefundRecharge | CloseDispute) {
  if (command.type === 'RefundRecharge') {
    const { chargeId, amountRefundedOfCharge } = command.data;
    return {
      refundedBy: chargeId,
      amountRefundedBy: amountRefundedOfCharge,
      amountRefundedTotal: amountRefundedOfCharge,
    };
  }
  const { disputeId, amountDisputed } = command.data;
  return { refundedBy: `dispute:${disputeId}`, amountRefundedBy: amountDisputed, amountRefundedTotal: amountDisputed };
}

function eventOf(
  command: OpenDispute | CloseDispute,
  type: 'CreditsFrozen' | 'CreditsUnfrozen',
  { credits }: { credits: number },
): CreditsEvent {
  const { rechargeId, disputeId, source } = command.data;
  return { type, schemaVersion: 1, ...metadataOf(command), data: { rechargeId, disputeId, credits, source } };
}

describe('refund properties', () => {
  it('takes back the share of the largest amount refunded, whatever the order and repeats, spent or not', () => {
    const deliveries = fc.array(fc.integer({ min: 1, max: PAID_CENTS }), { minLength: 1, maxLength: 12 });
    const ledger = fc
      .integer({ min: 1, max: 10_000 })
      .chain((credits) => fc.tuple(fc.constant(credits), fc.integer({ min: 0, max: Math.min(credits, 1_000) })));
    fc.assert(
      fc.property(
        ledger,
        deliveries,
        fc.constantFrom<ShortfallPolicy>('debt', 'writeoff'),
        ([credits, spent], amounts, policy) => {
          let state = foldAll(spent > 0 ? [recharge(credits), consume(spent)] : [recharge(credits)]);
          for (const amount of amounts) {
            const decision = decide(refund(amount, { shortfallPolicy: policy }), state);
            if (decision.kind === 'recorded') state = recordAfter(state, decision.events, 5000n).reduce(evolve, state);
          }
          // Worked out here by hand: credits × refunded ÷ paid, rounded down, all of them once fully refunded.
          const largest = Math.max(...amounts);
          const expected = largest === PAID_CENTS ? credits : Math.floor((credits * largest) / PAID_CENTS);
          const left = credits - spent - expected;

          expect(state.recharges.get(RECHARGE_ID)!.creditsTakenBack).toBe(expected);
          expect(state.balance).toBe(policy === 'debt' ? left : Math.max(0, left));
        },
      ),
      { numRuns: 300 },
    );
  });
});

function foldAll(commands: CreditsCommand[]): CreditsState {
  return commands.reduce((state, command) => {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type} not recorded`);
    return recordAfter(state, decision.events, 1000n).reduce(evolve, state);
  }, initialState());
}
