/**
 * Every verified Stripe delivery and what came of it: the operators' record
 * of the webhook, not a projection of the event store (the credits it moved
 * are in the event store). One row per Stripe event id; a redelivery counts.
 */
export const CREATE_STRIPE_DELIVERIES = `
  create table if not exists stripe_deliveries (
    event_id text primary key,
    event_type text not null,
    status text not null,
    reason text,
    -- The verified event as Stripe sent it, so an operator can reprocess it.
    payload jsonb not null,
    stripe_created_at timestamptz not null,
    deliveries integer not null default 1 check (deliveries > 0),
    first_received_at timestamptz not null default now(),
    last_received_at timestamptz not null default now(),
    processed_at timestamptz,
    user_id text,
    recharge_id text,
    -- Orders the operators' list, newest first, with a stable cursor.
    sequence bigserial not null unique
  );
  create index if not exists stripe_deliveries_status on stripe_deliveries (status, sequence);
  create index if not exists stripe_deliveries_type on stripe_deliveries (event_type, sequence);`;

/** Finds the invoice a payment intent paid (a refund of a subscription invoice, newer API versions). */
export const INDEX_INVOICE_PAYMENTS = `
  create index if not exists stripe_deliveries_invoice_payment_intent
    on stripe_deliveries ((payload #>> '{data,object,payment,payment_intent}'))
    where event_type = 'invoice_payment.paid';`;
