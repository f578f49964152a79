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
import { type BalanceRow, emptyBalanceRow, evolveBalanceRow } from './balance.handlers';

/** Other streams wrote first: a global position is never mistaken for a stream version. */
/** An invariant error, not a gap. */
const BELOW_ZERO = { name: 'ProjectionInvariantError', message: expect.stringContaining('below zero') };

describe('evolveBalanceRow', () => {
  describe('when the user has no row yet', () => {
    it('opens the row on RechargeCompleted with its credits, the version, position and time of the event', () => {
      const event = rechargeCompleted({ version: 1, credits: 100 });

      given().when(event).thenRow({
        userId: USER_ID,
        balance: 100,
        frozenCredits: 0,
        version: 1,
        lastPosition: '1001',
        lastEventAt: OCCURRED_AT,
        consumesCount: 0,
        rechargesCount: 1,
        bonusesCount: 0,
      });
    });

    it('opens the row on BonusGranted and counts one bonus', () => {
      given()
        .when(bonusGranted({ version: 1, amount: 25 }))
        .thenRow(expect.objectContaining({ balance: 25, version: 1, bonusesCount: 1, rechargesCount: 0 }));
    });

    it('throws ProjectionInvariantError on CreditsConsumed: the balance would go below zero', () => {
      given()
        .when(creditsConsumed({ version: 1, amount: 1 }))
        .thenThrows(ProjectionInvariantError, BELOW_ZERO);
    });

    it('throws ProjectionGapError on a first event at version 2: version 1 is missing', () => {
      given()
        .when(bonusGranted({ version: 2, amount: 25 }))
        .thenThrows(ProjectionGapError, { projection: 'balance', userId: USER_ID, appliedVersion: 0, eventVersion: 2 });
    });
  });

  describe('when the balance is 100 at version 3', () => {
    const history = [
      rechargeCompleted({ version: 1, credits: 80 }),
      creditsConsumed({ version: 2, amount: 30 }),
      bonusGranted({ version: 3, amount: 50 }),
    ];

    it('lowers the balance on CreditsConsumed and counts one more consume', () => {
      given(...history)
        .when(creditsConsumed({ version: 4, amount: 40 }))
        .thenRow({
          userId: USER_ID,
          balance: 60,
          frozenCredits: 0,
          version: 4,
          lastPosition: '1004',
          lastEventAt: OCCURRED_AT,
          consumesCount: 2,
          rechargesCount: 1,
          bonusesCount: 1,
        });
    });

    it('spends the whole balance down to zero', () => {
      given(...history)
        .when(creditsConsumed({ version: 4, amount: 100 }))
        .thenRow(expect.objectContaining({ balance: 0, version: 4 }));
    });

    it('raises the balance on RechargeCompleted and counts one more recharge', () => {
      given(...history)
        .when(rechargeCompleted({ version: 4, credits: 500 }))
        .thenRow(expect.objectContaining({ balance: 600, version: 4, rechargesCount: 2 }));
    });

    it('raises the balance on BonusGranted and counts one more bonus', () => {
      given(...history)
        .when(bonusGranted({ version: 4, amount: 5 }))
        .thenRow(expect.objectContaining({ balance: 105, version: 4, bonusesCount: 2 }));
    });

    it('throws ProjectionInvariantError on a CreditsConsumed above the balance', () => {
      given(...history)
        .when(creditsConsumed({ version: 4, amount: 101 }))
        .thenThrows(ProjectionInvariantError, BELOW_ZERO);
    });

    it('returns the same row for the event at version 3, already applied', () => {
      given(...history)
        .when(bonusGranted({ version: 3, amount: 50 }))
        .thenUnchanged();
    });

    it('returns the same row for an event at version 1, already applied, even one that would overdraw now', () => {
      given(...history)
        .when(creditsConsumed({ version: 1, amount: 1_000 }))
        .thenUnchanged();
    });

    it('throws ProjectionGapError on an event at version 5: version 4 is missing', () => {
      given(...history)
        .when(bonusGranted({ version: 5, amount: 5 }))
        .thenThrows(ProjectionGapError, { projection: 'balance', userId: USER_ID, appliedVersion: 3, eventVersion: 5 });
    });
  });
  describe('when a refund takes back credits already spent (recharge of 80, balance 100 at version 3)', () => {
    const history = [
      rechargeCompleted({ version: 1, credits: 80 }),
      creditsConsumed({ version: 2, amount: 30 }),
      bonusGranted({ version: 3, amount: 50 }),
    ];

    it('goes below zero under the debt policy: the debt is visible in the balance', () => {
      given(...history, creditsConsumed({ version: 4, amount: 90 }))
        .when(rechargeRefunded({ version: 5, creditsTakenBack: 80, shortfallPolicy: 'debt' }))
        .thenRow(expect.objectContaining({ balance: -70, version: 5 }));
    });

    it('stops at zero under the writeoff policy, the event debiting only what the balance held', () => {
      given(...history, creditsConsumed({ version: 4, amount: 90 }))
        .when(rechargeRefunded({ version: 5, creditsTakenBack: 80, creditsDebited: 10, shortfallPolicy: 'writeoff' }))
        .thenRow(expect.objectContaining({ balance: 0, version: 5 }));
    });

    it('throws ProjectionInvariantError when a writeoff refund would still go below zero', () => {
      given(...history, creditsConsumed({ version: 4, amount: 90 }))
        .when(rechargeRefunded({ version: 5, creditsTakenBack: 80, shortfallPolicy: 'writeoff' }))
        .thenThrows(ProjectionInvariantError, BELOW_ZERO);
    });

    it('gives back, when the refund fails, what it debited: the debt goes', () => {
      given(
        ...history,
        creditsConsumed({ version: 4, amount: 90 }),
        rechargeRefunded({ version: 5, creditsTakenBack: 80 }),
      )
        .when(refundReversed({ version: 6, creditsGivenBack: 80 }))
        .thenRow(expect.objectContaining({ balance: 10, version: 6, rechargesCount: 1 }));
    });

    it('gives back under writeoff only what left the balance', () => {
      given(
        ...history,
        creditsConsumed({ version: 4, amount: 90 }),
        rechargeRefunded({ version: 5, creditsTakenBack: 80, creditsDebited: 10, shortfallPolicy: 'writeoff' }),
      )
        .when(refundReversed({ version: 6, creditsGivenBack: 80, creditsCredited: 10 }))
        .thenRow(expect.objectContaining({ balance: 10, version: 6 }));
    });

    it('lets a later recharge pay the debt first', () => {
      given(
        ...history,
        creditsConsumed({ version: 4, amount: 90 }),
        rechargeRefunded({ version: 5, creditsTakenBack: 80 }),
      )
        .when(rechargeCompleted({ version: 6, credits: 100 }))
        .thenRow(expect.objectContaining({ balance: 30, version: 6 }));
    });
  });

  describe('when a dispute freezes credits', () => {
    it('holds them in frozenCredits without changing the balance, and releases them when won', () => {
      const history = [rechargeCompleted({ version: 1, credits: 80 }), creditsFrozen({ version: 2, credits: 80 })];

      given(history[0])
        .when(history[1])
        .thenRow(expect.objectContaining({ balance: 80, frozenCredits: 80, version: 2 }));
      given(...history)
        .when(creditsFrozen({ version: 3, credits: 80, unfrozen: true }))
        .thenRow(expect.objectContaining({ balance: 80, frozenCredits: 0, version: 3 }));
    });

    it('freezes with them what a failed refund of the disputed recharge gives back', () => {
      given(
        rechargeCompleted({ version: 1, credits: 80 }),
        rechargeRefunded({ version: 2, creditsTakenBack: 40 }),
        creditsFrozen({ version: 3, credits: 40 }),
      )
        .when(refundReversed({ version: 4, creditsGivenBack: 40, creditsFrozen: 40 }))
        .thenRow(expect.objectContaining({ balance: 80, frozenCredits: 80, version: 4 }));
    });

    it('throws ProjectionInvariantError when more is released than was frozen', () => {
      given(rechargeCompleted({ version: 1, credits: 80 }))
        .when(creditsFrozen({ version: 2, credits: 5, unfrozen: true }))
        .thenThrows(ProjectionInvariantError, {
          name: 'ProjectionInvariantError',
          message: expect.stringContaining('unfreeze more than is frozen'),
        });
    });
  });
});

/**
 * Given the user's events, folded from an empty row; when one more event is
 * applied; then the row it gives. Rows and events are frozen: the handler is
 * pure and must never change what it is given.
 */
function given(...history: ProjectedEvent[]) {
  const row = deepFreeze(history.reduce(evolveBalanceRow, emptyBalanceRow(USER_ID)));
  return {
    when(event: ProjectedEvent) {
      const apply = () => evolveBalanceRow(row, deepFreeze(event));
      return {
        thenRow: (expected: BalanceRow) => expect(apply()).toEqual(expected),
        thenUnchanged: () => expect(apply()).toBe(row),
        thenThrows: (errorType: abstract new (...args: never[]) => Error, fields: Record<string, unknown>) => {
          const thrown = thrownBy(apply);
          expect(thrown).toBeInstanceOf(errorType);
          expect(thrown).toMatchObject(fields);
        },
      };
    },
  };
}
