import type { CreditsEvent } from './credits.events';
import {
  type GrantCredits,
  type GrantLedger,
  addGrant,
  changeStatus,
  endHold,
  holdCredits,
  expireGrants,
  freezeForDispute,
  grantOf,
  grantOfRecharge,
  grantsInSpendOrder,
  releaseDispute,
  givenBack,
  rollOver,
  takeBackAsBefore,
  takeFrom,
} from './credits.grants';

/**
 * A stream's grants after one of its events: the one place that says how
 * each event moves credits between grants, used by the fold (`evolve`) and by
 * the grants read model alike. Events name the grants they move credits of
 * (`drawnFrom`, `takenFrom`, `givenTo`, an expiry, a void, what a won dispute
 * let lapse) and are applied as recorded; events of the versions before
 * those fields are placed by the rules of then: a consumption in spend
 * order, a refund from the refunded recharge's grant first and then the
 * others (`takeBackAsBefore`), a give-back to the recharge's grant. A
 * dispute freezes the recharge's grant first. Throws when an event does not
 * fit the grants (a bug or a tampered stream).
 */
export function evolveGrantLedger(ledger: GrantLedger, event: CreditsEvent & { streamVersion: number }): GrantLedger {
  // Refunds and disputes never touch grants past their expiry when they were decided.
  const decidedAtMs = () => Date.parse(event.metadata.occurredAt);
  switch (event.type) {
    case 'RechargeCompleted':
    case 'BonusGranted': {
      const { category, priority, expiresAt, debtPaidCredits } = event.data;
      const recharge = event.type === 'RechargeCompleted';
      const added = addGrant(ledger, {
        grantId: event.id,
        category,
        priority,
        expiresAt,
        sequence: event.streamVersion,
        rechargeId: recharge ? event.data.rechargeId : undefined,
        granted: recharge ? event.data.credits : event.data.amount,
        rollover: recharge ? event.data.rollover : undefined,
      });
      if (debtPaidCredits !== undefined && debtPaidCredits !== added.debtPaid) {
        throw new Error(`event ${event.id} says it paid ${debtPaidCredits} of debt, the stream owed ${added.debtPaid}`);
      }
      return added.ledger;
    }
    case 'CreditsConsumed': {
      const drawnFrom = event.data.drawnFrom ?? drawnInSpendOrder(ledger, event.data.amount);
      const drawn = drawnFrom.reduce((sum, draw) => sum + draw.credits, 0);
      if (drawn !== event.data.amount) {
        throw new Error(
          `event ${event.id} draws ${drawn} credits from grants for a consumption of ${event.data.amount}`,
        );
      }
      return takeFrom(ledger, drawnFrom, 'spent');
    }
    case 'RechargeRefunded': {
      const { rechargeId, reason, source, creditsDebited, takenFrom } = event.data;
      // A lost dispute releases what it froze, then takes the disputed share back.
      const released =
        reason === 'dispute-lost' && source.disputeId !== undefined
          ? releaseDispute(ledger, rechargeId, source.disputeId)
          : ledger;
      const ownGrant = grantOfRecharge(ledger, rechargeId);
      if (takenFrom === undefined) return takeBackAsBefore(released, creditsDebited, ownGrant, decidedAtMs()).ledger;
      const owed = creditsDebited - takenFrom.reduce((sum, taken) => sum + taken.credits, 0);
      if (owed < 0) throw new Error(`event ${event.id} takes more credits from grants than it debits`);
      const taken = takeFrom(released, takenFrom, 'takenBack');
      return { ...taken, debt: taken.debt + owed };
    }
    case 'RefundReversed': {
      const { rechargeId, creditsCredited, creditsFrozen, givenTo, creditsLapsedOnReturn } = event.data;
      const { debtForgiven = 0, debtPaymentsUndone = [] } = event.data;
      const returns = givenBack(
        ledger,
        { debtForgiven, debtPaymentsUndone },
        givenTo ?? [{ grantId: grantOfRecharge(ledger, rechargeId), credits: creditsCredited }],
        decidedAtMs(),
      );
      if (returns.lapsedOnReturn !== creditsLapsedOnReturn) {
        throw new Error(
          `event ${event.id} says ${creditsLapsedOnReturn} credits lapsed on return, not ${returns.lapsedOnReturn}`,
        );
      }
      if (creditsFrozen === 0) return returns.ledger;
      const open = ledger.disputes.get(rechargeId);
      if (open === undefined)
        throw new Error(`event ${event.id} freezes credits of recharge ${rechargeId}, not disputed`);
      return freezeForDispute(returns.ledger, rechargeId, open.disputeId, creditsFrozen, decidedAtMs());
    }
    case 'CreditsFrozen':
      return freezeForDispute(ledger, event.data.rechargeId, event.data.disputeId, event.data.credits, decidedAtMs());
    case 'CreditsUnfrozen':
      return expireGrants(releaseDispute(ledger, event.data.rechargeId, event.data.disputeId), event.data.expired);
    case 'CreditsRolledOver': {
      const { grantId, creditsExpired, creditsRolledOver, debtPaidCredits } = event.data;
      const rolled = rollOver(ledger, grantId, {
        lapsed: creditsExpired,
        carried: creditsRolledOver,
        intoGrantId: event.id,
        sequence: event.streamVersion,
      });
      if (rolled.debtPaid !== debtPaidCredits) {
        throw new Error(
          `event ${event.id} says it paid ${debtPaidCredits} of debt, the stream owed ${rolled.debtPaid}`,
        );
      }
      return rolled.ledger;
    }
    case 'CreditsExpired':
    case 'GrantVoided': {
      const { grantId, credits } = event.data;
      const grant = grantOf(ledger, grantId);
      if (grant.status !== 'active' || credits !== grant.remaining - grant.frozen) {
        throw new Error(`event ${event.id} closes grant ${grantId} (${grant.status}) taking ${credits} credits`);
      }
      const how = event.type === 'CreditsExpired' ? 'expired' : 'voided';
      return changeStatus(takeFrom(ledger, [{ grantId, credits }], how), grantId, how);
    }
    case 'CreditsHeld':
      return holdCredits(ledger, event.data.drawnFrom);
    case 'HoldCaptured':
    case 'HoldReleased':
    case 'HoldExpired': {
      const { debtPaidFrom, returnedTo, frozenFrom, lapsed, creditsLapsedOnReturn, expired } = event.data;
      const capturedFrom = event.type === 'HoldCaptured' ? event.data.capturedFrom : [];
      const end = { capturedFrom, debtPaidFrom, returnedTo, frozenFrom, lapsed, creditsLapsedOnReturn, expired };
      return endHold(ledger, end, decidedAtMs());
    }
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return ledger;
    default:
      return assertNever(event);
  }
}

/** A consumption recorded before grants: every credit then was alike and never expired. */
function drawnInSpendOrder(ledger: GrantLedger, credits: number): GrantCredits[] {
  const draws: GrantCredits[] = [];
  let left = credits;
  for (const grant of grantsInSpendOrder(ledger)) {
    if (left === 0) break;
    const drawn = Math.min(left, grant.remaining - grant.frozen);
    if (drawn > 0) draws.push({ grantId: grant.grantId, credits: drawn });
    left -= drawn;
  }
  return draws;
}

function assertNever(value: never): never {
  throw new Error(`unexpected event: ${JSON.stringify(value)}`);
}
