import type { SqlExecutor } from '@libs/event-store';
import { WEBHOOK_DELIVERIES_TABLE, WEBHOOK_ENDPOINTS_TABLE } from './webhooks.tables';

export const GRANT_EXPIRING_NOTICES_TABLE = 'grant_expiring_notices';

export const CREATE_GRANT_EXPIRING_NOTICES = `
  create table if not exists ${GRANT_EXPIRING_NOTICES_TABLE} (
    grant_id uuid primary key,
    user_id text not null,
    noticed_at timestamptz not null default now()
  );`;

/** Among a user's deliveries of one stream version, a notice comes after the grant's own event's. */
const NOTICE_EVENT_ORDER = 100;

/**
 * `grant.expiring`, which no ledger event records: the grants with credits left (none of them frozen by a dispute,
 * which keeps a grant from expiring) whose `expiresAt` is within
 * `leadSeconds` of `now`, each noticed once (the notice's row and its deliveries are one statement: two
 * processes at once notice a grant once), soonest first, up to `batchSize`. The deliveries go to the endpoints
 * enabled and subscribed then, ordered among the user's after the event that made the grant. Returns how many
 * grants were noticed.
 */
export async function noticeGrantsExpiring(
  db: SqlExecutor,
  now: Date,
  leadSeconds: number,
  batchSize: number,
): Promise<number> {
  if (leadSeconds === 0) return 0;
  const [row] = await db.query<{ noticed: string }>(
    `with due as (
       select user_id, grant_id, sequence, category, expires_at, remaining, frozen, held from grants
       -- The grants-due index's own condition: a grant a dispute holds credits of does not expire while it does.
       where status = 'active' and remaining > 0 and frozen = 0 and expires_at > $1::timestamptz
         and expires_at <= $1::timestamptz + make_interval(secs => $2::float8)
         and not exists (select 1 from ${GRANT_EXPIRING_NOTICES_TABLE} notice where notice.grant_id = grants.grant_id)
       order by expires_at, user_id, sequence limit $3::int
     ), noticed as (
       insert into ${GRANT_EXPIRING_NOTICES_TABLE} (grant_id, user_id) select grant_id, user_id from due
       on conflict (grant_id) do nothing returning grant_id
     ), queued as (
       insert into ${WEBHOOK_DELIVERIES_TABLE}
         (endpoint_id, event_type, user_id, stream_version, event_order, global_position, ledger_event_id, data)
       select endpoint.id, 'grant.expiring', due.user_id, due.sequence, ${NOTICE_EVENT_ORDER}, null, due.grant_id,
         jsonb_build_object('grantId', due.grant_id, 'category', due.category,
           'expiresAt', to_char(due.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'remainingCredits', due.remaining, 'frozenCredits', due.frozen, 'heldCredits', due.held)
       from due join noticed using (grant_id)
       join ${WEBHOOK_ENDPOINTS_TABLE} endpoint
         on endpoint.status = 'enabled' and 'grant.expiring' = any(endpoint.events)
       on conflict (endpoint_id, ledger_event_id, event_type) do nothing
     )
     select count(*)::text as noticed from noticed`,
    [now.toISOString(), leadSeconds, batchSize],
  );
  return Number(row.noticed);
}
