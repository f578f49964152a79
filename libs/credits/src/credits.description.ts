import type { CreditsEvent } from './credits.events';
import type { GrantCredits } from './credits.grants';
import { assertNever } from './credits.state';

/**
 * What an event is about, in the flat fields that the ledger projection, the
 * auditors' history and the accountants' export all show: the one place that
 * reads them out of each event type.
 */
export type EventDescription = {
  rechargeId: string | null;
  checkoutSessionId: string | null;
  paymentIntentId: string | null;
  invoiceId: string | null;
  subscriptionId: string | null;
  chargeId: string | null;
  disputeId: string | null;
  feature: string | null;
  reference: string | null;
  reason: string | null;
  /** The grant it made (a credit-in), expired or voided. */
  grantId: string | null;
  /**
   * A consumption's grants and the credits drawn from each, `grantId:credits` joined by `;` (for a hold, what it
   * reserved; for its capture, what was consumed).
   */
  drawnFrom: string | null;
  /** The hold placed, captured, released or expired. */
  holdId: string | null;
};

const NOTHING: EventDescription = {
  rechargeId: null,
  checkoutSessionId: null,
  paymentIntentId: null,
  invoiceId: null,
  subscriptionId: null,
  chargeId: null,
  disputeId: null,
  feature: null,
  reference: null,
  reason: null,
  grantId: null,
  drawnFrom: null,
  holdId: null,
};

function joined(parts: readonly GrantCredits[]): string {
  return parts.map((part) => `${part.grantId}:${part.credits}`).join(';');
}

export function descriptionOf(event: CreditsEvent): EventDescription {
  switch (event.type) {
    case 'CreditsConsumed': {
      const { feature, reference, drawnFrom } = event.data;
      const drawn = drawnFrom === undefined ? null : joined(drawnFrom);
      return { ...NOTHING, feature, reference, drawnFrom: drawn };
    }
    case 'BonusGranted':
      return { ...NOTHING, reason: event.data.reason, grantId: event.id };
    case 'RechargeCompleted': {
      const { rechargeId, source } = event.data;
      return {
        ...NOTHING,
        rechargeId,
        grantId: event.id,
        checkoutSessionId: source.checkoutSessionId ?? null,
        paymentIntentId: source.paymentIntentId ?? null,
        invoiceId: source.invoiceId ?? null,
        subscriptionId: source.subscriptionId ?? null,
      };
    }
    case 'RechargeRefunded': {
      const { rechargeId, reason, source } = event.data;
      return { ...NOTHING, rechargeId, reason, chargeId: source.chargeId ?? null, disputeId: source.disputeId ?? null };
    }
    case 'RefundReversed': {
      const { rechargeId, reason, refundedBy } = event.data;
      return { ...NOTHING, rechargeId, reason, chargeId: refundedBy };
    }
    case 'CreditsFrozen':
      return {
        ...NOTHING,
        rechargeId: event.data.rechargeId,
        disputeId: event.data.disputeId,
        reason: 'dispute opened',
      };
    case 'CreditsUnfrozen':
      return {
        ...NOTHING,
        rechargeId: event.data.rechargeId,
        disputeId: event.data.disputeId,
        reason: 'dispute closed',
      };
    case 'CreditsExpired':
      return { ...NOTHING, reason: 'expired', grantId: event.data.grantId };
    case 'CreditsRolledOver':
      return { ...NOTHING, reason: 'rolled over', grantId: event.data.grantId };
    case 'GrantVoided':
      return { ...NOTHING, reason: event.data.reason, grantId: event.data.grantId };
    case 'CreditsHeld': {
      const { feature, reference } = event.data;
      return { ...NOTHING, feature, reference, holdId: event.id, drawnFrom: joined(event.data.drawnFrom) };
    }
    case 'HoldCaptured': {
      const { holdId, feature, reference, capturedFrom } = event.data;
      return { ...NOTHING, feature, reference, holdId, drawnFrom: joined(capturedFrom) };
    }
    case 'HoldReleased':
      return { ...NOTHING, reason: 'hold released', holdId: event.data.holdId };
    case 'HoldExpired':
      return { ...NOTHING, reason: 'hold expired', holdId: event.data.holdId };
    case 'TopUpRequested':
      return { ...NOTHING, reason: `top-up requested: pack ${event.data.packId}` };
    case 'TopUpSucceeded':
      return { ...NOTHING, reason: 'top-up charged', paymentIntentId: event.data.paymentIntentId };
    case 'TopUpFailed':
      return {
        ...NOTHING,
        reason: `top-up failed: ${event.data.reason}`,
        paymentIntentId: event.data.paymentIntentId ?? null,
      };
    default:
      return assertNever(event);
  }
}
