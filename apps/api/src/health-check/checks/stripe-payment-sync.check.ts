import type { StripeConfig } from '@libs/config';
import type { SqlExecutor } from '@libs/event-store';
import { type StripePayment, type StripeRefund, StripeObjectError, meaningOf } from '@libs/stripe';
import { RECHARGE_COLUMNS_SELECTED, type RechargeRecord, type RechargeRow, toRechargeRow } from '@projections';
import Stripe from 'stripe';
import { STRIPE_PAGE_LIMIT } from '../../stripe/sync-stripe-events/sync-stripe-events';
import type { SectionBuilder } from '../health-report';

export type StripePaymentSyncDependencies = {
  /** Undefined without STRIPE_API_KEY: the check is skipped with a warning. */
  stripe: Stripe | undefined;
  readModel: SqlExecutor;
  catalog: StripeConfig['catalog'];
};

/**
 * Ids of the Stripe objects compared, held so that a session and its payment
 * intent (one recharge) are compared once and the recharges Stripe did not
 * list are told apart. A bound, as for the sync: more means a narrower window.
 */
export const STRIPE_OBJECTS_COMPARED_MAX = 1_000_000;
/** Recharges here whose Stripe object was not listed in the window are fetched one call each: at most this many. */
export const STRIPE_RETRIEVALS_MAX = 200;
/** Recharges read from the read model at a time, when looking for those Stripe did not list. */
const RECHARGES_PAGE_SIZE = 500;

export const STRIPE_KEY_MISSING_NOTE =
  'STRIPE_API_KEY is not set: the payments Stripe took were not compared with the recharges recorded here';

const LISTS_COUNTED = ['checkout-sessions', 'invoices', 'payment-intents', 'refunds'] as const;

type Run = {
  stripe: Stripe;
  readModel: SqlExecutor;
  catalog: StripeConfig['catalog'];
  section: SectionBuilder;
  /** Stripe object ids (and payment ids) already compared: succeeded or not, they are not fetched again. */
  compared: Set<string>;
};

/** A payment as one listed Stripe object means it: the object is named in findings, the payment is the recharge. */
type ListedPayment = { objectId: string; objectKind: ObjectKind; payment: StripePayment };

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
  const run: Run = { stripe, readModel, catalog, section, compared: new Set() };
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
  await compareRechargesNotListed(run, window);
}

/** Stripe filters on whole seconds: the window's seconds, half-open like the window. */
function createdWithin(window: { since: Date; until: Date }): Stripe.RangeQueryParam {
  return { gte: Math.floor(window.since.getTime() / 1000), lt: Math.ceil(window.until.getTime() / 1000) };
}

// --- Payments ------------------------------------------------------------------

/** By what a listed object is called in findings: the event Stripe sends once it is paid. */
const EVENT_TYPE_OF_PAID = {
  'Checkout session': 'checkout.session.completed',
  invoice: 'invoice.paid',
  'payment intent': 'payment_intent.succeeded',
} as const;

type ObjectKind = keyof typeof EVENT_TYPE_OF_PAID;

async function compareListedPayments(
  run: Run,
  kind: { countName: (typeof LISTS_COUNTED)[number]; objectKind: ObjectKind },
  objects: AsyncIterable<{ id: string; created: number }>,
): Promise<void> {
  for await (const page of inPages(objects)) {
    run.section.count(kind.countName, page.length);
    await comparePaid(run, kind.objectKind, page);
  }
}

/** Every payment intent of the window: the succeeded ones are payments, the others must not be recharges here. */
async function comparePaymentIntents(run: Run, intents: AsyncIterable<Stripe.PaymentIntent>): Promise<void> {
  for await (const page of inPages(intents)) {
    run.section.count('payment-intents', page.length);
    await comparePaid(
      run,
      'payment intent',
      page.filter((intent) => intent.status === 'succeeded'),
    );
    await compareNotSucceeded(
      run,
      page.filter((intent) => intent.status !== 'succeeded'),
    );
  }
}

/** Objects Stripe reports as paid; remembered once compared, so that no recharge of theirs is fetched again. */
async function comparePaid(
  run: Run,
  objectKind: ObjectKind,
  objects: Array<{ id: string; created: number }>,
): Promise<void> {
  const eventType = EVENT_TYPE_OF_PAID[objectKind];
  await comparePayments(
    run,
    objects.flatMap((object) => listedPayment(run, eventType, objectKind, object)),
  );
  objects.forEach((object) => remember(run, object.id));
}

/**
 * What the webhook would have made of this object: it is wrapped as the event
 * Stripe sends when it succeeds, so that the one pure mapping the webhook and
 * the sync use (`meaningOf`) decides its recharge id, user and amount here
 * too, rather than a second reading of Stripe's objects that could drift.
 */
function listedPayment(
  run: Run,
  eventType: string,
  objectKind: ObjectKind,
  object: { id: string; created: number },
): ListedPayment[] {
  const event = { id: `listed:${object.id}`, type: eventType, created: object.created, data: { object } };
  const meaning = readable(run, object.id, () => meaningOf(event, run.catalog));
  return meaning?.kind === 'payment' ? [{ objectId: object.id, objectKind, payment: meaning.payment }] : [];
}

/** One read-model lookup per page: the recharges and the parked payments of its payments. */
async function comparePayments(run: Run, listed: ListedPayment[]): Promise<void> {
  const fresh: ListedPayment[] = [];
  for (const one of listed) {
    // A session and its payment intent are one payment: compared once, named by the first listed.
    if (run.compared.has(one.payment.paymentId)) continue;
    remember(run, one.payment.paymentId);
    fresh.push(one);
  }
  const paymentIds = fresh.map(({ payment }) => payment.paymentId);
  const recharges = await rechargesByIds(run.readModel, paymentIds);
  const parked = await parkedPaymentIds(run.readModel, paymentIds);
  for (const one of fresh) {
    run.section.count('payments');
    comparePayment(run.section, one, recharges.get(one.payment.paymentId), parked);
  }
}

function comparePayment(
  section: SectionBuilder,
  { objectId, objectKind, payment }: ListedPayment,
  recharge: RechargeRow | undefined,
  parked: Set<string>,
): void {
  const { paymentId, amountPaid, currency } = payment;
  const onStripe = `Stripe reports ${objectKind} ${objectId} (payment ${paymentId}, ${amountPaid} ${currency}) as paid`;
  if (recharge === undefined && parked.has(paymentId)) {
    // Known here, waiting for an operator: the recharge-status check lists it.
    section.count('payments-parked');
  } else if (recharge === undefined) {
    section.add({
      kind: 'payment-not-recorded',
      severity: 'failed',
      ...(payment.userId === undefined ? {} : { userId: payment.userId }),
      paymentId,
      stripeObjectId: objectId,
      detail: `${onStripe}; no recharge of it is recorded here and it is not parked (run: npm run stripe -- sync)`,
    });
  } else if (recharge.amountPaid !== amountPaid || recharge.currency !== currency) {
    section.add({
      kind: 'recharge-differs-from-stripe',
      severity: 'failed',
      userId: recharge.userId,
      paymentId,
      stripeObjectId: objectId,
      detail: `${onStripe}; its recharge here records ${recharge.amountPaid} ${recharge.currency}`,
    });
  }
}

/** Payment intents Stripe did not (or not yet) collect: a recharge of one credits money never received. */
async function compareNotSucceeded(run: Run, intents: Stripe.PaymentIntent[]): Promise<void> {
  intents.forEach((intent) => remember(run, intent.id));
  const recharges = await rechargesByIds(
    run.readModel,
    intents.map((intent) => intent.id),
  );
  for (const intent of intents) {
    const recharge = recharges.get(intent.id);
    if (recharge !== undefined) {
      rechargeNotPaid(run.section, recharge, `payment intent ${intent.id} is ${intent.status}`);
    }
  }
}

function rechargeNotPaid(section: SectionBuilder, recharge: RechargeRow, onStripe: string): void {
  section.add({
    kind: 'recharge-differs-from-stripe',
    severity: 'failed',
    userId: recharge.userId,
    paymentId: recharge.rechargeId,
    detail: `on Stripe, ${onStripe}; yet recharge ${recharge.rechargeId} credited ${recharge.credits} credits here`,
  });
}

// --- Refunds -------------------------------------------------------------------

type RefundedCharge = { refund: StripeRefund; disputed: boolean };

/**
 * The charges refunded in the window, by charge, gathered before comparing:
 * two refunds of one charge (on two pages, perhaps) carry the same cumulative
 * figure, and the charges of one recharge add up.
 */
async function compareRefunds(run: Run, refunds: AsyncIterable<Stripe.Refund>): Promise<void> {
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

async function compareRefundedCharges(run: Run, charges: RefundedCharge[]): Promise<void> {
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

// --- Recharges here that Stripe did not list -------------------------------------

/**
 * The Stripe recharges recorded in the window whose object Stripe did not
 * list (made before the window, or never made at all): each is fetched and
 * must have succeeded. Bounded: past the limit, a warning says how many were
 * not compared.
 */
async function compareRechargesNotListed(run: Run, window: { since: Date; until: Date }): Promise<void> {
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

async function compareRetrieved(run: Run, recharge: RechargeRow): Promise<void> {
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

// --- Read model ------------------------------------------------------------------

async function rechargesByIds(db: SqlExecutor, rechargeIds: string[]): Promise<Map<string, RechargeRow>> {
  if (rechargeIds.length === 0) return new Map();
  const rows = await db.query<RechargeRecord>(
    `select ${RECHARGE_COLUMNS_SELECTED} from recharges where recharge_id = any($1::text[])`,
    [rechargeIds],
  );
  return new Map(rows.map((row) => [row.recharge_id, toRechargeRow(row)]));
}

/** Payments the webhook parked (no user, or credits the catalog cannot tell): known here, not missing. */
async function parkedPaymentIds(db: SqlExecutor, paymentIds: string[]): Promise<Set<string>> {
  if (paymentIds.length === 0) return new Set();
  const rows = await db.query<{ recharge_id: string }>(
    `select distinct recharge_id from stripe_deliveries where status = 'parked' and recharge_id = any($1::text[])`,
    [paymentIds],
  );
  return new Set(rows.map((row) => row.recharge_id));
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

async function stripeRechargesCompleted(
  db: SqlExecutor,
  window: { since: Date; until: Date },
  afterPosition: string,
): Promise<RechargeRow[]> {
  const rows = await db.query<RechargeRecord>(
    `select ${RECHARGE_COLUMNS_SELECTED} from recharges
     where source_kind = 'stripe' and completed_at >= $1 and completed_at < $2 and global_position > $3::bigint
     order by global_position limit $4`,
    [window.since.toISOString(), window.until.toISOString(), afterPosition, RECHARGES_PAGE_SIZE],
  );
  return rows.map(toRechargeRow);
}

// --- Helpers -----------------------------------------------------------------------

/** Stripe's auto-pagination, a page at a time, so that each page costs one read-model lookup. */
async function* inPages<T>(items: AsyncIterable<T>): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const item of items) {
    page.push(item);
    if (page.length === STRIPE_PAGE_LIMIT) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

function remember(run: Run, id: string): void {
  if (run.compared.size >= STRIPE_OBJECTS_COMPARED_MAX && !run.compared.has(id)) {
    throw new Error(`more than ${STRIPE_OBJECTS_COMPARED_MAX} Stripe objects in the window: narrow it`);
  }
  run.compared.add(id);
}

/**
 * An object the mapping refuses (a field Stripe's types would not allow) is a
 * finding, not the end of the check: the webhook records its event `failed`
 * too, so its money may be uncredited.
 */
function readable<T>(run: Run, objectId: string, read: () => T): T | undefined {
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
