import type { SqlDriver, SqlExecutor } from '@libs/event-store';
import type { WebhookEventData, WebhookEventType, WebhookPayload } from '@libs/webhooks';
import { PARKED_PAYMENTS_QUEUE, WEBHOOK_DELIVERIES_TABLE, WEBHOOK_ENDPOINTS_TABLE } from './webhooks.tables';

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** A delivery as the log shows it. */
export type WebhookDelivery = {
  id: string;
  sequence: number;
  endpointId: string;
  type: WebhookEventType;
  userId: string;
  ledgerEventId: string;
  /** The ledger event's feed position; null for a notice no event records (grant.expiring). */
  position: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
};

type DeliveryRecord = {
  id: string;
  sequence: string;
  endpoint_id: string;
  event_type: WebhookEventType;
  user_id: string;
  ledger_event_id: string;
  global_position: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: Date | string;
  last_attempt_at: Date | string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date | string;
  delivered_at: Date | string | null;
};

const COLUMNS = `id::text as id, sequence::text as sequence, endpoint_id::text as endpoint_id, event_type, user_id,
  ledger_event_id::text as ledger_event_id, global_position::text as global_position, status, attempts,
  next_attempt_at, last_attempt_at, last_status_code, last_error, created_at, delivered_at`;

const iso = (value: Date | string) => new Date(value).toISOString();
const isoOrNull = (value: Date | string | null) => (value === null ? null : iso(value));

function toDelivery(record: DeliveryRecord): WebhookDelivery {
  return {
    id: record.id,
    sequence: Number(record.sequence),
    endpointId: record.endpoint_id,
    type: record.event_type,
    userId: record.user_id,
    ledgerEventId: record.ledger_event_id,
    position: record.global_position,
    status: record.status,
    attempts: record.attempts,
    nextAttemptAt: record.status === 'pending' ? iso(record.next_attempt_at) : null,
    lastAttemptAt: isoOrNull(record.last_attempt_at),
    lastStatusCode: record.last_status_code,
    lastError: record.last_error,
    createdAt: iso(record.created_at),
    deliveredAt: isoOrNull(record.delivered_at),
  };
}

/** Newest first, by endpoint and status; `beforeSequence` pages on. */
export async function pageWebhookDeliveries(
  db: SqlExecutor,
  query: { endpointId?: string; status?: WebhookDeliveryStatus; beforeSequence?: string; limit: number },
): Promise<{ deliveries: WebhookDelivery[]; nextBeforeSequence: number | undefined }> {
  const records = await db.query<DeliveryRecord>(
    `select ${COLUMNS} from ${WEBHOOK_DELIVERIES_TABLE}
     where ($1::uuid is null or endpoint_id = $1) and ($2::text is null or status = $2)
       and ($3::bigint is null or sequence < $3)
     order by sequence desc limit $4`,
    [query.endpointId ?? null, query.status ?? null, query.beforeSequence ?? null, query.limit + 1],
  );
  const deliveries = records.slice(0, query.limit).map(toDelivery);
  const more = records.length > query.limit;
  return { deliveries, nextBeforeSequence: more ? deliveries[deliveries.length - 1].sequence : undefined };
}

/**
 * Queues a delivery again, now, whatever its status (a delivered one is sent again with the same id), with its
 * retries counted afresh: their backoff from the first delay, their age from now. It becomes its user's
 * oldest pending delivery, so that user's later ones wait behind it. Undefined: no such delivery.
 */
export async function redeliverWebhook(db: SqlExecutor, id: string): Promise<WebhookDelivery | undefined> {
  const [record] = await db.query<DeliveryRecord>(
    `update ${WEBHOOK_DELIVERIES_TABLE} set status = 'pending', next_attempt_at = now(), attempts = 0,
       retry_from = now()
     where id = $1 returning ${COLUMNS}`,
    [id],
  );
  return record === undefined ? undefined : toDelivery(record);
}

/** An endpoint enabled again: what waited is sent now, its retries counted afresh. */
export async function restartWebhookRetries(db: SqlExecutor, endpointId: string): Promise<void> {
  await db.query(
    `update ${WEBHOOK_DELIVERIES_TABLE} set next_attempt_at = now(), attempts = 0, retry_from = now()
     where endpoint_id = $1 and status = 'pending'`,
    [endpointId],
  );
}

/**
 * Only what is due is read (a user's later deliveries are never due before their oldest pending one), in the
 * order of the due index, and of it only users' oldest, until `$2` are found: a backlog waiting for its retries
 * costs nothing to ask about, and a backlog all due costs a few rows per delivery asked for. `offset 0` keeps
 * the test of an earlier pending delivery a probe of the pending index per candidate: as an anti-join, the
 * planner may read the whole backlog for each candidate (it did, on tables not yet analyzed: 60 deliveries a
 * second). $1: the endpoint, $2: limit.
 */
export const DUE_DELIVERIES_SQL = `select due.id::text as id, due.event_type, due.user_id, due.data, due.created_at
  from ${WEBHOOK_DELIVERIES_TABLE} due
  where due.endpoint_id = $1 and due.status = 'pending' and due.next_attempt_at <= now()
    and not exists (
      select 1 from ${WEBHOOK_DELIVERIES_TABLE} earlier
      where earlier.endpoint_id = due.endpoint_id and earlier.user_id = due.user_id and earlier.status = 'pending'
        and (earlier.stream_version, earlier.event_order) < (due.stream_version, due.event_order)
      offset 0)
  order by due.next_attempt_at, due.sequence limit $2`;

/** A delivery to send: its body is built from these, the same on every attempt. */
export type DueWebhookDelivery = { id: string; createdAt: string; payload: WebhookPayload };

/**
 * The deliveries of an endpoint due now: of each user, the oldest pending one in stream order, if its time
 * has come (a user's later events wait behind one being retried; other users' do not), oldest first.
 */
export async function dueWebhookDeliveries(
  db: SqlExecutor,
  endpointId: string,
  limit: number,
): Promise<DueWebhookDelivery[]> {
  const records = await db.query<{
    id: string;
    event_type: WebhookEventType;
    user_id: string;
    data: WebhookEventData;
    created_at: Date | string;
  }>(DUE_DELIVERIES_SQL, [endpointId, limit]);
  return records.map((record) => {
    const createdAt = iso(record.created_at);
    return {
      id: record.id,
      createdAt,
      payload: {
        id: record.id,
        type: record.event_type,
        createdAt,
        userId: record.user_id === PARKED_PAYMENTS_QUEUE ? null : record.user_id,
        data: record.data,
      },
    };
  });
}

export type AttemptOutcome =
  { delivered: true; statusCode: number } | { delivered: false; statusCode: number | null; error: string };

export type RetryPolicy = {
  /** The first retry's delay; each next one doubles, up to `maxDelayMs`, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** After this long since it was queued, a delivery that fails is marked failed. */
  maxAgeMs: number;
  /** An endpoint is disabled after this many failed attempts in a row. */
  disableAfterFailures: number;
};

/** Half the delay, plus a random part of the other half: retries of many deliveries do not come in waves. */
export function retryDelayMs(attempts: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Records an attempt and its effect on the endpoint, in one transaction: a success resets the endpoint's run
 * of failures; a failure schedules the next attempt (or marks the delivery failed past `maxAgeMs`) and
 * disables the endpoint once its run of failures reaches the bound.
 */
export async function recordWebhookAttempt(
  db: SqlDriver,
  delivery: { id: string; endpointId: string },
  outcome: AttemptOutcome,
  policy: RetryPolicy,
): Promise<void> {
  await db.transaction(async (tx) => {
    if (outcome.delivered) {
      await tx.query(
        `update ${WEBHOOK_DELIVERIES_TABLE} set status = 'delivered', attempts = attempts + 1,
           last_attempt_at = now(), last_status_code = $2, last_error = null, delivered_at = now()
         where id = $1`,
        [delivery.id, outcome.statusCode],
      );
      await tx.query(
        `update ${WEBHOOK_ENDPOINTS_TABLE} set consecutive_failures = 0 where id = $1 and consecutive_failures <> 0`,
        [delivery.endpointId],
      );
      return;
    }
    const [row] = await tx.query<{ attempts: number }>(
      `update ${WEBHOOK_DELIVERIES_TABLE} set attempts = attempts + 1, last_attempt_at = now(),
         last_status_code = $2, last_error = $3
       where id = $1 returning attempts`,
      [delivery.id, outcome.statusCode, outcome.error.slice(0, 500)],
    );
    const delayMs = retryDelayMs(row?.attempts ?? 1, policy);
    const [retried] = await tx.query<{ user_id: string; status: string; next_attempt_at: Date | string }>(
      `update ${WEBHOOK_DELIVERIES_TABLE} set
         status = case when retry_from + make_interval(secs => $2::float8) <= now() then 'failed' else 'pending' end,
         next_attempt_at = now() + make_interval(secs => $3::float8)
       where id = $1 returning user_id, status, next_attempt_at`,
      [delivery.id, policy.maxAgeMs / 1000, delayMs / 1000],
    );
    if (retried?.status === 'pending') {
      // The user's later deliveries wait behind it: not due before it is.
      await tx.query(
        `update ${WEBHOOK_DELIVERIES_TABLE} set next_attempt_at = $4
         where endpoint_id = $1 and user_id = $2 and status = 'pending' and id <> $3 and next_attempt_at < $4`,
        [delivery.endpointId, retried.user_id, delivery.id, retried.next_attempt_at],
      );
    }
    await tx.query(
      `update ${WEBHOOK_ENDPOINTS_TABLE} set consecutive_failures = consecutive_failures + 1,
         status = case when status = 'enabled' and consecutive_failures + 1 >= $2 then 'disabled' else status end,
         disabled_reason = case when status = 'enabled' and consecutive_failures + 1 >= $2
           then $3 else disabled_reason end,
         updated_at = now()
       where id = $1`,
      [delivery.endpointId, policy.disableAfterFailures, `${policy.disableAfterFailures} failed attempts in a row`],
    );
  });
}

/** The queue's figures for the metrics. */
export async function webhookQueueFigures(
  db: SqlExecutor,
): Promise<{ pending: number; oldestPendingSeconds: number; failed: number; disabled: number }> {
  const [row] = await db.query<{ pending: string; oldest: number | null; failed: string; disabled: string }>(
    `select
       (select count(*) from ${WEBHOOK_DELIVERIES_TABLE} where status = 'pending')::text as pending,
       (select extract(epoch from now() - min(created_at))::float8 from ${WEBHOOK_DELIVERIES_TABLE}
         where status = 'pending') as oldest,
       (select count(*) from ${WEBHOOK_DELIVERIES_TABLE} where status = 'failed')::text as failed,
       (select count(*) from ${WEBHOOK_ENDPOINTS_TABLE} where status = 'disabled')::text as disabled`,
  );
  return {
    pending: Number(row.pending),
    oldestPendingSeconds: row.oldest ?? 0,
    failed: Number(row.failed),
    disabled: Number(row.disabled),
  };
}
