import type { SqlExecutor } from '@libs/event-store';
import { RECHARGE_COLUMNS_SELECTED, type RechargeRecord, type RechargeRow, toRechargeRow } from '@projections';
import Stripe from 'stripe';
import { type ComparisonRun, rechargeNotPaid } from './comparison-run';

/** Recharges here whose Stripe object was not listed in the window are fetched one call each: at most this many. */
export const STRIPE_RETRIEVALS_MAX = 200;
/** Recharges read from the read model at a time, when looking for those Stripe did not list. */
const RECHARGES_PAGE_SIZE = 500;

/**
 * The Stripe recharges recorded in the window whose object Stripe did not
 * list (made before the window, or never made at all): each is fetched and
 * must have succeeded. Bounded: past the limit, a warning says how many were
 * not compared.
 */
export async function compareRechargesNotListed(
  run: ComparisonRun,
  window: { since: Date; until: Date },
): Promise<void> {
  let retrievalsLeft = STRIPE_RETRIEVALS_MAX;
  let notRetrieved = 0;
  let afterPosition = '-1';
  for (;;) {
    const page = await stripeRechargesCompleted(run.readModel, window, afterPosition);
    for (const recharge of page.filter((row) => !run.compared.has(row.rechargeId))) {
      if (retrievalsLeft === 0) notRetrieved++;
      else {
        retrievalsLeft--;
        await compareRetrieved(run, recharge);
      }
    }
    if (page.length < RECHARGES_PAGE_SIZE) break;
    afterPosition = page[page.length - 1].globalPosition;
  }
  if (notRetrieved === 0) return;
  run.section.add({
    kind: 'recharges-not-compared',
    severity: 'warning',
    detail:
      `${notRetrieved} recharges of the window were not compared with Stripe: ` +
      `at most ${STRIPE_RETRIEVALS_MAX} are fetched one by one (narrow the window)`,
  });
}

async function compareRetrieved(run: ComparisonRun, recharge: RechargeRow): Promise<void> {
  run.section.count('recharges-retrieved');
  const status = await stripeStatusOf(run.stripe, recharge.rechargeId);
  if (status === undefined) {
    return rechargeNotPaid(
      run.section,
      recharge,
      `no payment intent, invoice or Checkout session ${recharge.rechargeId} exists`,
    );
  }
  if (!status.paid) rechargeNotPaid(run.section, recharge, status.description);
}

/** A recharge id is a payment intent, an invoice (a subscription period) or, without a payment intent, a session. */
async function stripeStatusOf(
  stripe: Stripe,
  rechargeId: string,
): Promise<{ paid: boolean; description: string } | undefined> {
  try {
    if (rechargeId.startsWith('pi_')) {
      const intent = await stripe.paymentIntents.retrieve(rechargeId);
      return { paid: intent.status === 'succeeded', description: `payment intent ${rechargeId} is ${intent.status}` };
    }
    if (rechargeId.startsWith('in_')) {
      const invoice = await stripe.invoices.retrieve(rechargeId);
      return { paid: invoice.status === 'paid', description: `invoice ${rechargeId} is ${invoice.status}` };
    }
    const session = await stripe.checkout.sessions.retrieve(rechargeId);
    const description = `Checkout session ${rechargeId} is ${session.payment_status}`;
    return { paid: session.payment_status === 'paid', description };
  } catch (error) {
    // Only "no such object" is an answer; any other Stripe error means the check could not run.
    if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing') return undefined;
    throw error;
  }
}

async function stripeRechargesCompleted(
  db: SqlExecutor,
  window: { since: Date; until: Date },
  afterPosition: string,
): Promise<RechargeRow[]> {
  const rows = await db.query<RechargeRecord>(
    `select ${RECHARGE_COLUMNS_SELECTED} from recharges
     where source_kind = 'stripe' and completed_at >= $1 and completed_at < $2 and global_position > $3::bigint
     order by recharges.global_position limit $4`,
    [window.since.toISOString(), window.until.toISOString(), afterPosition, RECHARGES_PAGE_SIZE],
  );
  return rows.map(toRechargeRow);
}
