import type { StripeConfig } from '@libs/config';
import type { SqlExecutor } from '@libs/event-store';
import { StripeObjectError } from '@libs/stripe';
import type { RechargeRow } from '@projections';
import type Stripe from 'stripe';
import type { SectionBuilder } from '../../health-report';

/**
 * Ids of the Stripe objects compared, held so that a session and its payment
 * intent (one recharge) are compared once and the recharges Stripe did not
 * list are told apart. A bound, as for the sync: more means a narrower window.
 */
export const STRIPE_OBJECTS_COMPARED_MAX = 1_000_000;

/** What one run of the Stripe comparison carries from list to list. */
export type ComparisonRun = {
  stripe: Stripe;
  readModel: SqlExecutor;
  catalog: StripeConfig['catalog'];
  section: SectionBuilder;
  /** Stripe object ids (and payment ids) already compared: succeeded or not, they are not fetched again. */
  compared: Set<string>;
};

/**
 * An object the mapping refuses (a field Stripe's types would not allow) is a
 * finding, not the end of the check: the webhook records its event `failed`
 * too, so its money may be uncredited.
 */
export function readable<T>(run: ComparisonRun, objectId: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof StripeObjectError)) throw error;
    run.section.add({
      kind: 'stripe-object-unreadable',
      severity: 'failed',
      stripeObjectId: objectId,
      detail: error.message,
    });
    return undefined;
  }
}

/** A recharge here whose Stripe object did not succeed: credits for money never received. */
export function rechargeNotPaid(section: SectionBuilder, recharge: RechargeRow, onStripe: string): void {
  section.add({
    kind: 'recharge-differs-from-stripe',
    severity: 'failed',
    userId: recharge.userId,
    paymentId: recharge.rechargeId,
    detail: `on Stripe, ${onStripe}; yet recharge ${recharge.rechargeId} credited ${recharge.credits} credits here`,
  });
}
