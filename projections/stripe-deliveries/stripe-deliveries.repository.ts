import type { SqlExecutor } from '@libs/event-store';

/**
 * `received`: verified and being processed (or the process died mid-way: the
 * redelivery Stripe sends for the missing 2xx finishes it). `credited`: a
 * payment became a recharge; `debited`: a refund or lost dispute took credits
 * back; `frozen`/`unfrozen`: a dispute opened or was won. The others explain
 * themselves; `failed` carries its reason and may be reprocessed.
 */
export const DELIVERY_STATUSES = [
  'received',
  'credited',
  'debited',
  'frozen',
  'unfrozen',
  'duplicate',
  'ignored',
  'parked',
  'failed',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export type DeliveryOutcome = {
  status: Exclude<DeliveryStatus, 'received'>;
  reason?: string;
  userId?: string;
  rechargeId?: string;
};

export type StripeDelivery = {
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  reason: string | null;
  stripeCreatedAt: string;
  deliveries: number;
  firstReceivedAt: string;
  lastReceivedAt: string;
  processedAt: string | null;
  userId: string | null;
  rechargeId: string | null;
  sequence: string;
};

/** Records a verified delivery before it is processed; a redelivery only counts itself. */
export async function recordDeliveryReceived(
  db: SqlExecutor,
  event: { id: string; type: string; created: number },
  payload: unknown,
): Promise<void> {
  await db.query(
    `insert into stripe_deliveries (event_id, event_type, status, payload, stripe_created_at)
     values ($1, $2, 'received', $3::jsonb, to_timestamp($4))
     on conflict (event_id) do update
       set deliveries = stripe_deliveries.deliveries + 1, last_received_at = now()`,
    [event.id, event.type, JSON.stringify(payload), event.created],
  );
}

/**
 * A delivery's outcome. The first final outcome stands: a redelivery of a
 * credited event is `duplicate` to the ledger, but the event still credited.
 * Copies delivered at once may finish in any order, so what the event did
 * (credited, parked, ...) replaces a `duplicate` recorded by another copy.
 * `replace` (an operator's reprocessing) overwrites any outcome.
 */
export async function recordDeliveryOutcome(
  db: SqlExecutor,
  eventId: string,
  outcome: DeliveryOutcome,
  options: { replace: boolean },
): Promise<void> {
  await db.query(
    `update stripe_deliveries
     set status = $2, reason = $3, user_id = $4, recharge_id = $5, processed_at = now()
     where event_id = $1
       and ($6 or status in ('received', 'failed') or (status = 'duplicate' and $2 <> 'duplicate'))`,
    [
      eventId,
      outcome.status,
      outcome.reason ?? null,
      outcome.userId ?? null,
      outcome.rechargeId ?? null,
      options.replace,
    ],
  );
}

/** The stored payload of a delivery, for reprocessing; undefined if Stripe never delivered it here. */
export async function deliveryPayload(db: SqlExecutor, eventId: string): Promise<unknown> {
  const rows = await db.query<{ payload: unknown }>(`select payload from stripe_deliveries where event_id = $1`, [
    eventId,
  ]);
  return rows[0]?.payload;
}

export async function deliveryOf(db: SqlExecutor, eventId: string): Promise<StripeDelivery | undefined> {
  const rows = await db.query<DeliveryRecord>(`select ${DELIVERY_COLUMNS} from stripe_deliveries where event_id = $1`, [
    eventId,
  ]);
  return rows.map(toDelivery)[0];
}

/**
 * Failed deliveries about one payment (a refund or dispute that found no
 * recharge), oldest first: once the payment is credited, they can apply.
 */
export async function failedDeliveriesOfPayment(db: SqlExecutor, paymentId: string): Promise<string[]> {
  const rows = await db.query<{ event_id: string }>(
    `select event_id from stripe_deliveries
     where status = 'failed'
       and $1 in (payload #>> '{data,object,payment_intent}', payload #>> '{data,object,invoice}')
     order by sequence`,
    [paymentId],
  );
  return rows.map((row) => row.event_id);
}

/** The invoice a payment intent paid, as Stripe's `invoice_payment.paid` told it (newer API versions). */
export async function invoiceOfPaymentIntent(db: SqlExecutor, paymentIntentId: string): Promise<string | undefined> {
  const rows = await db.query<{ invoice_id: string }>(
    `select payload #>> '{data,object,invoice}' as invoice_id from stripe_deliveries
     where event_type = 'invoice_payment.paid' and payload #>> '{data,object,payment,payment_intent}' = $1
     order by sequence limit 1`,
    [paymentIntentId],
  );
  return rows[0]?.invoice_id;
}

export type DeliveriesPage = { deliveries: StripeDelivery[]; nextBeforeSequence: string | undefined };

/** Deliveries newest first, optionally of one status and one event type. */
export async function pageDeliveries(
  db: SqlExecutor,
  options: { status?: DeliveryStatus; eventType?: string; beforeSequence?: string; limit: number },
): Promise<DeliveriesPage> {
  const rows = await db.query<DeliveryRecord>(
    `select ${DELIVERY_COLUMNS} from stripe_deliveries
     where ($1::text is null or status = $1) and ($2::text is null or event_type = $2)
       and ($3::bigint is null or sequence < $3::bigint)
     order by stripe_deliveries.sequence desc limit $4`,
    [options.status ?? null, options.eventType ?? null, options.beforeSequence ?? null, options.limit + 1],
  );
  const deliveries = rows.slice(0, options.limit).map(toDelivery);
  const hasMore = rows.length > options.limit;
  return { deliveries, nextBeforeSequence: hasMore ? deliveries[deliveries.length - 1].sequence : undefined };
}

const DELIVERY_COLUMNS = `event_id, event_type, status, reason, stripe_created_at, deliveries, first_received_at,
  last_received_at, processed_at, user_id, recharge_id, sequence::text as sequence`;

type DeliveryRecord = {
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  reason: string | null;
  stripe_created_at: Date | string;
  deliveries: number;
  first_received_at: Date | string;
  last_received_at: Date | string;
  processed_at: Date | string | null;
  user_id: string | null;
  recharge_id: string | null;
  sequence: string;
};

function toDelivery(record: DeliveryRecord): StripeDelivery {
  return {
    eventId: record.event_id,
    eventType: record.event_type,
    status: record.status,
    reason: record.reason,
    stripeCreatedAt: isoTime(record.stripe_created_at),
    deliveries: record.deliveries,
    firstReceivedAt: isoTime(record.first_received_at),
    lastReceivedAt: isoTime(record.last_received_at),
    processedAt: record.processed_at === null ? null : isoTime(record.processed_at),
    userId: record.user_id,
    rechargeId: record.recharge_id,
    sequence: record.sequence,
  };
}

function isoTime(value: Date | string): string {
  return new Date(value).toISOString();
}
