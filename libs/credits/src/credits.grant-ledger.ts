import type { CreditsEvent } from './credits.events';
import {
  type GrantCredits,
  type GrantLedger,
  addGrant,
  changeStatus,
  creditGrant,
  freezeForDispute,
  grantOf,
  grantOfRecharge,
  grantsInSpendOrder,
  releaseDispute,
  takeBack,
  takeFrom,
} from './credits.grants';

/**
 * A stream's grants after one of its events: the one place that says how
 * each event moves credits between grants, used by the fold (`evolve`) and by
 * the grants read model alike. Events that name their grants (`drawnFrom`, an
 * expiry, a void) are applied as recorded; the others are placed by the rules
 * the decisions follow: a refund takes from the refunded recharge's grant
 * first, then the others in spend order; a give-back returns to the
 * recharge's grant; a dispute freezes the recharge's grant first. Throws when
 * an event does not fit the grants (a bug or a tampered stream).
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
      const { rechargeId, reason, source, creditsDebited } = event.data;
      // A lost dispute releases what it froze, then takes the disputed share back.
      const released =
        reason === 'dispute-lost' && source.disputeId !== undefined
          ? releaseDispute(ledger, rechargeId, source.disputeId)
          : ledger;
      return takeBack(released, creditsDebited, grantOfRecharge(ledger, rechargeId), decidedAtMs()).ledger;
    }
    case 'RefundReversed': {
      const { rechargeId, creditsCredited, creditsFrozen } = event.data;
      const credited = creditGrant(ledger, grantOfRecharge(ledger, rechargeId), creditsCredited).ledger;
      if (creditsFrozen === 0) return credited;
      const open = ledger.disputes.get(rechargeId);
      if (open === undefined)
        throw new Error(`event ${event.id} freezes credits of recharge ${rechargeId}, not disputed`);
      return freezeForDispute(credited, rechargeId, open.disputeId, creditsFrozen, decidedAtMs());
    }
    case 'CreditsFrozen':
      return freezeForDispute(ledger, event.data.rechargeId, event.data.disputeId, event.data.credits, decidedAtMs());
    case 'CreditsUnfrozen':
      return releaseDispute(ledger, event.data.rechargeId, event.data.disputeId);
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
