/**
 * Automatic top-up's tables, in the read model's database. Settings are an operator's configuration, so they
 * are rows, not events. `top_up_crossings` is an outbox: the `webhook-outbox` feed follower inserts a row when a
 * user's spendable balance crosses below their threshold, in the transaction that moves its checkpoint (so
 * each crossing is queued once, crash or not); the top-up process asks the stream for a top-up, charges it and
 * records the outcome, each step keyed so that a repeat does nothing new. The stream holds the facts
 * (`TopUpRequested`, `TopUpSucceeded`, `TopUpFailed`); the row only says how far the process got.
 */
export const AUTO_TOP_UP_SETTINGS_TABLE = 'auto_top_up_settings';
export const SAVED_PAYMENT_METHODS_TABLE = 'saved_payment_methods';
export const TOP_UP_CROSSINGS_TABLE = 'top_up_crossings';

export const CREATE_TOP_UP_TABLES = `
  create table if not exists ${AUTO_TOP_UP_SETTINGS_TABLE} (
    user_id text primary key,
    enabled boolean not null,
    below_credits bigint not null check (below_credits > 0),
    pack_id text not null,
    max_per_month int not null check (max_per_month >= 0),
    max_amount_per_month bigint check (max_amount_per_month >= 0),
    -- Absent: those of the user's last payment that saved a card (saved_payment_methods).
    stripe_customer_id text,
    payment_method_id text,
    -- Each save counts one; the outbox follower notes the save it last acted on. A save it has not acted on
    -- yet arms the next event: spendable below the threshold after it is a crossing, as if from above.
    settings_version int not null default 1,
    armed_version_used int not null default 0,
    updated_at timestamptz not null default now()
  );
  -- The card a user's Checkout saved for payments without them (setup_future_usage off_session), the latest.
  create table if not exists ${SAVED_PAYMENT_METHODS_TABLE} (
    user_id text primary key,
    customer_id text not null,
    payment_method_id text not null,
    payment_id text not null,
    -- The Stripe event's created (Unix seconds): an older event never replaces a newer card.
    saved_at bigint not null
  );
  create table if not exists ${TOP_UP_CROSSINGS_TABLE} (
    crossing_event_id uuid primary key,
    user_id text not null,
    global_position bigint not null,
    spendable_credits bigint not null,
    below_credits bigint not null,
    -- due: to ask the stream; requested: TopUpRequested recorded, to charge; then succeeded, failed, or
    -- skipped (no top-up: disabled, no card, pending, monthly limit; see detail).
    status text not null default 'due'
      check (status in ('due', 'requested', 'succeeded', 'failed', 'skipped')),
    top_up_id uuid,
    payment_intent_id text,
    detail text,
    attempts int not null default 0,
    lease_until timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  );
  create index if not exists top_up_crossings_open on ${TOP_UP_CROSSINGS_TABLE} (global_position)
    where status in ('due', 'requested');
  create index if not exists top_up_crossings_user on ${TOP_UP_CROSSINGS_TABLE} (user_id, global_position);
`;
