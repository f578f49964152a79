import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '@libs/event-store';
import { newWebhookSecret } from '@libs/webhooks';
import { restartWebhookRetries } from './webhook-deliveries.repository';
import { WEBHOOK_ENDPOINTS_TABLE } from './webhooks.tables';

export const WEBHOOK_ENDPOINT_STATUSES = ['enabled', 'paused', 'disabled'] as const;
export type WebhookEndpointStatus = (typeof WEBHOOK_ENDPOINT_STATUSES)[number];

/** An endpoint as operators see it: never its secret, which is shown once, when made or rotated. */
export type WebhookEndpoint = {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  status: WebhookEndpointStatus;
  consecutiveFailures: number;
  disabledReason: string | null;
  /** Until when the secret before the last rotation still signs beside the new one; null: no overlap. */
  previousSecretUntil: string | null;
  createdAt: string;
  updatedAt: string;
};

/** What a dispatcher needs to send to an endpoint: where, and the secrets to sign with. */
export type WebhookEndpointTarget = { id: string; url: string; secrets: string[] };

type EndpointRecord = {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  status: WebhookEndpointStatus;
  consecutive_failures: number;
  disabled_reason: string | null;
  previous_secret_until: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
};

const COLUMNS = `id::text as id, url, events, description, status, consecutive_failures, disabled_reason,
  previous_secret_until, created_at, updated_at`;

const iso = (value: Date | string) => new Date(value).toISOString();

function toEndpoint(record: EndpointRecord): WebhookEndpoint {
  return {
    id: record.id,
    url: record.url,
    events: record.events,
    description: record.description,
    status: record.status,
    consecutiveFailures: record.consecutive_failures,
    disabledReason: record.disabled_reason,
    previousSecretUntil: record.previous_secret_until === null ? null : iso(record.previous_secret_until),
    createdAt: iso(record.created_at),
    updatedAt: iso(record.updated_at),
  };
}

export async function createWebhookEndpoint(
  db: SqlExecutor,
  input: { url: string; events: string[]; description?: string },
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const secret = newWebhookSecret();
  const [record] = await db.query<EndpointRecord>(
    `insert into ${WEBHOOK_ENDPOINTS_TABLE} (id, url, events, description, secret)
     values ($1, $2, $3, $4, $5) returning ${COLUMNS}`,
    [randomUUID(), input.url, input.events, input.description ?? null, secret],
  );
  return { endpoint: toEndpoint(record), secret };
}

export async function listWebhookEndpoints(db: SqlExecutor): Promise<WebhookEndpoint[]> {
  const records = await db.query<EndpointRecord>(
    `select ${COLUMNS} from ${WEBHOOK_ENDPOINTS_TABLE} order by created_at, id`,
  );
  return records.map(toEndpoint);
}

export async function findWebhookEndpoint(db: SqlExecutor, id: string): Promise<WebhookEndpoint | undefined> {
  const [record] = await db.query<EndpointRecord>(`select ${COLUMNS} from ${WEBHOOK_ENDPOINTS_TABLE} where id = $1`, [
    id,
  ]);
  return record === undefined ? undefined : toEndpoint(record);
}

/**
 * Changes what is given; enabling an endpoint (again) clears its run of failures and sends what waited now, its
 * retries counted afresh. Undefined: no such endpoint.
 */
export async function updateWebhookEndpoint(
  db: SqlExecutor,
  id: string,
  change: { url?: string; events?: string[]; description?: string | null; status?: 'enabled' | 'paused' },
): Promise<WebhookEndpoint | undefined> {
  const [record] = await db.query<EndpointRecord>(
    `update ${WEBHOOK_ENDPOINTS_TABLE} set
       url = coalesce($2, url),
       events = coalesce($3, events),
       description = case when $4::boolean then $5 else description end,
       status = coalesce($6, status),
       consecutive_failures = case when $6 = 'enabled' then 0 else consecutive_failures end,
       disabled_reason = case when $6 is null then disabled_reason else null end,
       updated_at = now()
     where id = $1 returning ${COLUMNS}`,
    [
      id,
      change.url ?? null,
      change.events ?? null,
      change.description !== undefined,
      change.description ?? null,
      change.status ?? null,
    ],
  );
  if (record !== undefined && change.status === 'enabled') await restartWebhookRetries(db, id);
  return record === undefined ? undefined : toEndpoint(record);
}

/** True when it existed. Its deliveries go with it. */
export async function deleteWebhookEndpoint(db: SqlExecutor, id: string): Promise<boolean> {
  const deleted = await db.query(`delete from ${WEBHOOK_ENDPOINTS_TABLE} where id = $1 returning id`, [id]);
  return deleted.length > 0;
}

/**
 * A new secret; the current one keeps signing beside it for `overlapSeconds` (0: it stops at once), so that
 * receivers can move to the new one without refusing a delivery meanwhile.
 */
export async function rotateWebhookSecret(
  db: SqlExecutor,
  id: string,
  overlapSeconds: number,
): Promise<{ endpoint: WebhookEndpoint; secret: string } | undefined> {
  const secret = newWebhookSecret();
  const [record] = await db.query<EndpointRecord>(
    `update ${WEBHOOK_ENDPOINTS_TABLE} set
       previous_secret = case when $3::int > 0 then secret else null end,
       previous_secret_until = case when $3::int > 0 then now() + make_interval(secs => $3::int) else null end,
       secret = $2, updated_at = now()
     where id = $1 returning ${COLUMNS}`,
    [id, secret, overlapSeconds],
  );
  return record === undefined ? undefined : { endpoint: toEndpoint(record), secret };
}

/**
 * Takes (or renews) the endpoint's lease for `owner` until `leaseMs` from now, when it is enabled and no other
 * owner holds an unexpired lease. Returns where to send and the secrets that sign now, or undefined.
 */
export async function leaseWebhookEndpoint(
  db: SqlExecutor,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<WebhookEndpointTarget | undefined> {
  const [record] = await db.query<{ id: string; url: string; secret: string; previous_secret: string | null }>(
    `update ${WEBHOOK_ENDPOINTS_TABLE} set lease_owner = $2, lease_until = now() + make_interval(secs => $3::float8)
     where id = $1 and status = 'enabled' and (lease_owner is null or lease_owner = $2 or lease_until < now())
     returning id::text as id, url, secret,
       case when previous_secret_until > now() then previous_secret end as previous_secret`,
    [id, owner, leaseMs / 1000],
  );
  if (record === undefined) return undefined;
  const secrets = record.previous_secret === null ? [record.secret] : [record.secret, record.previous_secret];
  return { id: record.id, url: record.url, secrets };
}

export async function releaseWebhookLease(db: SqlExecutor, id: string, owner: string): Promise<void> {
  await db.query(
    `update ${WEBHOOK_ENDPOINTS_TABLE} set lease_owner = null, lease_until = null where id = $1 and lease_owner = $2`,
    [id, owner],
  );
}

/** Ids of the endpoints a dispatcher may send to. */
export async function enabledWebhookEndpointIds(db: SqlExecutor): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `select id::text as id from ${WEBHOOK_ENDPOINTS_TABLE} where status = 'enabled' order by id`,
  );
  return rows.map((row) => row.id);
}
