import type { RecordTopUpOutcome, RequestTopUp } from './credits.commands';
import { decide } from './credits.decide';
import type { TopUpFailed, TopUpRequested, TopUpSucceeded } from './credits.events';
import { payloadFingerprint } from './credits.idempotency';
import { type CreditsState, balanceDelta, evolve, frozenDelta, initialState } from './credits.state';
import { heldDelta } from './credits.holds';
import { TOP_UP_CREDIT_WAIT_MS, topUpOutcomeIdempotencyKey, topUpRequestIdempotencyKey } from './credits.top-ups';
import { given, recordAfter } from './testing/credits.given-when-then';
import { GRANTS_USER_ID, T0, bonus, consume, eventIdOf, plus, recharge } from './testing/grant-commands';

const LIMITS = { maxPerMonth: 2 };

function requestOf(
  crossingEventId: string,
  now = T0,
  limits: { maxPerMonth: number; maxAmountPerMonth?: number } = LIMITS,
  currency = 'usd',
): RequestTopUp {
  return {
    type: 'RequestTopUp',
    data: {
      userId: GRANTS_USER_ID,
      crossingEventId,
      belowCredits: 10,
      packId: 'pack_100',
      credits: 100,
      amount: 999,
      currency,
      customerId: 'cus_1',
      paymentMethodId: 'pm_1',
      ...limits,
    },
    metadata: { idempotencyKey: topUpRequestIdempotencyKey(crossingEventId), now },
  };
}

function outcomeOf(
  request: RequestTopUp,
  outcome: RecordTopUpOutcome['data']['outcome'],
  now = T0,
): RecordTopUpOutcome {
  const topUpId = eventIdOf(request);
  return {
    type: 'RecordTopUpOutcome',
    data: { userId: GRANTS_USER_ID, topUpId, outcome },
    metadata: { idempotencyKey: topUpOutcomeIdempotencyKey(topUpId), now },
  };
}

const succeeded = { kind: 'succeeded' as const, paymentIntentId: 'pi_1', status: 'succeeded' };
const declined = { kind: 'failed' as const, reason: 'card_declined', message: 'Your card was declined.' };

function requested(command: RequestTopUp): TopUpRequested {
  const { userId, maxPerMonth, maxAmountPerMonth, ...data } = command.data;
  void userId;
  void maxPerMonth;
  void maxAmountPerMonth;
  return {
    type: 'TopUpRequested',
    schemaVersion: 1,
    id: eventIdOf(command),
    data,
    metadata: {
      idempotencyKey: command.metadata.idempotencyKey,
      payloadFingerprint: payloadFingerprint(command),
      occurredAt: command.metadata.now,
    },
  };
}

describe('automatic top-ups on the stream', () => {
  it('records a request that moves no credits', () => {
    const request = requestOf('crossing-1');
    const event = requested(request);
    given(bonus('b', 20), consume('c', 15)).when(request).thenRecords(event);
    expect([balanceDelta(event), frozenDelta(event), heldDelta(event)]).toEqual([0, 0, 0]);
  });

  it('answers a retry of the same crossing with the first request, even with other settings', () => {
    const request = requestOf('crossing-1');
    const retried = { ...request, data: { ...request.data, packId: 'pack_other', amount: 5 } };
    const decision = decide(retried, foldedWith(request));
    expect(decision.kind).toBe('replayed');
  });

  it('refuses a new request while one is pending, and takes one once its outcome is recorded', () => {
    const first = requestOf('crossing-1');
    given(first)
      .when(requestOf('crossing-2'))
      .thenRefuses({ type: 'top-up-refused', reason: 'pending', pendingTopUpId: eventIdOf(first) });
    const second = requestOf('crossing-2');
    given(first, outcomeOf(first, declined)).when(second).thenRecords(requested(second));
  });

  it('records one outcome per top-up: a success, or a failure with its reason', () => {
    const request = requestOf('crossing-1');
    const success = outcomeOf(request, succeeded);
    const expected: TopUpSucceeded = {
      type: 'TopUpSucceeded',
      schemaVersion: 1,
      id: eventIdOf(success),
      data: { topUpId: eventIdOf(request), paymentIntentId: 'pi_1', status: 'succeeded' },
      metadata: {
        idempotencyKey: success.metadata.idempotencyKey,
        payloadFingerprint: payloadFingerprint(success),
        occurredAt: T0,
      },
    };
    given(request).when(success).thenRecords(expected);
    const failure = outcomeOf(request, declined);
    const failed: TopUpFailed = {
      ...expected,
      type: 'TopUpFailed',
      id: eventIdOf(failure),
      data: { topUpId: eventIdOf(request), reason: 'card_declined', message: 'Your card was declined.' },
      metadata: { ...expected.metadata, payloadFingerprint: payloadFingerprint(failure) },
    };
    given(request).when(failure).thenRecords(failed);
    // A second report of the outcome, even another one, gets the first: a top-up is charged once.
    expect(decide(failure, foldedWith(request, success)).kind).toBe('replayed');
  });

  it('refuses an outcome for a top-up it does not hold', () => {
    const request = requestOf('crossing-1');
    given()
      .when(outcomeOf(request, succeeded))
      .thenRefuses({ type: 'unknown-top-up', topUpId: eventIdOf(request) });
  });

  it('counts failed requests toward maxPerMonth, per UTC calendar month', () => {
    const first = requestOf('c1', '2026-01-10T00:00:00.000Z');
    const second = requestOf('c2', '2026-01-20T00:00:00.000Z');
    const history = [first, outcomeOf(first, declined), second, outcomeOf(second, declined)];
    given(...history)
      .when(requestOf('c3', '2026-01-31T23:59:59.999Z'))
      .thenRefuses({ type: 'top-up-refused', reason: 'monthly-count' });
    const nextMonth = requestOf('c3', '2026-02-01T00:00:00.000Z');
    given(...history)
      .when(nextMonth)
      .thenRecords(requested(nextMonth));
  });

  it('keeps the month amount under maxAmountPerMonth when set', () => {
    const limits = { maxPerMonth: 10, maxAmountPerMonth: 1500 };
    const first = requestOf('c1', T0, limits);
    given(first, outcomeOf(first, declined))
      .when(requestOf('c2', T0, limits))
      .thenRefuses({ type: 'top-up-refused', reason: 'monthly-amount' });
  });
});

describe('a top-up Stripe accepted', () => {
  const accepted = { kind: 'succeeded' as const, paymentIntentId: 'pi_topup', status: 'succeeded' };

  it('stays pending until its payment is credited: a second dip before the credit charges nothing', () => {
    const first = requestOf('c1');
    given(first, outcomeOf(first, accepted))
      .when(requestOf('c2'))
      .thenRefuses({ type: 'top-up-refused', reason: 'pending', pendingTopUpId: eventIdOf(first) });
    const second = requestOf('c2');
    given(first, outcomeOf(first, accepted), recharge('pi_topup', 100), consume('c', 95))
      .when(second)
      .thenRecords(requested(second));
  });

  it('is over when its payment was credited before its acceptance was recorded', () => {
    const first = requestOf('c1');
    const second = requestOf('c2');
    given(first, recharge('pi_topup', 100), consume('c', 95), outcomeOf(first, accepted))
      .when(second)
      .thenRecords(requested(second));
  });

  it('takes no second outcome: its payment ends it', () => {
    const first = requestOf('c1');
    const late = outcomeOf(first, declined);
    expect(decide(late, foldedWith(first, outcomeOf(first, accepted))).kind).toBe('replayed');
  });

  it('stops holding new top-ups back once its credit is overdue by the webhook’s three days', () => {
    const first = requestOf('c1');
    const overdue = requestOf('c2', plus(T0, TOP_UP_CREDIT_WAIT_MS + 1));
    given(first, outcomeOf(first, accepted)).when(overdue).thenRecords(requested(overdue));
  });
});

describe('a top-up no longer needed or over the limits', () => {
  it('is refused when the user may spend the threshold again by now (a crossing worked late)', () => {
    given(bonus('b', 10))
      .when(requestOf('c1'))
      .thenRefuses({ type: 'top-up-refused', reason: 'above-threshold', spendable: 10 });
  });

  it('counts a request stamped by a clock behind at the month’s turn in the later month, never resetting it', () => {
    const limits = { maxPerMonth: 2 };
    const febFirst = requestOf('c1', '2026-02-01T00:00:05.000Z', limits);
    const skewed = requestOf('c2', '2026-01-31T23:59:57.000Z', limits);
    const history = [
      febFirst,
      outcomeOf(febFirst, declined, '2026-02-01T00:00:06.000Z'),
      skewed,
      outcomeOf(skewed, declined, '2026-02-01T00:00:08.000Z'),
    ];
    given(...history)
      .when(requestOf('c3', '2026-02-01T00:01:00.000Z', limits))
      .thenRefuses({ type: 'top-up-refused', reason: 'monthly-count' });
    given(...history)
      .when(requestOf('c3', '2026-01-31T23:59:59.000Z', limits))
      .thenRefuses({ type: 'top-up-refused', reason: 'monthly-count' });
  });

  it('refuses a request in another currency than the month’s when an amount limit is set', () => {
    const limits = { maxPerMonth: 10, maxAmountPerMonth: 100_000 };
    const first = requestOf('c1', T0, limits, 'usd');
    given(first, outcomeOf(first, declined))
      .when(requestOf('c2', T0, limits, 'jpy'))
      .thenRefuses({ type: 'top-up-refused', reason: 'monthly-amount' });
  });
});

/** The state after the commands, each decided and folded as the command handler would. */
function foldedWith(...history: Array<RequestTopUp | RecordTopUpOutcome>): CreditsState {
  let state = initialState();
  for (const command of history) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`not recorded: ${JSON.stringify(decision)}`);
    state = recordAfter(state, decision.events, 1000n + BigInt(state.version)).reduce(evolve, state);
  }
  return state;
}
