import {
  rechargeCompleted,
  creditsConsumed,
  bonusGranted,
  rechargeRefunded,
  refundReversed,
  thrownBy,
  deepFreeze,
  USER_ID,
  OCCURRED_AT,
  RECORDED_AT,
} from '../testing/projected-events';
import { type ProjectedEvent, ProjectionGapError, ProjectionInvariantError } from '../runtime/projection';
import { EMPTY_LEDGER_HEAD, type LedgerEntry, type LedgerHead, ledgerEntryOf } from './ledger.handlers';

/** Other streams wrote first: a global position is never mistaken for a stream version. */
/** An invariant error, not a gap. */
const BELOW_ZERO = { name: 'ProjectionInvariantError', message: expect.stringContaining('below zero') };

describe('ledgerEntryOf', () => {
  describe('when the user has no entry yet', () => {
    it('adds the entry of a Stripe RechargeCompleted: positive delta, recharge id and every Stripe id', () => {
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
        },
      });

      given().when(event).thenEntry({
        userId: USER_ID,
        version: 1,
        eventId: event.id,
        eventType: 'RechargeCompleted',
        delta: 100,
        balanceAfter: 100,
        feature: null,
        reason: null,
        rechargeId: 'recharge-1',
        reference: null,
        stripeCheckoutSessionId: 'cs_1',
        stripePaymentIntentId: 'pi_1',
        stripeInvoiceId: 'in_1',
        stripeSubscriptionId: 'sub_1',
        grantId: event.id,
        drawnFrom: null,
        holdId: null,
        occurredAt: OCCURRED_AT,
        recordedAt: RECORDED_AT,
        globalPosition: '1001',
      });
    });

    it('leaves the Stripe ids null for a manual recharge', () => {
      given()
        .when(rechargeCompleted({ version: 1, credits: 100, source: { kind: 'manual' } }))
        .thenEntry(
          expect.objectContaining({
            rechargeId: 'recharge-1',
            stripeCheckoutSessionId: null,
            stripePaymentIntentId: null,
            stripeInvoiceId: null,
            stripeSubscriptionId: null,
          }),
        );
    });

    it('adds the entry of a BonusGranted with its reason', () => {
      const event = bonusGranted({ version: 1, amount: 25 });

      given().when(event).thenEntry({
        userId: USER_ID,
        version: 1,
        eventId: event.id,
        eventType: 'BonusGranted',
        delta: 25,
        balanceAfter: 25,
        feature: null,
        reason: 'welcome',
        rechargeId: null,
        reference: null,
        stripeCheckoutSessionId: null,
        stripePaymentIntentId: null,
        stripeInvoiceId: null,
        stripeSubscriptionId: null,
        grantId: event.id,
        drawnFrom: null,
        holdId: null,
        occurredAt: OCCURRED_AT,
        recordedAt: RECORDED_AT,
        globalPosition: '1001',
      });
    });

    it('throws ProjectionInvariantError on CreditsConsumed: the balance would go below zero', () => {
      given()
        .when(creditsConsumed({ version: 1, amount: 1 }))
        .thenThrows(ProjectionInvariantError, BELOW_ZERO);
    });

    it('throws ProjectionGapError on a first event at version 2: version 1 is missing', () => {
      given()
        .when(bonusGranted({ version: 2, amount: 25 }))
        .thenThrows(ProjectionGapError, { projection: 'ledger', userId: USER_ID, appliedVersion: 0, eventVersion: 2 });
    });
  });

  describe('when the last entry is at version 3 with a balance of 100', () => {
    const history = [
      rechargeCompleted({ version: 1, credits: 80, source: { kind: 'manual' } }),
      creditsConsumed({ version: 2, amount: 30 }),
      bonusGranted({ version: 3, amount: 50 }),
    ];

    it('adds the entry of a CreditsConsumed: negative delta, feature and reference, balance after it', () => {
      const consumed = creditsConsumed({ version: 4, amount: 40 });
      const drawnFrom = [
        { grantId: 'grant-a', credits: 30 },
        { grantId: 'grant-b', credits: 10 },
      ];
      const event = { ...consumed, data: { ...consumed.data, drawnFrom } } as typeof consumed;

      given(...history)
        .when(event)
        .thenEntry({
          userId: USER_ID,
          version: 4,
          eventId: event.id,
          eventType: 'CreditsConsumed',
          delta: -40,
          balanceAfter: 60,
          feature: 'document-upload',
          reason: null,
          rechargeId: null,
          reference: 'upload-4',
          stripeCheckoutSessionId: null,
          stripePaymentIntentId: null,
          stripeInvoiceId: null,
          stripeSubscriptionId: null,
          grantId: null,
          drawnFrom: 'grant-a:30;grant-b:10',
          holdId: null,
          occurredAt: OCCURRED_AT,
          recordedAt: RECORDED_AT,
          globalPosition: '1004',
        });
    });

    it('spends the whole balance down to zero', () => {
      given(...history)
        .when(creditsConsumed({ version: 4, amount: 100 }))
        .thenEntry(expect.objectContaining({ delta: -100, balanceAfter: 0 }));
    });

    it('adds a recharge and a bonus on top of the balance', () => {
      given(...history)
        .when(rechargeCompleted({ version: 4, credits: 500, source: { kind: 'manual' } }))
        .thenEntry(expect.objectContaining({ delta: 500, balanceAfter: 600 }));
      given(...history)
        .when(bonusGranted({ version: 4, amount: 5 }))
        .thenEntry(expect.objectContaining({ delta: 5, balanceAfter: 105 }));
    });

    it('adds a failed refund’s entry: what it gives back, with its recharge, charge and reason', () => {
      given(...history, rechargeRefunded({ version: 4, creditsTakenBack: 80 }))
        .when(refundReversed({ version: 5, creditsGivenBack: 80 }))
        .thenEntry(
          expect.objectContaining({
            eventType: 'RefundReversed',
            delta: 80,
            balanceAfter: 100,
            rechargeId: 'recharge-1',
            reason: 'refund-failed',
          }),
        );
    });

    it('throws ProjectionInvariantError on a CreditsConsumed above the balance', () => {
      given(...history)
        .when(creditsConsumed({ version: 4, amount: 101 }))
        .thenThrows(ProjectionInvariantError, BELOW_ZERO);
    });

    it('adds no entry for the event at version 3, already applied', () => {
      given(...history)
        .when(bonusGranted({ version: 3, amount: 50 }))
        .thenNoEntry();
    });

    it('adds no entry for an event at version 1, already applied, even one that would overdraw now', () => {
      given(...history)
        .when(creditsConsumed({ version: 1, amount: 1_000 }))
        .thenNoEntry();
    });

    it('throws ProjectionGapError on an event at version 5: version 4 is missing', () => {
      given(...history)
        .when(bonusGranted({ version: 5, amount: 5 }))
        .thenThrows(ProjectionGapError, { projection: 'ledger', userId: USER_ID, appliedVersion: 3, eventVersion: 5 });
    });
  });
});

/**
 * Given the user's events, each added after the entry before it; when one
 * more event comes; then the entry it adds. Heads and events are frozen: the
 * handler is pure and must never change what it is given.
 */
function given(...history: ProjectedEvent[]) {
  const head: LedgerHead = deepFreeze(history.reduce(headAfter, { ...EMPTY_LEDGER_HEAD }));
  return {
    when(event: ProjectedEvent) {
      const apply = () => ledgerEntryOf(head, deepFreeze(event));
      return {
        thenEntry: (expected: LedgerEntry) => expect(apply()).toEqual(expected),
        thenNoEntry: () => expect(apply()).toBeUndefined(),
        thenThrows: (errorType: abstract new (...args: never[]) => Error, fields: Record<string, unknown>) => {
          const thrown = thrownBy(apply);
          expect(thrown).toBeInstanceOf(errorType);
          expect(thrown).toMatchObject(fields);
        },
      };
    },
  };
}

function headAfter(head: LedgerHead, event: ProjectedEvent): LedgerHead {
  const entry = ledgerEntryOf(head, event);
  return entry === undefined ? head : { version: entry.version, balanceAfter: entry.balanceAfter };
}
