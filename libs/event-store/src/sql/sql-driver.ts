/**
 * The few calls the shared SQL needs from a PostgreSQL driver. Two drivers
 * implement it: `pg` (a server) and PGlite (in-process WebAssembly).
 */
export type QueryOptions = {
  /**
   * Prepare the statement once per connection under this name and only bind
   * and execute it afterwards (a driver without prepared statements ignores
   * it). Only for a fixed text run often.
   */
  statementName?: string;
  /**
   * 'array': each row is an array of the columns in select order (`Row` is
   * then a tuple). For reads of many rows: the driver skips building an
   * object keyed by column name per row, a fifth of a replay's time.
   */
  rowMode?: 'array';
};

export interface SqlExecutor {
  query<Row>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<Row[]>;
  /** Several statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
}

export interface SqlDriver extends SqlExecutor {
  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * A session for locks that last as long as it does: held by one process at a
   * time on this database, and released when the process dies (its session ends).
   */
  openLockSession(): Promise<LockSession>;
  /** Runs `work` while holding a lock that other processes on the same database respect. */
  withExclusiveLock<T>(lockName: string, work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface LockSession {
  /** Takes the named lock if no other session holds it; true when this session holds it now. */
  tryLock(lockName: string): Promise<boolean>;
  unlock(lockName: string): Promise<void>;
  /** Releases every lock of the session and ends it. */
  close(): Promise<void>;
}

/** What both drivers report for a unique violation: SQLSTATE 23505 and the constraint. */
export function uniqueViolationConstraint(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  if (code !== '23505') return undefined;
  return typeof constraint === 'string' ? constraint : '';
}

/**
 * A deadlock (40P01) or serialization failure (40001): the server rolled the
 * transaction back to let a concurrent one go on. Nothing of it is stored;
 * for an append it is a lost race, like a version conflict: decide again.
 */
export function isTransactionRolledBackByServer(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code } = error as { code?: unknown };
  return code === '40P01' || code === '40001';
}
