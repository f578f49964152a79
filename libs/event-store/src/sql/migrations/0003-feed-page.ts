/**
 * The feed's reads after a checkpoint, walked along the `events_commit_order`
 * index whatever the table's statistics say. Until autovacuum first analyzes a
 * young table (or after a bulk load), the planner knows neither how the index
 * follows the table nor how many rows the (transaction id, position)
 * comparison keeps: it sorts the whole table for each page (measured at 21,000
 * events: 80 ms a page of 10,000 and 30 ms a page of 1,000, instead of 15 and
 * 2) and counts the events left by scanning the table from its start (28 ms
 * at 100,000 events instead of under 1). A function's own settings apply to
 * its query alone.
 *
 * `events_feed_page` is one page of `readAll`: the events of transactions
 * older than every transaction still running in this database. A
 * transaction's id is shared by the whole server, and `pg_snapshot_xmin` would
 * wait for transactions of other databases too (a long one anywhere on the
 * server held the projectors back); those still seen running in another
 * database are left out, and any other one (finished since the snapshot, or
 * prepared) is waited for, as before; so are the reader's own transaction
 * and, on a standby, every transaction (there the server-wide minimum is the
 * only one known). `events_count_after` counts up to `count_max` committed
 * events after a checkpoint, including those the feed still holds back behind
 * an older open transaction (`countEventsAfter`).
 */
export const feedPage = {
  name: '0003-feed-page',
  up: `
    create or replace function events_feed_page(after_transaction xid8, after_position bigint, page_size integer)
    returns setof events
    language sql stable
    set enable_sort = off
    as $$
      select * from events
      where (transaction_id, global_position) > (after_transaction, after_position)
        and transaction_id < (
          select case
            -- A standby's snapshot lists no running transaction (all are sub-ids there).
            when pg_is_in_recovery() then pg_snapshot_xmin(pg_current_snapshot())
            -- The reader's own transaction, if it wrote, is not in the list either.
            else least(pg_current_xact_id_if_assigned(), coalesce(min(running), pg_snapshot_xmax(pg_current_snapshot())))
          end
          from pg_snapshot_xip(pg_current_snapshot()) as running
          where xid(running) not in (
            select backend_xid from pg_stat_activity
            where backend_xid is not null and datname <> current_database()))
      order by transaction_id, global_position
      limit page_size
    $$;
    create or replace function events_count_after(after_transaction xid8, after_position bigint, count_max bigint)
    returns integer
    language sql stable
    set enable_seqscan = off
    set enable_bitmapscan = off
    as $$
      select count(*)::integer from (
        select from events
        where (transaction_id, global_position) > (after_transaction, after_position)
        limit count_max) as pending
    $$;
  `,
};
