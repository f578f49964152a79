import type { StripeConfig } from '@libs/config';
import type { SqlExecutor } from '@libs/event-store';
import type Stripe from 'stripe';
import { STRIPE_PAGE_LIMIT } from '../../../stripe/sync-stripe-events/sync-stripe-events';
import type { SectionBuilder } from '../../health-report';
import type { ComparisonRun } from './comparison-run';
import { compareListedPayments, comparePaymentIntents } from './listed-payments';
import { compareRechargesNotListed } from './recharges-not-listed';
import { compareRefunds } from './refunds';

/** The check's bounds, where the parts that apply them define them. */
export { STRIPE_OBJECTS_COMPARED_MAX } from './comparison-run';
export { STRIPE_RETRIEVALS_MAX } from './recharges-not-listed';

export type StripePaymentSyncDependencies = {
  /** Undefined without STRIPE_API_KEY: the check is skipped with a warning. */
  stripe: Stripe | undefined;
  readModel: SqlExecutor;
  catalog: StripeConfig['catalog'];
};

export const STRIPE_KEY_MISSING_NOTE =
  'STRIPE_API_KEY is not set: the payments Stripe took were not compared with the recharges recorded here';

const LISTS_COUNTED = ['checkout-sessions', 'invoices', 'payment-intents', 'refunds'] as const;

/**
 * Check 4: what Stripe took against what was recorded here, through Stripe's
 * API, for the objects Stripe made in the window. Every payment Stripe
 * reports as succeeded (a paid Checkout session, a paid invoice, a succeeded
 * payment intent) must be a recharge here or a parked payment; every refund
 * must be in the recharge's `amount_refunded`; a recharge here whose Stripe
 * object did not succeed, or does not exist, is reported. Stripe errors (a
 * refused key, Stripe unreachable) propagate: the check could not run.
 */
export async function checkStripePaymentSync(
  dependencies: StripePaymentSyncDependencies,
  window: { since: Date; until: Date },
  section: SectionBuilder,
): Promise<void> {
  const { stripe, readModel, catalog } = dependencies;
  if (stripe === undefined) {
    section.skip(STRIPE_KEY_MISSING_NOTE);
    return;
  }
  const run: ComparisonRun = { stripe, readModel, catalog, section, compared: new Set() };
  // Counted from zero, so that the report shows each list was read even when Stripe had nothing in it.
  for (const listed of LISTS_COUNTED) section.count(listed, 0);
  const created = createdWithin(window);
  const limit = STRIPE_PAGE_LIMIT;
  // Sessions first: a session and its payment intent are one payment, named (and reported) by the session.
  const sessions = stripe.checkout.sessions.list({ created, status: 'complete', limit });
  await compareListedPayments(run, { countName: 'checkout-sessions', objectKind: 'Checkout session' }, sessions);
  const invoices = stripe.invoices.list({ created, status: 'paid', limit });
  await compareListedPayments(run, { countName: 'invoices', objectKind: 'invoice' }, invoices);
  await comparePaymentIntents(run, stripe.paymentIntents.list({ created, limit }));
  // Expanded: the charge's cumulative `amount_refunded` is the figure the webhook's `charge.refunded` carries.
  await compareRefunds(run, stripe.refunds.list({ created, limit, expand: ['data.charge'] }));
  // Last: what the lists above did not name (run.compared) is fetched one by one.
  await compareRechargesNotListed(run, window);
}

/** Stripe filters on whole seconds: the window's seconds, half-open like the window. */
function createdWithin(window: { since: Date; until: Date }): Stripe.RangeQueryParam {
  return { gte: Math.floor(window.since.getTime() / 1000), lt: Math.ceil(window.until.getTime() / 1000) };
}
