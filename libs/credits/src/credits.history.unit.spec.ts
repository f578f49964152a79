import type { CreditsCommand } from './credits.commands';
import { decide } from './credits.decide';
import type { RecordedCreditsEvent } from './credits.events';
import { historyOf } from './credits.history';
import { rechargeIdempotencyKey, refundIdempotencyKey, refundReversedIdempotencyKey } from './credits.idempotency';
import { type CreditsState, evolve, initialState } from './credits.state';
import { recordAfter } from './testing/credits.given-when-then';

/**
 * A user's history worked out by hand: a pack of 100 credits bought at 09:00,
 * 30 spent at 10:00, a bonus of 20 at 11:00, the pack refunded by a quarter
 * (25 credits) at 12:00, that refund failed at 13:00 (its 25 credits given
 * back). Balances after each: 100, 70, 90, 65, 90.
 */
const USER_ID = 'user-1';
const AT = (hour: number) => `2025-03-01T${String(hour).padStart(2, '0')}:00:00.000Z`;
/** When Stripe reported the refund (Unix seconds). */
const REFUNDED_AT = Date.parse(AT(12)) / 1000;

describe('historyOf', () => {
  const commandsOfTheDay: CreditsCommand[] = [
    {
      type: 'CompleteRecharge',
      data: {
        userId: USER_ID,
        rechargeId: 'pi_1',
        credits: 100,
        amountPaid: 1_000,
        currency: 'usd',
        source: { kind: 'stripe', stripeEventId: 'evt_paid', paymentIntentId: 'pi_1' },
        metadata: {},
      },
      metadata: { idempotencyKey: rechargeIdempotencyKey('pi_1'), now: AT(9), causedBy: { stripeEventId: 'evt_paid' } },
    },
    {
      type: 'ConsumeCredits',
      data: {
        userId: USER_ID,
        feature: 'video_generation',
        reference: 'render-1',
        requestedAmount: 30,
        price: { credits: 10, amountOverride: { amountMax: 1_000 } },
        metadata: {},
      },
      metadata: { idempotencyKey: 'consume:render-1', now: AT(10), causedBy: { apiKey: 'backend' } },
    },
    {
      type: 'GrantBonus',
      data: { userId: USER_ID, amount: 20, reason: 'welcome', metadata: {} },
      metadata: { idempotencyKey: 'bonus:welcome', now: AT(11), causedBy: { apiKey: 'ops' } },
    },
    {
      type: 'RefundRecharge',
      data: {
        userId: USER_ID,
        rechargeId: 'pi_1',
        chargeId: 'ch_1',
        amountRefundedOfCharge: 250,
        refundedAt: REFUNDED_AT,
        shortfallPolicy: 'debt',
        source: { kind: 'stripe', stripeEventId: 'evt_refund', chargeId: 'ch_1' },
      },
      metadata: {
        idempotencyKey: refundIdempotencyKey('pi_1', 'ch_1', 250, REFUNDED_AT),
        now: AT(12),
        causedBy: { stripeEventId: 'evt_refund' },
      },
    },
    {
      type: 'ReverseRefund',
      data: {
        userId: USER_ID,
        rechargeId: 'pi_1',
        refundId: 're_1',
        chargeId: 'ch_1',
        amount: 250,
        status: 'failed',
        failureReason: 'expired_or_canceled_card',
        refundCreatedAt: REFUNDED_AT,
        failedAt: REFUNDED_AT + 3600,
        source: { kind: 'stripe', stripeEventId: 'evt_refund_failed', chargeId: 'ch_1', refundId: 're_1' },
      },
      metadata: {
        idempotencyKey: refundReversedIdempotencyKey('re_1'),
        now: AT(13),
        causedBy: { stripeEventId: 'evt_refund_failed' },
      },
    },
  ];
  const events = recorded(commandsOfTheDay);

  it('gives every event with its signed delta, running balance and cause, and the balance at the end', () => {
    const history = historyOf(events);

    expect(history.entries.map(({ delta, balanceAfter }) => [delta, balanceAfter])).toEqual([
      [100, 100],
      [-30, 70],
      [20, 90],
      [-25, 65],
      [25, 90],
    ]);
    expect(history).toMatchObject({ balance: 90, version: 5, frozenCredits: 0 });
    expect(history.entries[0]).toMatchObject({
      type: 'RechargeCompleted',
      stripeEventId: 'evt_paid',
      rechargeId: 'pi_1',
      paymentIntentId: 'pi_1',
      apiKey: null,
    });
    expect(history.entries[1]).toMatchObject({ apiKey: 'backend', feature: 'video_generation', reference: 'render-1' });
    expect(history.entries[3]).toMatchObject({ type: 'RechargeRefunded', chargeId: 'ch_1', reason: 'refund' });
    expect(history.entries[4]).toMatchObject({
      type: 'RefundReversed',
      rechargeId: 'pi_1',
      chargeId: 'ch_1',
      reason: 'refund-failed',
      stripeEventId: 'evt_refund_failed',
      idempotencyKey: 'refund-reversed:re_1',
    });
  });

  it('names each grant, where each consumption drew from, and its paid and promotional credits', () => {
    const withBonusSpent = recorded([
      ...commandsOfTheDay.slice(0, 3),
      {
        type: 'ConsumeCredits',
        data: {
          userId: USER_ID,
          feature: 'video_generation',
          reference: 'render-2',
          requestedAmount: 25,
          price: { credits: 10, amountOverride: { amountMax: 1_000 } },
          metadata: {},
        },
        metadata: { idempotencyKey: 'consume:render-2', now: AT(12), causedBy: { apiKey: 'backend' } },
      },
    ]);
    const [pack, firstRender, bonus, secondRender] = historyOf(withBonusSpent).entries;

    expect(pack).toMatchObject({ grantId: withBonusSpent[0].id, paidCredits: null, promotionalCredits: null });
    expect(firstRender).toMatchObject({ drawnFrom: `${pack.grantId}:30`, paidCredits: 30, promotionalCredits: 0 });
    expect(bonus).toMatchObject({ grantId: withBonusSpent[2].id });
    // The bonus is promotional, spent first: its 20, then 5 of the pack.
    expect(secondRender).toMatchObject({
      drawnFrom: `${bonus.grantId}:20;${pack.grantId}:5`,
      paidCredits: 5,
      promotionalCredits: 20,
    });
  });

  it.each([
    ['at version 2', { atVersion: 2 }, 70, 2],
    ['as of 10:30', { asOf: '2025-03-01T10:30:00.000Z' }, 70, 2],
    ['as of 11:00 exactly', { asOf: AT(11) }, 90, 3],
    ['as of 08:00, before anything', { asOf: AT(8) }, 0, 0],
  ])('stops %s: the balance at that moment', (_, stop, balance, version) => {
    const history = historyOf(events, stop);

    expect(history).toMatchObject({ balance, version });
    expect(history.entries).toHaveLength(version);
  });
});

function recorded(commands: CreditsCommand[]): RecordedCreditsEvent[] {
  const events: RecordedCreditsEvent[] = [];
  let state: CreditsState = initialState();
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type} was not recorded`);
    const stored = recordAfter(state, decision.events, 1000n + BigInt(state.version));
    state = stored.reduce(evolve, state);
    events.push(...stored);
  }
  return events;
}
