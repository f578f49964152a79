import { balanceDelta, descriptionOf, isBalanceAllowed } from '@libs/credits';
import { type ProjectedEvent, ProjectionInvariantError, isNextEvent } from '../runtime/projection';

export const LEDGER_PROJECTION = 'ledger';

/** One row per credit movement, enough to answer history queries without the event store. */
export type LedgerEntry = {
  userId: string;
  version: number;
  eventId: string;
  eventType: ProjectedEvent['type'];
  /** Signed: negative for a consumption or a refund; 0 for a dispute freezing or releasing credits. */
  delta: number;
  balanceAfter: number;
  feature: string | null;
  reason: string | null;
  rechargeId: string | null;
  reference: string | null;
  stripeCheckoutSessionId: string | null;
  stripePaymentIntentId: string | null;
  stripeInvoiceId: string | null;
  stripeSubscriptionId: string | null;
  /** The grant it made (a credit-in), expired or voided. */
  grantId: string | null;
  /** A consumption's grants and the credits drawn from each, `grantId:credits` joined by `;`. */
  drawnFrom: string | null;
  /** The hold placed, captured, released or expired. */
  holdId: string | null;
  occurredAt: string;
  recordedAt: string;
  globalPosition: string;
};

/** Where a user's ledger stands: its last entry's version and balance. */
export type LedgerHead = { version: number; balanceAfter: number };

export const EMPTY_LEDGER_HEAD: LedgerHead = { version: 0, balanceAfter: 0 };

/** The entry an event adds after `head`, or undefined for an event already applied. Pure. */
export function ledgerEntryOf(head: LedgerHead, event: ProjectedEvent): LedgerEntry | undefined {
  if (!isNextEvent(LEDGER_PROJECTION, head.version, event)) return undefined;
  const delta = balanceDelta(event);
  const balanceAfter = head.balanceAfter + delta;
  if (!isBalanceAllowed(head.balanceAfter, balanceAfter, event)) {
    throw new ProjectionInvariantError(
      `ledger projection: user ${event.userId} would go below zero or out of bounds (${balanceAfter}) ` +
        `at version ${event.streamVersion}; only a refund under the debt policy may leave a debt`,
    );
  }
  return {
    userId: event.userId,
    version: event.streamVersion,
    eventId: event.id,
    eventType: event.type,
    delta,
    balanceAfter,
    ...describedBy(event),
    occurredAt: event.metadata.occurredAt,
    recordedAt: event.recordedAt,
    globalPosition: event.globalPosition,
  };
}

/** The ledger's columns of the domain's own description of an event. */
function describedBy(event: ProjectedEvent): Description {
  const { feature, reason, rechargeId, reference, ...ids } = descriptionOf(event);
  return {
    feature,
    reason,
    rechargeId,
    reference,
    stripeCheckoutSessionId: ids.checkoutSessionId,
    stripePaymentIntentId: ids.paymentIntentId,
    stripeInvoiceId: ids.invoiceId,
    stripeSubscriptionId: ids.subscriptionId,
    grantId: ids.grantId,
    drawnFrom: ids.drawnFrom,
    holdId: ids.holdId,
  };
}

type Description = Pick<
  LedgerEntry,
  | 'feature'
  | 'reason'
  | 'rechargeId'
  | 'reference'
  | 'stripeCheckoutSessionId'
  | 'stripePaymentIntentId'
  | 'stripeInvoiceId'
  | 'stripeSubscriptionId'
  | 'grantId'
  | 'drawnFrom'
  | 'holdId'
>;
