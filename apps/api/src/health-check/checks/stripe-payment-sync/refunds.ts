import type { SqlExecutor } from '@libs/event-store';
import { type StripeRefund, meaningOf } from '@libs/stripe';
import { RECHARGE_COLUMNS_SELECTED, type RechargeRecord, type RechargeRow, toRechargeRow } from '@projections';
import type Stripe from 'stripe';
import { STRIPE_PAGE_LIMIT } from '../../../stripe/sync-stripe-events/sync-stripe-events';
import type { SectionBuilder } from '../../health-report';
import { type ComparisonRun, STRIPE_OBJECTS_COMPARED_MAX, readable } from './comparison-run';

type RefundedCharge = { refund: StripeRefund; disputed: boolean };

/**
 * The charges refunded in the window, by charge, gathered before comparing:
 * two refunds of one charge (on two pages, perhaps) carry the same cumulative
 * figure, and the charges of one recharge add up. The refunds are listed
 * with their charge expanded.
 */
export async function compareRefunds(run: ComparisonRun, refunds: AsyncIterable<Stripe.Refund>): Promise<void> {
  const refundedCharges = new Map<string, RefundedCharge>();
  for await (const refund of refunds) {
    run.section.count('refunds');
    const charge = refund.charge;
    if (typeof charge === 'string') throw new Error(`Stripe did not expand the charge of refund ${refund.id}`);
    if (charge === null || refundedCharges.has(charge.id)) continue;
    if (refundedCharges.size === STRIPE_OBJECTS_COMPARED_MAX) {
      throw new Error(`more than ${STRIPE_OBJECTS_COMPARED_MAX} charges refunded in the window: narrow it`);
    }
    // As the webhook's `charge.refunded` would carry it, read by the same mapping.
    const event = {
      id: `listed:${refund.id}`,
      type: 'charge.refunded',
      created: refund.created,
      data: { object: charge },
    };
    const meaning = readable(run, charge.id, () => meaningOf(event, run.catalog));
    if (meaning?.kind === 'refund') {
      refundedCharges.set(charge.id, { refund: meaning.refund, disputed: charge.disputed });
    }
  }
  const charges = [...refundedCharges.values()];
  for (let start = 0; start < charges.length; start += STRIPE_PAGE_LIMIT) {
    await compareRefundedCharges(run, charges.slice(start, start + STRIPE_PAGE_LIMIT));
  }
}

async function compareRefundedCharges(run: ComparisonRun, charges: RefundedCharge[]): Promise<void> {
  const recharges = await rechargesOfRefunds(
    run.readModel,
    charges.map(({ refund }) => refund),
  );
  const byRecharge = new Map<string, { recharge: RechargeRow; amountRefunded: number; disputed: boolean }>();
  for (const { refund, disputed } of charges) {
    const recharge = recharges.get(refund.chargeId);
    // A refund of a payment not recorded here: the payment's own comparison reports it, if it is the ledger's.
    if (recharge === undefined) {
      run.section.count('refunds-without-recharge');
      continue;
    }
    const seen = byRecharge.get(recharge.rechargeId) ?? { recharge, amountRefunded: 0, disputed: false };
    byRecharge.set(recharge.rechargeId, {
      recharge,
      amountRefunded: seen.amountRefunded + refund.amountRefundedTotal,
      disputed: seen.disputed || disputed,
    });
  }
  for (const refunded of byRecharge.values()) compareRefunded(run.section, refunded);
}

/**
 * The recharge's money refunded here against its charges' refunds on Stripe,
 * capped at the price as the ledger caps it. More here than on Stripe is a
 * difference only for an undisputed charge: a lost dispute takes money back
 * here too, and Stripe counts it apart from refunds.
 */
function compareRefunded(
  section: SectionBuilder,
  { recharge, amountRefunded, disputed }: { recharge: RechargeRow; amountRefunded: number; disputed: boolean },
): void {
  section.count('recharges-refunded');
  const onStripe = Math.min(amountRefunded, recharge.amountPaid);
  const here = recharge.amountRefunded;
  if (here === onStripe || (here > onStripe && disputed)) return;
  section.add({
    kind: here < onStripe ? 'refund-not-recorded' : 'recharge-differs-from-stripe',
    severity: 'failed',
    userId: recharge.userId,
    paymentId: recharge.rechargeId,
    amountRefundedOnStripe: onStripe,
    amountRefundedHere: here,
    detail:
      `Stripe has refunded ${onStripe} ${recharge.currency} of payment ${recharge.rechargeId}; ` +
      `its recharge here records ${here} refunded` +
      (here < onStripe ? ' (run: npm run stripe -- sync)' : ''),
  });
}

/**
 * The recharge each refunded charge is about, by charge id, found as the
 * webhook finds it: the payment intent is the recharge id or is recorded on
 * it, else the (older API's) invoice, else the invoice `invoice_payment.paid`
 * linked to the payment intent.
 */
async function rechargesOfRefunds(db: SqlExecutor, refunds: StripeRefund[]): Promise<Map<string, RechargeRow>> {
  const intentIds = refunds.flatMap((refund) => (refund.paymentIntentId === undefined ? [] : [refund.paymentIntentId]));
  const invoiceIds = await invoicesOfPaymentIntents(db, intentIds);
  const ids = [...intentIds, ...refunds.flatMap((refund) => refund.invoiceId ?? []), ...invoiceIds.values()];
  const rows = (
    await db.query<RechargeRecord>(
      `select ${RECHARGE_COLUMNS_SELECTED} from recharges
       where recharge_id = any($1::text[]) or payment_intent_id = any($1::text[])`,
      [ids],
    )
  ).map(toRechargeRow);
  const byId = new Map(rows.map((row) => [row.rechargeId, row]));
  const byIntent = new Map(rows.map((row) => [row.paymentIntentId, row]));
  const recharges = new Map<string, RechargeRow>();
  for (const { chargeId, paymentIntentId, invoiceId } of refunds) {
    const linkedInvoiceId = paymentIntentId === undefined ? undefined : invoiceIds.get(paymentIntentId);
    const recharge =
      byId.get(paymentIntentId ?? '') ??
      byIntent.get(paymentIntentId ?? '') ??
      byId.get(invoiceId ?? '') ??
      byId.get(linkedInvoiceId ?? '');
    if (recharge !== undefined) recharges.set(chargeId, recharge);
  }
  return recharges;
}

/** Newer API versions name no invoice on a charge: `invoice_payment.paid`, as delivered, links them. */
async function invoicesOfPaymentIntents(db: SqlExecutor, intentIds: string[]): Promise<Map<string, string>> {
  if (intentIds.length === 0) return new Map();
  const rows = await db.query<{ payment_intent_id: string; invoice_id: string }>(
    `select payload #>> '{data,object,payment,payment_intent}' as payment_intent_id,
            payload #>> '{data,object,invoice}' as invoice_id
     from stripe_deliveries
     where event_type = 'invoice_payment.paid' and payload #>> '{data,object,payment,payment_intent}' = any($1::text[])`,
    [intentIds],
  );
  return new Map(rows.map((row) => [row.payment_intent_id, row.invoice_id]));
}
