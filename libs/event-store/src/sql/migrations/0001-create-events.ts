/**
 * The event log. `global_position` orders events by when their row was
 * inserted, not by when its transaction committed; `transaction_id` (xid8)
 * lets readers wait for older transactions still in flight (see readAll).
 */
export const createEvents = {
  name: '0001-create-events',
  up: `
    create table if not exists events (
      global_position bigint generated always as identity primary key,
      transaction_id xid8 not null default pg_current_xact_id(),
      stream_id text not null,
      stream_version integer not null,
      event_id uuid not null,
      type text not null,
      schema_version integer not null,
      data jsonb not null,
      metadata jsonb not null,
      recorded_at timestamptz not null default now(),
      constraint events_stream_version_unique unique (stream_id, stream_version),
      constraint events_event_id_unique unique (event_id),
      constraint events_stream_version_positive check (stream_version > 0)
    );
    create index if not exists events_commit_order on events (transaction_id, global_position);
  `,
};
