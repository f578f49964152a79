import {
  rechargeCompleted,
  creditsConsumed,
  bonusGranted,
  rechargeRefunded,
  refundReversed,
  creditsFrozen,
  thrownBy,
  deepFreeze,
  USER_ID,
  OCCURRED_AT,
} from '../testing/projected-events';
import { type ProjectedEvent, ProjectionGapError, ProjectionInvariantError } from '../runtime/projection';
import { type RechargeReversal, type RechargeRow, evolveRechargeRow, rechargeChangeOf } from './recharges.handlers';

/** Other streams wrote first: a global position is never mistaken for a stream version. */

describe('rechargeChangeOf', () => {
  describe('when no event of the user was applied yet', () => {
    it('records a completed recharge row from a Stripe RechargeCompleted, with every Stripe id', () => {
      const event = rechargeCompleted({
        version: 1,
        credits: 100,
        source: {
          kind: 'stripe',
          stripeEventId: 'evt_1',
          checkoutSessionId: 'cs_1',
          paymentIntentId: 'pi_1',
          invoiceId: 'in_1',
          subscriptionId: 'sub_1',
          customerId: 'cus_1',
        },
      });

      given().when(event).thenRecords({
        userId: USER_ID,
        rechargeId: 'recharge-1',
        credits: 100,
        amountPaid: 1_000,
        currency: 'eur',
        sourceKind: 'stripe',
        stripeEventId: 'evt_1',
        checkoutSessionId: 'cs_1',
        paymentIntentId: 'pi_1',
        invoiceId: 'in_1',
        subscriptionId: 'sub_1',
        customerId: 'cus_1',
        status: 'completed',
        amountRefunded: 0,
        creditsTakenBack: 0,
        disputeId: null,
        disputedAt: null,
        eventId: event.id,
        globalPosition: '1001',
        completedAt: OCCURRED_AT,
      });
    });

    it('records a manual recharge with its Stripe ids null', () => {
      given()
        .when(rechargeCompleted({ version: 1, credits: 100, source: { kind: 'manual' } }))
        .thenRecords(
          expect.objectContaining({
            sourceKind: 'manual',
            stripeEventId: null,
            checkoutSessionId: null,
            paymentIntentId: null,
            invoiceId: null,
            subscriptionId: null,
            customerId: null,
          }),
        );
    });

    it('counts the version of a BonusGranted without a row', () => {
      given()
        .when(bonusGranted({ version: 1 }))
        .thenCountsVersionOnly();
    });

    it('counts the version of a CreditsConsumed without a row (the balance is not this model’s to check)', () => {
      given()
        .when(creditsConsumed({ version: 1 }))
        .thenCountsVersionOnly();
    });

    it('throws ProjectionGapError on a first event at version 2: version 1 is missing', () => {
      given()
        .when(rechargeCompleted({ version: 2, credits: 100, source: { kind: 'manual' } }))
        .thenThrowsGap({ projection: 'recharges', userId: USER_ID, appliedVersion: 0, eventVersion: 2 });
    });
  });

  describe('when the user’s events are applied up to version 3', () => {
    const history = [
      rechargeCompleted({ version: 1, credits: 80, source: { kind: 'manual' } }),
      creditsConsumed({ version: 2 }),
      bonusGranted({ version: 3 }),
    ];

    it('records the next RechargeCompleted, at version 4', () => {
      given(...history)
        .when(rechargeCompleted({ version: 4, credits: 500, source: { kind: 'manual' } }))
        .thenRecords(expect.objectContaining({ rechargeId: 'recharge-4', credits: 500, globalPosition: '1004' }));
    });

    it('counts the version of the next BonusGranted or CreditsConsumed without a row', () => {
      given(...history)
        .when(bonusGranted({ version: 4 }))
        .thenCountsVersionOnly();
      given(...history)
        .when(creditsConsumed({ version: 4 }))
        .thenCountsVersionOnly();
    });

    it('skips the event at version 3, already applied', () => {
      given(...history)
        .when(bonusGranted({ version: 3 }))
        .thenSkips();
    });

    it('skips the RechargeCompleted at version 1, already applied: no second row', () => {
      given(...history)
        .when(rechargeCompleted({ version: 1, credits: 80, source: { kind: 'manual' } }))
        .thenSkips();
    });

    it('throws ProjectionGapError on an event at version 5: version 4 is missing', () => {
      given(...history)
        .when(rechargeCompleted({ version: 5, credits: 100, source: { kind: 'manual' } }))
        .thenThrowsGap({ projection: 'recharges', userId: USER_ID, appliedVersion: 3, eventVersion: 5 });
    });
  });
});

describe('evolveRechargeRow', () => {
  const completed = rechargeChangeOf(0, rechargeCompleted({ version: 1, credits: 100 })).row!;
  const reversal = (event: ProjectedEvent) => event as RechargeReversal;

  it('is partially_refunded after a refund of part of the price, with the credits taken back', () => {
    const row = evolveRechargeRow(completed, reversal(rechargeRefunded({ version: 2, creditsTakenBack: 30 })));

    expect(row).toMatchObject({ status: 'partially_refunded', amountRefunded: 300, creditsTakenBack: 30 });
  });

  it('is refunded once every credit is taken back, over two refunds', () => {
    const first = evolveRechargeRow(completed, reversal(rechargeRefunded({ version: 2, creditsTakenBack: 30 })));
    const second = evolveRechargeRow(first, reversal(rechargeRefunded({ version: 3, creditsTakenBack: 70 })));

    expect(second).toMatchObject({ status: 'refunded', creditsTakenBack: 100 });
  });

  it('is disputed while a dispute is open, and back to completed when it is won', () => {
    const disputed = evolveRechargeRow(completed, reversal(creditsFrozen({ version: 2, credits: 100 })));
    const won = evolveRechargeRow(disputed, reversal(creditsFrozen({ version: 3, credits: 100, unfrozen: true })));

    expect(disputed).toMatchObject({ status: 'disputed', disputeId: 'dp_1', disputedAt: OCCURRED_AT });
    expect(won).toMatchObject({ status: 'completed', disputeId: null, disputedAt: null });
  });

  it('is refunded when the dispute is lost', () => {
    const disputed = evolveRechargeRow(completed, reversal(creditsFrozen({ version: 2, credits: 100 })));
    const lost = rechargeRefunded({ version: 3, creditsTakenBack: 100, reason: 'dispute-lost', creditsUnfrozen: 100 });

    expect(evolveRechargeRow(disputed, reversal(lost))).toMatchObject({ status: 'refunded', disputeId: null });
  });

  it('is completed again when its only refund fails, and partially refunded when one of two does', () => {
    const refunded = evolveRechargeRow(completed, reversal(rechargeRefunded({ version: 2, creditsTakenBack: 100 })));
    const failed = evolveRechargeRow(refunded, reversal(refundReversed({ version: 3, creditsGivenBack: 100 })));
    const oneOfTwo = evolveRechargeRow(
      refunded,
      reversal(refundReversed({ version: 3, creditsGivenBack: 40, amountRefundedTotal: 600 })),
    );

    expect(refunded).toMatchObject({ status: 'refunded', amountRefunded: 1_000, creditsTakenBack: 100 });
    expect(failed).toMatchObject({ status: 'completed', amountRefunded: 0, creditsTakenBack: 0 });
    expect(oneOfTwo).toMatchObject({ status: 'partially_refunded', amountRefunded: 600, creditsTakenBack: 60 });
  });

  it('stays disputed when a refund of a disputed recharge fails', () => {
    const refunded = evolveRechargeRow(completed, reversal(rechargeRefunded({ version: 2, creditsTakenBack: 50 })));
    const disputed = evolveRechargeRow(refunded, reversal(creditsFrozen({ version: 3, credits: 50 })));
    const failed = evolveRechargeRow(
      disputed,
      reversal(refundReversed({ version: 4, creditsGivenBack: 50, creditsFrozen: 50 })),
    );

    expect(failed).toMatchObject({ status: 'disputed', disputeId: 'dp_1', amountRefunded: 0, creditsTakenBack: 0 });
  });

  it('throws ProjectionInvariantError for an event of another recharge', () => {
    const other = reversal(rechargeRefunded({ version: 2, creditsTakenBack: 1, rechargeId: 'recharge-9' }));

    expect(thrownBy(() => evolveRechargeRow(completed, other))).toBeInstanceOf(ProjectionInvariantError);
  });
});

/**
 * Given the user's events, applied in order; when one more event comes; then
 * what it changes in the recharges model. Events are frozen: the handler is
 * pure and must never change what it is given.
 */
function given(...history: ProjectedEvent[]) {
  const appliedVersion = history.reduce(versionAfter, 0);
  return {
    when(event: ProjectedEvent) {
      const apply = () => rechargeChangeOf(appliedVersion, deepFreeze(event));
      return {
        thenRecords: (row: RechargeRow) => expect(apply()).toEqual({ applies: true, row }),
        thenCountsVersionOnly: () => expect(apply()).toEqual({ applies: true, row: undefined }),
        thenSkips: () => expect(apply()).toEqual({ applies: false, row: undefined }),
        thenThrowsGap: (fields: Partial<ProjectionGapError>) => {
          const thrown = thrownBy(apply);
          expect(thrown).toBeInstanceOf(ProjectionGapError);
          expect(thrown).toMatchObject(fields);
        },
      };
    },
  };
}

function versionAfter(appliedVersion: number, event: ProjectedEvent): number {
  return rechargeChangeOf(appliedVersion, event).applies ? event.streamVersion : appliedVersion;
}

/** Far above any balance: the recharges model never looks at the balance. */
