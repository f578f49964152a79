import { AMOUNT_CREDITS_MAX, type RechargeSource, type RolloverTerms, USER_ID_PATTERN } from '@libs/credits';
import { DateTime, Duration } from 'luxon';
import {
  type CreditPack,
  type CreditPlan,
  type PlanRollover,
  type StripeCatalog,
  packById,
  packByPriceId,
  planByPriceId,
} from './stripe-catalog';
import { nextPeriodEnd } from './stripe-period';
import type {
  CreditsOfPayment,
  StripeDispute,
  StripeEventEnvelope,
  StripeEventMeaning,
  StripePayment,
  StripeRefundReversal,
} from './stripe-event.meaning';

/**
 * A Stripe object that is not what its event type promises (a missing id, an
 * amount that is not an integer): the ingestion records the event as failed
 * rather than guess, and the message names the field.
 */
export class StripeObjectError extends Error {
  override readonly name = 'StripeObjectError';

  constructor(
    readonly eventId: string,
    readonly eventType: string,
    /** Path in the event, e.g. `data.object.lines.data[0].quantity`. */
    readonly field: string,
    problem: string,
  ) {
    super(`Stripe event ${eventId} (${eventType}): ${field} ${problem}`);
  }
}

/** The event types this mapping reads; any other type changes no credits. */
const MAPPED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'payment_intent.succeeded',
  'charge.succeeded',
  'charge.refunded',
  'refund.failed',
  'refund.updated',
  'charge.refund.updated',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice_payment.paid',
  'charge.dispute.created',
  'charge.dispute.closed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
] as const;

type MappedEventType = (typeof MAPPED_EVENT_TYPES)[number];

/** Metadata keys our checkout helper sets; a payment intent without any of them is not a payment of ours alone. */
const LEDGER_METADATA_KEYS = ['userId', 'credits', 'packId', 'priceId'] as const;

/**
 * What one Stripe event means to the ledger. Pure: reads the event and the
 * catalog only, so a replayed or re-delivered event always means the same.
 * Throws `StripeObjectError` for an object that is not what its type promises.
 */
export function meaningOf(event: StripeEventEnvelope, catalog: StripeCatalog): StripeEventMeaning {
  const type = event.type;
  if (!isMappedEventType(type)) return ignored(`event type ${type} changes no credits`);
  switch (type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return checkoutSessionMeaning(event, catalog);
    case 'checkout.session.async_payment_failed':
      return ignored('the asynchronous payment of the Checkout session failed: nothing was paid');
    case 'checkout.session.expired':
      return ignored('the Checkout session expired: nothing was paid');
    case 'payment_intent.succeeded':
      return paymentIntentMeaning(event, catalog);
    case 'charge.succeeded':
      return ignored('a charge is credited through its payment intent or Checkout session');
    case 'charge.refunded':
      return refundMeaning(event);
    case 'refund.failed':
    case 'refund.updated':
    case 'charge.refund.updated':
      return refundReversalMeaning(event);
    case 'invoice.paid':
      return invoiceMeaning(event, catalog);
    case 'invoice.payment_succeeded':
      // Stripe sends both for one payment; reading one of them avoids doing the work twice.
      return ignored('handled through invoice.paid');
    case 'invoice_payment.paid':
      return invoicePaymentMeaning(event);
    case 'charge.dispute.created':
      return { kind: 'dispute-opened', dispute: disputeOf(event) };
    case 'charge.dispute.closed':
      return disputeClosedMeaning(event);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
    case 'customer.subscription.paused':
    case 'customer.subscription.resumed':
      return subscriptionMeaning(event);
    default:
      return assertNever(type);
  }
}

function checkoutSessionMeaning(event: StripeEventEnvelope, catalog: StripeCatalog): StripeEventMeaning {
  const session = payloadOf(event);
  const mode = requiredString(session, 'mode');
  if (mode === 'subscription') {
    return ignored(
      'a subscription is credited per paid invoice (invoice.paid), so its first period is not credited twice',
    );
  }
  if (mode !== 'payment') return ignored(`a Checkout session in ${mode} mode takes no payment`);
  const paymentStatus = requiredString(session, 'payment_status');
  switch (paymentStatus) {
    case 'paid':
      return checkoutSessionPayment(event, session, catalog);
    case 'unpaid':
      return ignored('the Checkout session is not paid yet: waiting for its async payment to succeed');
    case 'no_payment_required':
      return ignored('nothing paid: the Checkout session required no payment');
    default:
      throw fieldError(session, 'payment_status', 'must be paid, unpaid or no_payment_required', paymentStatus);
  }
}

function checkoutSessionPayment(
  event: StripeEventEnvelope,
  session: PayloadObject,
  catalog: StripeCatalog,
): StripeEventMeaning {
  const checkoutSessionId = requiredString(session, 'id');
  const paymentIntentId = optionalId(session, 'payment_intent');
  const customerId = optionalId(session, 'customer');
  const bought = packsBought(session, catalog, sessionLines(session));
  return payment(event, {
    // The session and its payment intent are one recharge: both events name it by the intent.
    paymentId: paymentIntentId ?? checkoutSessionId,
    userId: firstUserId([metadataValue(session, 'userId'), optionalString(session, 'client_reference_id')]),
    customerId,
    credits: creditsOfOneOffPayment(session, catalog, bought),
    amountPaid: wholeNumber(session, 'amount_total'),
    currency: currencyOf(session),
    source: { checkoutSessionId, paymentIntentId, customerId },
    expiresAt: expiryOfPacks(bought, event),
  });
}

function paymentIntentMeaning(event: StripeEventEnvelope, catalog: StripeCatalog): StripeEventMeaning {
  const intent = payloadOf(event);
  // Older API versions name the invoice a payment intent pays; newer ones do not, hence the metadata test below.
  if (optionalId(intent, 'invoice') !== undefined) return ignored('credited by its invoice.paid');
  if (LEDGER_METADATA_KEYS.every((key) => metadataValue(intent, key) === undefined)) {
    return ignored('no ledger metadata: a Checkout or invoice payment is credited by its own event');
  }
  const paymentIntentId = requiredString(intent, 'id');
  const customerId = optionalId(intent, 'customer');
  const bought = packsBought(intent, catalog, []);
  return payment(event, {
    paymentId: paymentIntentId,
    userId: firstUserId([metadataValue(intent, 'userId')]),
    customerId,
    credits: creditsOfOneOffPayment(intent, catalog, bought),
    amountPaid: wholeNumber(intent, 'amount_received'),
    currency: currencyOf(intent),
    source: { paymentIntentId, customerId },
    expiresAt: expiryOfPacks(bought, event),
    savedPaymentMethod: savedPaymentMethodOf(intent, customerId),
  });
}

/** The card a payment intent saved on its customer for off-session payments, if it did. */
function savedPaymentMethodOf(
  intent: PayloadObject,
  customerId: string | undefined,
): StripePayment['savedPaymentMethod'] {
  const paymentMethodId = optionalId(intent, 'payment_method');
  if (optionalString(intent, 'setup_future_usage') !== 'off_session') return undefined;
  if (customerId === undefined || paymentMethodId === undefined) return undefined;
  return { customerId, paymentMethodId };
}

function invoiceMeaning(event: StripeEventEnvelope, catalog: StripeCatalog): StripeEventMeaning {
  const invoice = payloadOf(event);
  const invoiceId = requiredString(invoice, 'id');
  const amountPaid = wholeNumber(invoice, 'amount_paid');
  if (amountPaid === 0) return ignored('nothing paid: the invoice was paid with an amount of 0 (a trial, a discount)');
  // Newer API versions moved the subscription under `parent.subscription_details`.
  const currentDetails = child(child(invoice, 'parent'), 'subscription_details');
  const legacyDetails = child(invoice, 'subscription_details');
  const subscriptionId = optionalId(invoice, 'subscription') ?? optionalId(currentDetails, 'subscription');
  const paymentIntentId = optionalId(invoice, 'payment_intent') ?? firstInvoicePaymentIntent(invoice);
  const unpaidPeriod = notAPaidPeriod(invoice, subscriptionId, paymentIntentId);
  if (unpaidPeriod !== undefined) return ignored(unpaidPeriod);
  const customerId = optionalId(invoice, 'customer');
  const expiresAt = expiryOfInvoice(invoice, catalog, event);
  return payment(event, {
    // A subscription's period is its own payment; a one-off invoice (Checkout's `invoice_creation`, a
    // payment link) is the same payment as its payment intent, which its session already credits.
    paymentId: subscriptionId === undefined ? paymentIntentId! : invoiceId,
    userId: firstUserId([
      metadataValue(invoice, 'userId'),
      metadataValue(currentDetails, 'userId'),
      metadataValue(legacyDetails, 'userId'),
    ]),
    customerId,
    credits: creditsOfInvoice(invoice, catalog),
    amountPaid,
    currency: currencyOf(invoice),
    source: { invoiceId, subscriptionId, customerId, paymentIntentId },
    expiresAt,
    rollover: rolloverOfInvoice(invoice, catalog, expiresAt),
  });
}

/**
 * Why a paid invoice buys no period of credits, if it does not: a plan change
 * bills prorations (the next period's invoice credits the new plan), and a
 * one-off invoice without a payment intent could not be told from the
 * session or payment intent that credits the same money.
 */
function notAPaidPeriod(
  invoice: PayloadObject,
  subscriptionId: string | undefined,
  paymentIntentId: string | undefined,
): string | undefined {
  if (invoice.fields.billing_reason === 'subscription_update') {
    return 'a plan change billed as prorations: the next period’s invoice credits the new plan';
  }
  if (subscriptionId === undefined && paymentIntentId === undefined) {
    return 'a one-off invoice without a payment intent: its Checkout session or payment intent credits it';
  }
  return undefined;
}

/** Newer API versions name an invoice's payment intents in `payments` (when it is included). */
function firstInvoicePaymentIntent(invoice: PayloadObject): string | undefined {
  for (const invoicePayment of listItems(child(invoice, 'payments'))) {
    const paymentIntentId = optionalId(child(invoicePayment, 'payment'), 'payment_intent');
    if (paymentIntentId !== undefined) return paymentIntentId;
  }
  return undefined;
}

/**
 * Newer API versions name no payment intent on an invoice (unless its
 * `payments` are expanded) and no invoice on a charge: this event is what
 * links them, so that a refund of the charge finds the invoice's recharge.
 * It moves no credits; the ingestion keeps it in its delivery record.
 */
function invoicePaymentMeaning(event: StripeEventEnvelope): StripeEventMeaning {
  const invoicePayment = payloadOf(event);
  const invoiceId = requiredId(invoicePayment, 'invoice');
  const paymentIntentId = optionalId(child(invoicePayment, 'payment'), 'payment_intent');
  if (paymentIntentId === undefined) return ignored(`invoice ${invoiceId} was paid otherwise than by a payment intent`);
  return ignored(`links invoice ${invoiceId} to payment intent ${paymentIntentId}, to match the invoice's refunds`);
}

function refundMeaning(event: StripeEventEnvelope): StripeEventMeaning {
  const charge = payloadOf(event);
  return {
    kind: 'refund',
    refund: {
      stripeEventId: event.id,
      chargeId: requiredString(charge, 'id'),
      paymentIntentId: optionalId(charge, 'payment_intent'),
      invoiceId: optionalId(charge, 'invoice'),
      customerId: optionalId(charge, 'customer'),
      amountRefundedTotal: wholeNumber(charge, 'amount_refunded'),
      currency: currencyOf(charge),
      refundedAt: event.created,
    },
  };
}

/**
 * A refund that failed or was canceled gives back what its `charge.refunded`
 * took. `refund.failed` says so; a `refund.updated` or `charge.refund.updated`
 * says so when the update is the change of status (its `previous_attributes`
 * name the status): a later update of a refund failed long before (its
 * metadata) would date the failure wrongly, and the event that changed its
 * status reverses it. Any other status changes no credits: the refund was
 * taken back when its `charge.refunded` came.
 */
function refundReversalMeaning(event: StripeEventEnvelope): StripeEventMeaning {
  const refund = payloadOf(event);
  const refundId = requiredString(refund, 'id');
  const status = optionalString(refund, 'status');
  if (status !== 'failed' && status !== 'canceled') {
    return ignored(`refund ${refundId} is ${status ?? 'without a status'}: its charge.refunded takes its credits back`);
  }
  if (event.type !== 'refund.failed' && !changesStatus(event)) {
    return ignored(
      `refund ${refundId} was ${status} before this update: the update that made it so gives back its credits`,
    );
  }
  const reversal: StripeRefundReversal = {
    stripeEventId: event.id,
    refundId,
    chargeId: requiredId(refund, 'charge'),
    paymentIntentId: optionalId(refund, 'payment_intent'),
    amount: wholeNumber(refund, 'amount'),
    currency: currencyOf(refund),
    status,
    failureReason: optionalString(refund, 'failure_reason'),
    refundCreatedAt: wholeNumber(refund, 'created'),
    failedAt: event.created,
  };
  return { kind: 'refund-reversed', reversal };
}

/** An `*.updated` event whose update changed the object's status. */
function changesStatus(event: StripeEventEnvelope): boolean {
  const previous = event.data?.previous_attributes;
  return isJsonObject(previous) && 'status' in previous;
}

function disputeClosedMeaning(event: StripeEventEnvelope): StripeEventMeaning {
  const dispute = disputeOf(event);
  const status = requiredString(payloadOf(event), 'status');
  if (status === 'lost') return { kind: 'dispute-closed', dispute, outcome: 'lost' };
  // An inquiry closed without a chargeback (`warning_closed`), or one prevented: no funds moved, so what the
  // dispute froze is released as for a win.
  if (status === 'won' || status === 'warning_closed' || status === 'prevented') {
    return { kind: 'dispute-closed', dispute, outcome: 'won' };
  }
  return ignored(`the dispute closed with status ${status}, neither won nor lost: nothing to release or take back`);
}

function disputeOf(event: StripeEventEnvelope): StripeDispute {
  const dispute = payloadOf(event);
  return {
    stripeEventId: event.id,
    disputeId: requiredString(dispute, 'id'),
    chargeId: requiredId(dispute, 'charge'),
    paymentIntentId: optionalId(dispute, 'payment_intent'),
    amount: wholeNumber(dispute, 'amount'),
    currency: currencyOf(dispute),
  };
}

function subscriptionMeaning(event: StripeEventEnvelope): StripeEventMeaning {
  const subscription = payloadOf(event);
  return {
    kind: 'subscription-status',
    subscription: {
      stripeEventId: event.id,
      subscriptionId: requiredString(subscription, 'id'),
      customerId: optionalId(subscription, 'customer'),
      userId: firstUserId([metadataValue(subscription, 'userId')]),
      status: requiredString(subscription, 'status'),
    },
  };
}

type PaymentFields = Omit<StripePayment, 'source' | 'expiresAt' | 'rollover' | 'savedPaymentMethod'> & {
  source: Omit<RechargeSource, 'kind' | 'stripeEventId'>;
  expiresAt: string | undefined;
  /** Only a plan's invoice may carry credits over. */
  rollover?: RolloverTerms | undefined;
  /** Only a payment intent names the card it saved. */
  savedPaymentMethod?: StripePayment['savedPaymentMethod'];
};

function payment(event: StripeEventEnvelope, fields: PaymentFields): StripeEventMeaning {
  const { expiresAt, rollover, savedPaymentMethod, ...rest } = fields;
  const source = { kind: 'stripe' as const, stripeEventId: event.id, ...definedOnly(fields.source) };
  // A payment that never expires (or carries nothing over) has no field for it, as before these existed.
  return {
    kind: 'payment',
    payment: {
      ...rest,
      source,
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...(rollover === undefined ? {} : { rollover }),
      ...(savedPaymentMethod === undefined ? {} : { savedPaymentMethod }),
    },
  };
}

function ignored(reason: string): StripeEventMeaning {
  return { kind: 'ignored', reason };
}

// ---------------------------------------------------------------------------
// Credits of a payment
// ---------------------------------------------------------------------------

type UnknownCredits = Extract<CreditsOfPayment, { kind: 'unknown' }>;

/** A pack bought, with how many units. */
type PackBought = { pack: CreditPack; quantity: number };

/**
 * A line of a session or an invoice: the price it names, its quantity, the
 * price object if expanded, and the line itself (an invoice line's period).
 */
type PriceLine = { priceId: string; quantity: number; price: PayloadObject | undefined; line: PayloadObject };

/** The packs a one-off payment buys, or why they cannot be told; undefined when it names no pack and no price. */
type PacksBought = PackBought[] | UnknownCredits | undefined;

/**
 * A session or a payment intent: the pack named in metadata (by our pack id or
 * its price), else the session's expanded line items.
 */
function packsBought(object: PayloadObject, catalog: StripeCatalog, lines: PriceLine[]): PacksBought {
  const pack = namedPack(catalog, metadataValue(object, 'packId'), metadataValue(object, 'priceId'));
  if (pack !== undefined) {
    if ('kind' in pack) return pack;
    const quantityText = metadataValue(object, 'quantity');
    const quantity = quantityText === undefined ? 1 : positiveInteger(quantityText, AMOUNT_CREDITS_MAX);
    if (quantity === undefined) return unknown(`metadata.quantity "${quantityText}" is not a positive integer`);
    return [{ pack, quantity }];
  }
  if (lines.length > 0) return packsOfSessionLines(catalog, lines);
  return undefined;
}

/**
 * The packs bought, else `metadata.credits` if the catalog takes it from
 * payments without a price.
 */
function creditsOfOneOffPayment(object: PayloadObject, catalog: StripeCatalog, bought: PacksBought): CreditsOfPayment {
  const metadataCredits = metadataValue(object, 'credits');
  if (bought !== undefined) return Array.isArray(bought) ? creditsOfPacks(bought, metadataCredits) : bought;
  if (!catalog.paymentsWithoutPrice.metadataCreditsAllowed) {
    return unknown('no price or pack named and metadata credits not allowed');
  }
  if (metadataCredits === undefined) return unknown('no price or pack named and no metadata.credits');
  return metadataCreditsFigure(metadataCredits);
}

/** The pack the metadata names, by our pack id or by its price; undefined when it names neither. */
function namedPack(
  catalog: StripeCatalog,
  packId: string | undefined,
  priceId: string | undefined,
): CreditPack | UnknownCredits | undefined {
  if (packId === undefined) return priceId === undefined ? undefined : packOfPrice(catalog, priceId);
  const pack = packById(catalog, packId);
  if (pack === undefined) return unknown(`pack ${packId} is not in the catalog`);
  if (priceId !== undefined && priceId !== pack.priceId) {
    return unknown(`metadata names pack ${packId} and price ${priceId}, which is not that pack's price`);
  }
  return pack;
}

function packOfPrice(catalog: StripeCatalog, priceId: string): CreditPack | UnknownCredits {
  const pack = packByPriceId(catalog, priceId);
  if (pack !== undefined) return pack;
  if (planByPriceId(catalog, priceId) !== undefined) {
    return unknown(`price ${priceId} is a subscription plan's, credited per paid invoice, not a pack's`);
  }
  return unknown(`price ${priceId} is not in the catalog`);
}

/** Every line must be a pack: a one-off payment for something the catalog does not know is parked, not half-credited. */
function packsOfSessionLines(catalog: StripeCatalog, lines: PriceLine[]): PackBought[] | UnknownCredits {
  const bought: PackBought[] = [];
  for (const line of lines) {
    const pack = packOfPrice(catalog, line.priceId);
    if ('kind' in pack) return pack;
    bought.push({ pack, quantity: line.quantity });
  }
  return bought;
}

/** `metadata.credits` replaces the catalog's figure only when every pack bought allows it. */
function creditsOfPacks(bought: PackBought[], metadataCredits: string | undefined): CreditsOfPayment {
  if (metadataCredits !== undefined && bought.every(({ pack }) => pack.metadataCreditsAllowed)) {
    return metadataCreditsFigure(metadataCredits);
  }
  return totalCredits(bought.map(({ pack, quantity }) => pack.creditsPerUnit * quantity));
}

/**
 * An invoice: Σ credits of its lines whose price the catalog knows (a plan per
 * period, or a pack). Other lines (tax, another product) add nothing; an
 * invoice that adds up to nothing is parked with the prices it named.
 */
function creditsOfInvoice(invoice: PayloadObject, catalog: StripeCatalog): CreditsOfPayment {
  const lines = invoiceLines(invoice);
  const figures: number[] = [];
  for (const line of lines) {
    const figure = creditsOfInvoiceLine(line, catalog);
    if (typeof figure !== 'number') return figure;
    figures.push(figure);
  }
  if (figures.some((figure) => figure > 0)) return totalCredits(figures);
  const pricesSeen = lines.map((line) => line.priceId);
  return unknown(
    pricesSeen.length === 0
      ? 'no line of the invoice names a price'
      : `no price of the invoice is in the catalog (prices seen: ${pricesSeen.join(', ')})`,
  );
}

function creditsOfInvoiceLine(line: PriceLine, catalog: StripeCatalog): number | UnknownCredits {
  const priced = pricedByCatalog(catalog, line.priceId);
  // Not ours (a tax, another product): adds nothing.
  if (priced === undefined) return 0;
  const priceCredits = priced.metadataCreditsAllowed ? metadataValue(line.price, 'credits') : undefined;
  if (priceCredits === undefined) return priced.creditsPerUnit * line.quantity;
  // The price's metadata.credits is a figure per unit, like the catalog's it replaces.
  const figure = positiveInteger(priceCredits, AMOUNT_CREDITS_MAX);
  if (figure === undefined) {
    return unknown(`metadata.credits "${priceCredits}" of price ${line.priceId} ${NOT_CREDITS}`);
  }
  return figure * line.quantity;
}

/** A plan's credits per period, or a pack's per unit (a one-off pack price billed on an invoice). */
function pricedByCatalog(
  catalog: StripeCatalog,
  priceId: string,
): { creditsPerUnit: number; metadataCreditsAllowed: boolean } | undefined {
  const plan = planByPriceId(catalog, priceId);
  if (plan === undefined) return packByPriceId(catalog, priceId);
  return { creditsPerUnit: plan.creditsPerPeriod, metadataCreditsAllowed: plan.metadataCreditsAllowed };
}

const NOT_CREDITS = `is not a positive integer (of at most ${AMOUNT_CREDITS_MAX})`;

function metadataCreditsFigure(text: string): CreditsOfPayment {
  const credits = positiveInteger(text, AMOUNT_CREDITS_MAX);
  return credits === undefined ? unknown(`metadata.credits "${text}" ${NOT_CREDITS}`) : { kind: 'known', credits };
}

function totalCredits(figures: number[]): CreditsOfPayment {
  const credits = figures.reduce((sum, figure) => sum + figure, 0);
  if (credits > AMOUNT_CREDITS_MAX) {
    return unknown(`${credits} credits exceed the most one payment may credit (${AMOUNT_CREDITS_MAX})`);
  }
  if (credits === 0) return unknown('the payment buys no credits');
  return { kind: 'known', credits };
}

function unknown(reason: string): UnknownCredits {
  return { kind: 'unknown', reason };
}

/** A session's `line_items`, present only when the webhook's sender expanded them. */
function sessionLines(session: PayloadObject): PriceLine[] {
  return listItems(child(session, 'line_items')).map((line) => {
    const price = optionalRef(line, 'price');
    if (price === undefined) throw fieldError(line, 'price', 'must name a price', undefined);
    return { priceId: price.id, quantity: optionalWholeNumber(line, 'quantity') ?? 1, price: price.expanded, line };
  });
}

/**
 * Older API versions: `line.price` (an id or an expanded price); newer:
 * `line.pricing.price_details.price`. Prorations and credit lines buy no
 * period: a line is counted only for an amount it charges in full.
 */
function invoiceLines(invoice: PayloadObject): PriceLine[] {
  return listItems(child(invoice, 'lines')).flatMap((line) => {
    const price = optionalRef(line, 'price') ?? optionalRef(child(child(line, 'pricing'), 'price_details'), 'price');
    if (price === undefined || isProration(line) || chargesNothing(line)) return [];
    return [{ priceId: price.id, quantity: optionalWholeNumber(line, 'quantity') ?? 1, price: price.expanded, line }];
  });
}

/** A credit line (negative) or a free one: Stripe's line amounts may be below zero, unlike its payments. */
function chargesNothing(line: PayloadObject): boolean {
  const amount = line.fields.amount;
  return typeof amount === 'number' && amount <= 0;
}

function isProration(line: PayloadObject): boolean {
  const parent = child(line, 'parent');
  return (
    line.fields.proration === true ||
    child(parent, 'subscription_item_details')?.fields.proration === true ||
    child(parent, 'invoice_item_details')?.fields.proration === true
  );
}

/** Stripe metadata values are strings; a count written there must be digits only, no sign, no decimals. */
function positiveInteger(text: string, max: number): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/** The first candidate that is a valid user id: an invalid one counts as absent, so the payment is parked, not misfiled. */
function firstUserId(candidates: (string | undefined)[]): string | undefined {
  return candidates.find((candidate) => candidate !== undefined && USER_ID_PATTERN.test(candidate));
}

// ---------------------------------------------------------------------------
// When the credits of a payment expire
// ---------------------------------------------------------------------------

/** When one line's credits lapse: an instant, or never. */
type LineExpiry = DateTime | 'never';

/**
 * A one-off payment's packs: the latest of their expiries (a payment is one
 * grant, so it lasts as long as its longest-lasting pack), never if any of
 * them never expires. Undefined too when no pack is known (credits from
 * `metadata.credits` alone, or a payment that will be parked).
 */
function expiryOfPacks(bought: PacksBought, event: StripeEventEnvelope): string | undefined {
  if (!Array.isArray(bought)) return undefined;
  return latestExpiry(bought.map(({ pack }) => expiryOfPack(pack, event)));
}

/**
 * A pack's `expiresAfter` counts from when the payment was made: the
 * `created` of the event that reports it paid (`checkout.session.completed`
 * or `…async_payment_succeeded`, `payment_intent.succeeded`, `invoice.paid`).
 * It is the same on every redelivery, on `stripe sync` and on a reprocess,
 * and a session's event and its payment intent's, which may both credit one
 * payment, are made within moments of each other; a session's own `created`
 * is when checkout began, up to a day before the payment (days for delayed
 * methods). A late delivery therefore grants credits that may already have lapsed.
 */
function expiryOfPack(pack: CreditPack, event: StripeEventEnvelope): LineExpiry {
  if (pack.expiresAfter === undefined) return 'never';
  return DateTime.fromSeconds(event.created, { zone: 'utc' }).plus(Duration.fromISO(pack.expiresAfter));
}

/**
 * An invoice: the latest expiry of the lines that buy credits, never if one
 * of them never expires. A plan with `expiresAtPeriodEnd` lapses at the end of
 * the period its line paid for; with several such lines (a quantity change
 * billed as two lines), the latest end among them.
 */
function expiryOfInvoice(
  invoice: PayloadObject,
  catalog: StripeCatalog,
  event: StripeEventEnvelope,
): string | undefined {
  return latestExpiry(invoiceLines(invoice).flatMap((line) => expiryOfInvoiceLine(line, catalog, event)));
}

/** Empty for a line the catalog does not price (a tax, another product): it buys no credits that could expire. */
function expiryOfInvoiceLine(line: PriceLine, catalog: StripeCatalog, event: StripeEventEnvelope): LineExpiry[] {
  const plan = planByPriceId(catalog, line.priceId);
  if (plan !== undefined) return [plan.expiresAtPeriodEnd === true ? periodEndOf(line.line) : 'never'];
  const pack = packByPriceId(catalog, line.priceId);
  return pack === undefined ? [] : [expiryOfPack(pack, event)];
}

/** `period.end` of an invoice line, Unix seconds: the end of the service period the line bills. */
function periodEndOf(line: PayloadObject): DateTime {
  const period = child(line, 'period');
  if (period === undefined) throw fieldError(line, 'period', 'must be an object with an end', undefined);
  return DateTime.fromSeconds(wholeNumber(period, 'end'), { zone: 'utc' });
}

/**
 * A plan period's carry-over, when the invoice's credits lapse at a plan's
 * period end and the catalog carries some of them over: up to `creditsMax`
 * (none: all) move at that end into a grant lasting until the next period's
 * end. Several lines of plans with `expiresAtPeriodEnd` (a quantity change
 * billed as two lines, two plans on one subscription): the next period is
 * that of the line whose period ends latest (of lines ending together, the one
 * whose next period ends latest), and when the lines carry differently the
 * most generous carry-over of them wins (`all`, else the largest number): the
 * payment is one grant. None when the credits never expire, when no such line
 * carries anything, or when a pack billed on the invoice outlasts the period
 * (its credits then lapse at the pack's expiry: the carry-over is the period's).
 */
function rolloverOfInvoice(
  invoice: PayloadObject,
  catalog: StripeCatalog,
  expiresAt: string | undefined,
): RolloverTerms | undefined {
  if (expiresAt === undefined) return undefined;
  const periods = invoiceLines(invoice).flatMap((line) => {
    const plan = planByPriceId(catalog, line.priceId);
    return plan?.expiresAtPeriodEnd === true ? [{ line: line.line, plan, end: periodEndOf(line.line) }] : [];
  });
  if (periods.length === 0) return undefined;
  const creditsMax = mostGenerousRollover(periods.map(({ plan }) => plan));
  if (creditsMax === 'none') return undefined;
  const latestEnd = DateTime.max(...periods.map(({ end }) => end))!;
  if (latestEnd.toMillis() !== Date.parse(expiresAt)) return undefined;
  const nextEnds = periods
    .filter(({ end }) => end.equals(latestEnd))
    .map(({ line, end }) => nextPeriodEndOf(line, end));
  return {
    ...(creditsMax === 'all' ? {} : { creditsMax }),
    expiresAt: DateTime.max(...nextEnds)!.toISO()!,
  };
}

/** `all` over any number, a larger number over a smaller, any carry-over over `none` (the default). */
function mostGenerousRollover(plans: CreditPlan[]): PlanRollover {
  const rollovers = plans.map(({ rollover }) => rollover ?? 'none');
  if (rollovers.includes('all')) return 'all';
  const numbers = rollovers.filter((rollover): rollover is number => typeof rollover === 'number');
  return numbers.length === 0 ? 'none' : Math.max(...numbers);
}

/** The end of the period after the line's, from its `period.start` and `period.end` (see `nextPeriodEnd`). */
function nextPeriodEndOf(line: PayloadObject, end: DateTime): DateTime {
  const period = child(line, 'period')!;
  const start = DateTime.fromSeconds(wholeNumber(period, 'start'), { zone: 'utc' });
  if (start >= end) {
    throw fieldError(
      period,
      'start',
      'must be before period.end for a plan that carries credits over',
      start.toSeconds(),
    );
  }
  return nextPeriodEnd(start, end);
}

/** Never wins: credits sold as never expiring must not lapse because another line of the payment does. */
function latestExpiry(expiries: LineExpiry[]): string | undefined {
  if (expiries.length === 0 || expiries.includes('never')) return undefined;
  const instants = expiries as DateTime[];
  return DateTime.max(...instants)!.toISO()!;
}

// ---------------------------------------------------------------------------
// Typed reading of the event's object: each accessor names the field it refuses
// ---------------------------------------------------------------------------

type JsonObject = { readonly [key: string]: unknown };

/** An object inside the event, with its path for error messages. */
type PayloadObject = { readonly event: StripeEventEnvelope; readonly path: string; readonly fields: JsonObject };

function payloadOf(event: StripeEventEnvelope): PayloadObject {
  const object: unknown = event.data?.object;
  if (!isJsonObject(object)) throw new StripeObjectError(event.id, event.type, 'data.object', 'must be an object');
  return { event, path: 'data.object', fields: object };
}

/** A nested object, or undefined when absent or null (also when its parent is). */
function child(parent: PayloadObject | undefined, key: string): PayloadObject | undefined {
  const value = parent?.fields[key];
  if (parent === undefined || value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw fieldError(parent, key, 'must be an object or null', value);
  return { event: parent.event, path: `${parent.path}.${key}`, fields: value };
}

/** The items of a Stripe list object (`{ object: 'list', data: [...] }`). */
function listItems(list: PayloadObject | undefined): PayloadObject[] {
  if (list === undefined) return [];
  const data = list.fields.data;
  if (!Array.isArray(data)) throw fieldError(list, 'data', 'must be a list', data);
  return data.map((item: unknown, index) => {
    const path = `${list.path}.data[${index}]`;
    if (!isJsonObject(item)) throw new StripeObjectError(list.event.id, list.event.type, path, 'must be an object');
    return { event: list.event, path, fields: item };
  });
}

function optionalString(object: PayloadObject | undefined, key: string): string | undefined {
  const value = object?.fields[key];
  if (object === undefined || value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw fieldError(object, key, 'must be a string or null', value);
  return value;
}

function requiredString(object: PayloadObject, key: string): string {
  const value = optionalString(object, key);
  if (value === undefined || value === '') throw fieldError(object, key, 'must be a non-empty string', value);
  return value;
}

function metadataValue(object: PayloadObject | undefined, key: string): string | undefined {
  return optionalString(child(object, 'metadata'), key);
}

/** An expandable field: Stripe sends the id, or the whole object when the request expanded it. */
function optionalRef(
  object: PayloadObject | undefined,
  key: string,
): { id: string; expanded: PayloadObject | undefined } | undefined {
  const value = object?.fields[key];
  if (object === undefined || value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value !== '') return { id: value, expanded: undefined };
  if (!isJsonObject(value)) throw fieldError(object, key, 'must be an id or an object with an id', value);
  const expanded = child(object, key);
  return expanded && { id: requiredString(expanded, 'id'), expanded };
}

function optionalId(object: PayloadObject | undefined, key: string): string | undefined {
  return optionalRef(object, key)?.id;
}

function requiredId(object: PayloadObject, key: string): string {
  const id = optionalId(object, key);
  if (id === undefined) throw fieldError(object, key, 'must be an id or an object with an id', undefined);
  return id;
}

/** Amounts (minor units, never a float) and quantities: a non-negative safe integer. */
function optionalWholeNumber(object: PayloadObject, key: string): number | undefined {
  const value = object.fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw fieldError(object, key, 'must be a non-negative safe integer', value);
  }
  return value;
}

function wholeNumber(object: PayloadObject, key: string): number {
  const value = optionalWholeNumber(object, key);
  if (value === undefined) throw fieldError(object, key, 'must be a non-negative safe integer', value);
  return value;
}

function currencyOf(object: PayloadObject): string {
  const currency = optionalString(object, 'currency');
  if (currency === undefined || !/^[a-z]{3}$/.test(currency)) {
    throw fieldError(object, 'currency', 'must be a 3-letter lower-case ISO 4217 code', currency);
  }
  return currency;
}

function fieldError(object: PayloadObject, key: string, problem: string, value: unknown): StripeObjectError {
  const got = value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 60);
  return new StripeObjectError(object.event.id, object.event.type, `${object.path}.${key}`, `${problem}, got ${got}`);
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMappedEventType(type: string): type is MappedEventType {
  return (MAPPED_EVENT_TYPES as readonly string[]).includes(type);
}

/** Source fields Stripe did not send stay out of the recorded event, rather than appear as `undefined`. */
function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

function assertNever(value: never): never {
  throw new Error(`unhandled Stripe event type ${String(value)}`);
}
