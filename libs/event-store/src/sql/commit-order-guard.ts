import type { SqlDriver } from './sql-driver';

/**
 * The server's transaction counter is behind the events' `transaction_id`s: the database was restored from a
 * logical dump (`pg_dump`) into another cluster, whose counter started lower. The feed orders events by
 * transaction id, so the events written from now on would sort before those restored, behind every
 * projection's checkpoint: never projected, and read models answering stale balances as if current.
 */
export class TransactionCounterBehindError extends Error {
  constructor(
    readonly newestEventTransaction: bigint,
    readonly nextTransaction: bigint,
  ) {
    super(
      `this database's transaction counter (next id ${nextTransaction}) is behind its events' ` +
        `(newest ${newestEventTransaction}): it was restored from a logical dump into another PostgreSQL cluster. ` +
        `New events would never reach the read model. Stop the cluster cleanly and raise its transaction id ` +
        `epoch first, as its owner: pg_resetwal -e ${epochPast(newestEventTransaction)} <data directory> ` +
        `(docs/reliability.md, "Backup and restore"); or restore a physical backup (pg_basebackup), which ` +
        `keeps the counter`,
    );
    this.name = 'TransactionCounterBehindError';
  }
}

const EPOCH = 2n ** 32n;

/**
 * The epoch that puts every new transaction id past `newest`. Only the epoch moves (`pg_resetwal -e`): the
 * server's 32-bit counter, which the rows' visibility and the wraparound limits depend on, stays where it
 * is. PostgreSQL keeps the epoch only for 64-bit ids (`xid8`): "any value will work so far as the database
 * itself is concerned" (the pg_resetwal manual).
 */
export function epochPast(newest: bigint): bigint {
  return newest / EPOCH + 1n;
}

/**
 * Refuses to open a store whose newest event has a transaction id the server has not reached yet (see
 * `TransactionCounterBehindError`). `pg_snapshot_xmax` is the next id the server will hand out, read without
 * taking one; the newest event's id is one step down the commit-order index (`max(xid8)` needs
 * PostgreSQL 15).
 */
export async function assertTransactionCounterAhead(driver: SqlDriver): Promise<void> {
  const [row] = await driver.query<{ newest: string | null; next: string }>(
    `select (select transaction_id from events order by transaction_id desc limit 1)::text as newest,
            pg_snapshot_xmax(pg_current_snapshot())::text as next`,
  );
  if (row === undefined || row.newest === null) return;
  const newest = BigInt(row.newest);
  const next = BigInt(row.next);
  if (newest >= next) throw new TransactionCounterBehindError(newest, next);
}
