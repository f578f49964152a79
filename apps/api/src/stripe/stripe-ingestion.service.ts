import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import {
  type StripeCatalog,
  type StripeEventEnvelope,
  type StripePayment,
  StripeObjectError,
  meaningOf,
} from '@libs/stripe';
import {
  type DeliveryOutcome,
  READ_MODEL_DB,
  deliveryOf,
  deliveryPayload,
  failedDeliveriesOfPayment,
  type DeliveryStatus,
  recordDeliveryOutcome,
  recordDeliveryReceived,
  recordSavedPaymentMethod,
} from '@projections';
import { RechargesLookup } from './recharges-lookup';
import { outcomeOfRecharge, rechargeCommandOf } from './stripe-recharge';
import { RetryLaterError, withinRetryWindow } from './retry-later.error';
import { StripeReversals } from './stripe-reversals';
import { UnmatchedPayments } from './unmatched-payments/unmatched-payments';

export const STRIPE_CATALOG = Symbol('STRIPE_CATALOG');

/** Deliveries that moved no credits and parked nothing: processing them again cannot count anything twice. */
const REPROCESSABLE: readonly DeliveryStatus[] = ['received', 'failed', 'ignored'];

/**
 * From a verified Stripe event to credits, exactly once per payment: the
 * delivery is recorded first, then processed, then its outcome recorded. A
 * transient failure throws (the webhook answers 5xx and Stripe retries); a
 * permanent one is recorded as `failed` for an operator to reprocess.
 */
@Injectable()
export class StripeIngestion {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(STRIPE_CATALOG) private readonly catalog: StripeCatalog,
    private readonly commandBus: CommandBus,
    private readonly unmatched: UnmatchedPayments,
    private readonly reversals: StripeReversals,
    private readonly recharges: RechargesLookup,
  ) {}

  async receive(event: StripeEventEnvelope): Promise<DeliveryOutcome> {
    await recordDeliveryReceived(this.db, event, event);
    return this.processAndRecord(event, { replace: false });
  }

  /**
   * An operator's second try at a recorded delivery that did not apply
   * (`failed`, `ignored`, or stuck in `received`). Undefined if no such
   * delivery was received; `applied` if it already moved credits or was parked.
   */
  async reprocess(eventId: string): Promise<DeliveryOutcome | undefined | 'applied'> {
    const delivery = await deliveryOf(this.db, eventId);
    if (delivery === undefined) return undefined;
    if (!REPROCESSABLE.includes(delivery.status)) return 'applied';
    const payload = (await deliveryPayload(this.db, eventId)) as StripeEventEnvelope;
    try {
      return await this.processAndRecord(payload, { replace: true });
    } catch (error) {
      // Recorded as failed already; the operator reads why rather than a 503.
      if (error instanceof RetryLaterError) return { status: 'failed', reason: error.message };
      throw error;
    }
  }

  /**
   * Once a parked payment is credited, the refunds and disputes that failed
   * for want of it apply, in the order Stripe sent them.
   */
  async reprocessFailedOfPayment(paymentId: string): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    for (const eventId of await failedDeliveriesOfPayment(this.db, paymentId)) {
      const outcome = await this.reprocess(eventId);
      if (outcome !== undefined && outcome !== 'applied') outcomes.push(outcome);
    }
    return outcomes;
  }

  private async processAndRecord(event: StripeEventEnvelope, options: { replace: boolean }): Promise<DeliveryOutcome> {
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.process(event);
    } catch (error) {
      if (error instanceof RetryLaterError) {
        outcome = { status: 'failed', reason: error.message };
        await recordDeliveryOutcome(this.db, event.id, outcome, options);
        // Within the window, thrown so that Stripe delivers it again; after it, answered: an operator takes over.
        if (withinRetryWindow(event.created, new Date())) throw error;
        return outcome;
      }
      if (!(error instanceof StripeObjectError)) throw error;
      outcome = { status: 'failed', reason: error.message };
    }
    await recordDeliveryOutcome(this.db, event.id, outcome, options);
    return outcome;
  }

  private async process(event: StripeEventEnvelope): Promise<DeliveryOutcome> {
    const meaning = meaningOf(event, this.catalog);
    switch (meaning.kind) {
      case 'payment':
        return this.credit(meaning.payment, event);
      case 'ignored':
        return { status: 'ignored', reason: meaning.reason };
      case 'subscription-status':
        return {
          status: 'ignored',
          reason: `subscription ${meaning.subscription.subscriptionId} is now ${meaning.subscription.status}`,
        };
      case 'refund':
        return this.reversals.refund(meaning.refund);
      case 'refund-reversed':
        return this.reversals.refundReversed(meaning.reversal);
      case 'dispute-opened':
        return this.reversals.disputeOpened(meaning.dispute);
      case 'dispute-closed':
        return this.reversals.disputeClosed(meaning.dispute, meaning.outcome);
      default:
        return assertNeverMeaning(meaning);
    }
  }

  /** Credits the payment's user, found from the payment or from the customer's earlier payments; else parks it. */
  private async credit(payment: StripePayment, event: StripeEventEnvelope): Promise<DeliveryOutcome> {
    const userId =
      payment.userId ??
      (payment.customerId === undefined ? undefined : await this.recharges.userOfCustomer(payment.customerId));
    if (userId === undefined) {
      return this.unmatched.park(
        payment,
        'no user: no metadata.userId or client_reference_id, and an unknown customer',
        event,
      );
    }
    if (payment.credits.kind === 'unknown') return this.unmatched.park(payment, payment.credits.reason, event);
    const result = await this.commandBus.execute(rechargeCommandOf(payment, userId, payment.credits.credits));
    const outcome = outcomeOfRecharge(result, payment.paymentId);
    if (payment.savedPaymentMethod !== undefined && outcome.userId === userId && outcome.status !== 'failed') {
      // The card automatic top-up charges: the user's, once the payment that saved it is theirs.
      await recordSavedPaymentMethod(this.db, userId, {
        ...payment.savedPaymentMethod,
        paymentId: payment.paymentId,
        savedAt: event.created,
      });
    }
    return outcome;
  }
}

function assertNeverMeaning(meaning: never): never {
  throw new Error(`unexpected meaning of a Stripe event: ${JSON.stringify(meaning)}`);
}
