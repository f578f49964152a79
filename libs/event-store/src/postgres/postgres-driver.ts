import { Client, Pool, type PoolClient, type PoolConfig, type QueryConfig } from 'pg';
import type { LockSession, QueryOptions, SqlDriver, SqlExecutor } from '../sql/sql-driver';

/** Defaults a caller's `PoolConfig` overrides. */
export const POSTGRES_POOL_DEFAULTS = {
  /** A server that accepts the connection but never answers fails the query instead of hanging it. */
  connectionTimeoutMillis: 10_000,
} as const satisfies PoolConfig;

/** The production driver: a `pg` connection pool on a PostgreSQL server. */
export class PostgresDriver implements SqlDriver {
  private readonly config: PoolConfig;
  private readonly pool: Pool;

  constructor(config: PoolConfig) {
    this.config = { ...POSTGRES_POOL_DEFAULTS, ...config };
    this.pool = new Pool(this.config);
    // The pool emits 'error' when an idle client's connection fails (a server
    // restart, a dropped network). An EventEmitter without an 'error' listener
    // throws, which would crash the process. The pool has already discarded
    // that client and the next query opens a new connection; an error on a
    // client in use reaches its query, so there is nothing more to do here.
    this.pool.on('error', () => undefined);
  }

  async query<Row>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<Row[]> {
    return (await this.pool.query(queryConfig(text, params, options))).rows as Row[];
  }

  async exec(text: string): Promise<void> {
    await this.pool.query(text);
  }

  /**
   * The client goes back to the pool only when its transaction ended cleanly
   * (committed or rolled back); otherwise (a lost connection, a failed
   * rollback) it is destroyed, never lent again in an aborted transaction.
   * The error of `work` (or of begin or commit) is the one thrown.
   */
  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const { client, release } = await this.checkOut();
    let endedCleanly = false;
    try {
      await client.query('begin');
      const result = await work(executorOf(client));
      await client.query('commit');
      endedCleanly = true;
      return result;
    } catch (error) {
      endedCleanly = await rolledBack(client);
      throw error;
    } finally {
      release(endedCleanly);
    }
  }

  /**
   * Holds a session advisory lock on one pooled client while `work` runs. When
   * the unlock fails the client is destroyed, which ends its session and so
   * releases the lock: the outcome of `work`, result or error, stands.
   */
  async withExclusiveLock<T>(lockName: string, work: () => Promise<T>): Promise<T> {
    const { client, release } = await this.checkOut();
    try {
      await client.query('select pg_advisory_lock(hashtext($1))', [lockName]);
      return await work();
    } finally {
      release(await advisoryUnlocked(client, lockName));
    }
  }

  /** Advisory locks on a connection of its own, outside the pool: they end with it. */
  async openLockSession(): Promise<LockSession> {
    // keepAlive: a holder whose host vanished is noticed by TCP, not after hours.
    const client = new Client({ ...this.config, keepAlive: true });
    client.on('error', () => undefined);
    await client.connect();
    // PostgreSQL counts a session's re-takes of a lock, one unlock each; the
    // port's lock is taken once, so the session remembers what it holds.
    const held = new Set<string>();
    // One query at a time on the session's connection, whoever calls (pg@9 refuses overlapping queries).
    let previous: Promise<unknown> = Promise.resolve();
    const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
      const result = previous.then(work, work);
      previous = result.catch(() => undefined);
      return result;
    };
    return {
      tryLock: (lockName) =>
        inTurn(async () => {
          // A held lock lasts as long as the connection: prove the connection is alive (a
          // dropped one throws here, and the caller re-takes its locks on a new session).
          if (held.has(lockName)) return (await client.query('select 1')).rowCount === 1;
          const { rows } = await client.query<{ locked: boolean }>(
            'select pg_try_advisory_lock(hashtext($1)) as locked',
            [lockName],
          );
          if (rows[0].locked) held.add(lockName);
          return rows[0].locked;
        }),
      unlock: (lockName) =>
        inTurn(async () => {
          if (!held.has(lockName)) return;
          await client.query('select pg_advisory_unlock(hashtext($1))', [lockName]);
          held.delete(lockName);
        }),
      close: () => inTurn(() => client.end()),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * A pooled client with an 'error' listener for as long as it is checked
   * out: `pg` emits a connection lost between two queries as an 'error'
   * event, which would crash the process with no listener. `release(healthy)`
   * returns it to the pool only if healthy and its connection never failed.
   */
  private async checkOut(): Promise<{ client: PoolClient; release(healthy: boolean): void }> {
    const client = await this.pool.connect();
    let connectionFailed = false;
    const onError = () => (connectionFailed = true);
    client.on('error', onError);
    return {
      client,
      release: (healthy) => {
        client.removeListener('error', onError);
        client.release(!healthy || connectionFailed);
      },
    };
  }
}

/** Whether the rollback succeeded; a failed one leaves the client in an unknown state. */
async function rolledBack(client: PoolClient): Promise<boolean> {
  try {
    await client.query('rollback');
    return true;
  } catch {
    return false;
  }
}

async function advisoryUnlocked(client: PoolClient, lockName: string): Promise<boolean> {
  try {
    await client.query('select pg_advisory_unlock(hashtext($1))', [lockName]);
    return true;
  } catch {
    return false;
  }
}

function executorOf(client: PoolClient): SqlExecutor {
  return {
    query: async <Row>(text: string, params?: readonly unknown[], options?: QueryOptions) =>
      (await client.query(queryConfig(text, params, options))).rows as Row[],
    exec: async (text: string) => {
      await client.query(text);
    },
  };
}

function queryConfig(
  text: string,
  params: readonly unknown[] | undefined,
  options: QueryOptions | undefined,
): QueryConfig {
  return {
    text,
    values: params as unknown[] | undefined,
    ...(options?.statementName === undefined ? {} : { name: options.statementName }),
    ...(options?.rowMode === undefined ? {} : { rowMode: options.rowMode }),
  };
}
