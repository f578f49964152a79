import { eventIdFor } from '@libs/credits';
import type { StripePayment } from './stripe-event.meaning';

/**
 * Payments that could not be credited (no user, or credits the catalog cannot
 * tell) are kept here, never dropped, until an operator assigns them. One
 * stream: parked payments are rare, and the operators' list reads it whole.
 */
export const UNMATCHED_PAYMENTS_STREAM = 'stripe-unmatched-payments';

type UnmatchedPaymentsEventOf<Type extends string, Data, SchemaVersion extends number = 1> = {
  type: Type;
  schemaVersion: SchemaVersion;
  /** Derived from the payment id, so a payment is parked (and assigned) once whatever the redeliveries. */
  id: string;
  data: Data;
  metadata: { occurredAt: string };
};

/**
 * Version 2: `payment.expiresAt` when the catalog gives the payment an expiry,
 * computed when it was parked (from the payment's event), so an assignment
 * credits it on the terms it was bought on. Version 3: `payment.rollover` too,
 * a plan period's carry-over, likewise. Version 1 was parked before expiry
 * existed, version 2 before carry-overs: read as they are, their payments are
 * credited without them.
 */
export type PaymentParked = UnmatchedPaymentsEventOf<
  'PaymentParked',
  {
    paymentId: string;
    reason: string;
    stripeEventType: string;
    payment: StripePayment;
    /** The Stripe object in full, as delivered: what the operator reads to decide. */
    object: unknown;
  },
  1 | 2 | 3
>;

export type ParkedPaymentAssigned = UnmatchedPaymentsEventOf<
  'ParkedPaymentAssigned',
  { paymentId: string; userId: string; credits: number; assignedBy: string }
>;

export type UnmatchedPaymentsEvent = PaymentParked | ParkedPaymentAssigned;

export function paymentParked(
  payment: StripePayment,
  reason: string,
  stripeEventType: string,
  object: unknown,
  now: string,
): PaymentParked {
  return {
    type: 'PaymentParked',
    schemaVersion: 3,
    id: eventIdFor(UNMATCHED_PAYMENTS_STREAM, `parked:${payment.paymentId}`),
    data: { paymentId: payment.paymentId, reason, stripeEventType, payment, object },
    metadata: { occurredAt: now },
  };
}

export function parkedPaymentAssigned(assignment: ParkedPaymentAssigned['data'], now: string): ParkedPaymentAssigned {
  return {
    type: 'ParkedPaymentAssigned',
    schemaVersion: 1,
    id: eventIdFor(UNMATCHED_PAYMENTS_STREAM, `assigned:${assignment.paymentId}`),
    data: assignment,
    metadata: { occurredAt: now },
  };
}

export type UnmatchedPayment = {
  paymentId: string;
  reason: string;
  parkedAt: string;
  stripeEventId: string;
  stripeEventType: string;
  payment: StripePayment;
  object: unknown;
  assigned: { userId: string; credits: number; assignedBy: string; assignedAt: string } | undefined;
};

/** Parked payments by payment id, with their assignment once made. Unknown event types stop the fold. */
export function foldUnmatchedPayments(
  events: ReadonlyArray<{ type: string; data: unknown; metadata: unknown }>,
): Map<string, UnmatchedPayment> {
  const payments = new Map<string, UnmatchedPayment>();
  for (const stored of events) {
    const event = stored as UnmatchedPaymentsEvent;
    switch (event.type) {
      case 'PaymentParked':
        payments.set(event.data.paymentId, parkedFrom(event));
        break;
      case 'ParkedPaymentAssigned':
        assign(payments, event);
        break;
      default:
        throw new Error(`${UNMATCHED_PAYMENTS_STREAM} holds an event of unknown type ${stored.type}`);
    }
  }
  return payments;
}

function parkedFrom(event: PaymentParked): UnmatchedPayment {
  const { paymentId, reason, stripeEventType, payment, object } = event.data;
  return {
    paymentId,
    reason,
    parkedAt: event.metadata.occurredAt,
    stripeEventId: payment.source.stripeEventId,
    stripeEventType,
    payment,
    object,
    assigned: undefined,
  };
}

/** An assignment without its parked payment means the stream was written by a bug: crash. */
function assign(payments: Map<string, UnmatchedPayment>, event: ParkedPaymentAssigned): void {
  const parked = payments.get(event.data.paymentId);
  if (parked === undefined) {
    throw new Error(`${UNMATCHED_PAYMENTS_STREAM}: payment ${event.data.paymentId} assigned but never parked`);
  }
  const { userId, credits, assignedBy } = event.data;
  parked.assigned = { userId, credits, assignedBy, assignedAt: event.metadata.occurredAt };
}
