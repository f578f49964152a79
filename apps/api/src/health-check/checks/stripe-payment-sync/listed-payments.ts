import type { SqlExecutor } from '@libs/event-store';
import { type StripePayment, meaningOf } from '@libs/stripe';
import { RECHARGE_COLUMNS_SELECTED, type RechargeRecord, type RechargeRow, toRechargeRow } from '@projections';
import type Stripe from 'stripe';
import { STRIPE_PAGE_LIMIT } from '../../../stripe/sync-stripe-events/sync-stripe-events';
import type { SectionBuilder } from '../../health-report';
import { type ComparisonRun, STRIPE_OBJECTS_COMPARED_MAX, readable, rechargeNotPaid } from './comparison-run';

/** By what a listed object is called in findings: the event Stripe sends once it is paid. */
const EVENT_TYPE_OF_PAID = {
  'Checkout session': 'checkout.session.completed',
  invoice: 'invoice.paid',
  'payment intent': 'payment_intent.succeeded',
} as const;

type ObjectKind = keyof typeof EVENT_TYPE_OF_PAID;

/** A payment as one listed Stripe object means it: the object is named in findings, the payment is the recharge. */
type ListedPayment = { objectId: string; objectKind: ObjectKind; payment: StripePayment };

/** Checkout sessions or invoices Stripe lists as paid, a page at a time. */
export async function compareListedPayments(
  run: ComparisonRun,
  kind: { countName: 'checkout-sessions' | 'invoices'; objectKind: ObjectKind },
  objects: AsyncIterable<{ id: string; created: number }>,
): Promise<void> {
  for await (const page of inPages(objects)) {
    run.section.count(kind.countName, page.length);
    await comparePaid(run, kind.objectKind, page);
  }
}

/** Every payment intent of the window: the succeeded ones are payments, the others must not be recharges here. */
export async function comparePaymentIntents(
  run: ComparisonRun,
  intents: AsyncIterable<Stripe.PaymentIntent>,
): Promise<void> {
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
  run: ComparisonRun,
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
  run: ComparisonRun,
  eventType: string,
  objectKind: ObjectKind,
  object: { id: string; created: number },
): ListedPayment[] {
  const event = { id: `listed:${object.id}`, type: eventType, created: object.created, data: { object } };
  const meaning = readable(run, object.id, () => meaningOf(event, run.catalog));
  return meaning?.kind === 'payment' ? [{ objectId: object.id, objectKind, payment: meaning.payment }] : [];
}

/** One read-model lookup per page: the recharges and the parked payments of its payments. */
async function comparePayments(run: ComparisonRun, listed: ListedPayment[]): Promise<void> {
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
async function compareNotSucceeded(run: ComparisonRun, intents: Stripe.PaymentIntent[]): Promise<void> {
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

function remember(run: ComparisonRun, id: string): void {
  if (run.compared.size >= STRIPE_OBJECTS_COMPARED_MAX && !run.compared.has(id)) {
    throw new Error(`more than ${STRIPE_OBJECTS_COMPARED_MAX} Stripe objects in the window: narrow it`);
  }
  run.compared.add(id);
}

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
