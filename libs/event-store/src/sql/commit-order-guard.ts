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
    const { epoch, xid } = nextTransactionPast(newestEventTransaction);
    super(
      `this database's transaction counter (next id ${nextTransaction}) is behind its events' ` +
        `(newest ${newestEventTransaction}): it was restored from a logical dump into another PostgreSQL cluster. ` +
        `New events would never reach the read model. Stop the cluster and advance its counter first, as its ` +
        `owner: pg_resetwal -e ${epoch} -x ${xid} -D <data directory> (docs/reliability.md, "Backup and restore"); ` +
        `or restore a physical backup (pg_basebackup), which keeps the counter`,
    );
    this.name = 'TransactionCounterBehindError';
  }
}

/** `pg_resetwal`'s `-x` works on a transaction-status segment boundary (1,048,576 ids): a new segment starts there. */
const XACT_SEGMENT = 1_048_576n;
const EPOCH = 2n ** 32n;

/** The epoch and 32-bit id `pg_resetwal` needs so that the next transaction id is past `newest`. */
export function nextTransactionPast(newest: bigint): { epoch: bigint; xid: bigint } {
  let next = ((newest + 1n + XACT_SEGMENT - 1n) / XACT_SEGMENT) * XACT_SEGMENT;
  // Ids 0 to 2 of every epoch are reserved: the first segment of an epoch starts past them.
  if (next % EPOCH === 0n) next += XACT_SEGMENT;
  return { epoch: next / EPOCH, xid: next % EPOCH };
}

/**
 * Refuses to open a store whose newest event has a transaction id the server has not reached yet (see
 * `TransactionCounterBehindError`). `pg_snapshot_xmax` is the next id the server will hand out, read without
 * taking one; `max(transaction_id)` is one step down the commit-order index.
 */
export async function assertTransactionCounterAhead(driver: SqlDriver): Promise<void> {
  const [row] = await driver.query<{ newest: string | null; next: string }>(
    `select (select max(transaction_id) from events)::text as newest,
            pg_snapshot_xmax(pg_current_snapshot())::text as next`,
  );
  if (row?.newest === null || row === undefined) return;
  const newest = BigInt(row.newest);
  const next = BigInt(row.next);
  if (newest >= next) throw new TransactionCounterBehindError(newest, next);
}
