/**
 * Outbound webhooks' tables, in the read model's database. Endpoints are configuration (an operator's, not a
 * user's history), so they are rows, not events. Deliveries are an outbox: the `webhook-outbox` feed follower
 * inserts them in the same transaction as its checkpoint (so each event is queued once per endpoint, crash or
 * not), and the dispatcher sends them.
 */
export const WEBHOOK_ENDPOINTS_TABLE = 'webhook_endpoints';
export const WEBHOOK_DELIVERIES_TABLE = 'webhook_deliveries';
export const BALANCE_ALERT_SETTINGS_TABLE = 'balance_alert_settings';
export const BALANCE_ALERT_STATES_TABLE = 'balance_alert_states';

/** The `user_id` of `payment.parked` deliveries: no user's (an empty id is none of theirs). */
export const PARKED_PAYMENTS_QUEUE = '';

/**
 * What is due, in the order the dispatcher asks for it (so a limit stops the scan early). Its predicate is one
 * the test of an earlier pending delivery does not imply, so that test can only probe the pending index.
 */
export const INDEX_DUE_WEBHOOK_DELIVERIES = `
  drop index if exists webhook_deliveries_due;
  create index if not exists webhook_deliveries_due_in_order
    on ${WEBHOOK_DELIVERIES_TABLE} (endpoint_id, next_attempt_at, sequence)
    where status = 'pending' and next_attempt_at is not null;
`;

export const CREATE_WEBHOOK_TABLES = `
  create table if not exists ${WEBHOOK_ENDPOINTS_TABLE} (
    id uuid primary key,
    url text not null,
    events text[] not null,
    description text,
    -- enabled: receives; paused: by an operator, disabled: after a run of failures. Neither of the last two
    -- is given new events; what was queued waits until it is enabled again.
    status text not null default 'enabled' check (status in ('enabled', 'paused', 'disabled')),
    secret text not null,
    -- The secret before the last rotation, still signing beside the new one until previous_secret_until.
    previous_secret text,
    previous_secret_until timestamptz,
    consecutive_failures int not null default 0,
    disabled_reason text,
    -- One dispatcher at a time sends to an endpoint: the process that holds its lease.
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  );
  create table if not exists ${WEBHOOK_DELIVERIES_TABLE} (
    id uuid primary key default gen_random_uuid(),
    sequence bigserial not null unique,
    endpoint_id uuid not null references ${WEBHOOK_ENDPOINTS_TABLE} (id) on delete cascade,
    event_type text not null,
    user_id text not null,
    stream_version int not null,
    -- Several deliveries of one ledger event (its own type, then the alerts it caused) go in this order.
    event_order smallint not null default 0,
    -- The ledger event's place in the feed; null for a notice no event records (grant.expiring).
    global_position bigint,
    ledger_event_id uuid not null,
    data jsonb not null,
    -- pending: to send (again at next_attempt_at); delivered; failed: retries ran out.
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    -- Attempts since it was queued or last redelivered, and when that was: the backoff and the retries' age.
    attempts int not null default 0,
    retry_from timestamptz not null default now(),
    -- For a user's later deliveries, never before their oldest pending one's (they wait behind it).
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    last_status_code int,
    last_error text,
    created_at timestamptz not null default now(),
    delivered_at timestamptz,
    unique (endpoint_id, ledger_event_id, event_type)
  );
  -- The dispatcher's other question: whether a user has an older pending delivery (and INDEX_DUE_WEBHOOK_DELIVERIES).
  create index if not exists webhook_deliveries_pending
    on ${WEBHOOK_DELIVERIES_TABLE} (endpoint_id, user_id, stream_version, event_order) where status = 'pending';
  create index if not exists webhook_deliveries_by_endpoint
    on ${WEBHOOK_DELIVERIES_TABLE} (endpoint_id, sequence);
  -- A user's own low-balance threshold; without a row, the configured default.
  create table if not exists ${BALANCE_ALERT_SETTINGS_TABLE} (
    user_id text primary key,
    low_balance_below bigint not null check (low_balance_below >= 0),
    updated_at timestamptz not null default now()
  );
  -- What the outbox knows of each user's balance, to decide alerts from the events in order.
  create table if not exists ${BALANCE_ALERT_STATES_TABLE} (
    user_id text primary key,
    version int not null,
    balance bigint not null,
    frozen_credits bigint not null,
    held_credits bigint not null,
    below_low boolean not null,
    depleted boolean not null
  );`;
