import { assertNever, balanceDelta, isBalanceAllowed } from '@libs/credits';
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
>;

const NO_DESCRIPTION: Description = {
  feature: null,
  reason: null,
  rechargeId: null,
  reference: null,
  stripeCheckoutSessionId: null,
  stripePaymentIntentId: null,
  stripeInvoiceId: null,
  stripeSubscriptionId: null,
};

function describedBy(event: ProjectedEvent): Description {
  switch (event.type) {
    case 'CreditsConsumed':
      return { ...NO_DESCRIPTION, feature: event.data.feature, reference: event.data.reference };
    case 'BonusGranted':
      return { ...NO_DESCRIPTION, reason: event.data.reason };
    case 'RechargeCompleted': {
      const { source } = event.data;
      return {
        ...NO_DESCRIPTION,
        rechargeId: event.data.rechargeId,
        stripeCheckoutSessionId: source.checkoutSessionId ?? null,
        stripePaymentIntentId: source.paymentIntentId ?? null,
        stripeInvoiceId: source.invoiceId ?? null,
        stripeSubscriptionId: source.subscriptionId ?? null,
      };
    }
    case 'RechargeRefunded':
      return { ...NO_DESCRIPTION, rechargeId: event.data.rechargeId, reason: event.data.reason };
    case 'CreditsFrozen':
      return { ...NO_DESCRIPTION, rechargeId: event.data.rechargeId, reason: `dispute ${event.data.disputeId} opened` };
    case 'CreditsUnfrozen':
      return { ...NO_DESCRIPTION, rechargeId: event.data.rechargeId, reason: `dispute ${event.data.disputeId} won` };
    default:
      return assertNever(event);
  }
}
