import { Client, Pool, type PoolClient, type PoolConfig } from 'pg';
import type { LockSession, SqlDriver, SqlExecutor } from '../sql/sql-driver';

/** The production driver: a `pg` connection pool on a PostgreSQL server. */
export class PostgresDriver implements SqlDriver {
  private readonly pool: Pool;

  constructor(private readonly config: PoolConfig) {
    this.pool = new Pool(config);
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]> {
    const result = await this.pool.query(text, params as unknown[] | undefined);
    return result.rows as Row[];
  }

  async exec(text: string): Promise<void> {
    await this.pool.query(text);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('begin');
      try {
        const result = await work(executorOf(client));
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback');
        throw error;
      }
    });
  }

  async withExclusiveLock<T>(lockName: string, work: () => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('select pg_advisory_lock(hashtext($1))', [lockName]);
      try {
        return await work();
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [lockName]);
      }
    });
  }

  /** Advisory locks on a connection of its own, outside the pool: they end with it. */
  async openLockSession(): Promise<LockSession> {
    const client = new Client(this.config);
    client.on('error', () => undefined);
    await client.connect();
    return {
      tryLock: async (lockName) => {
        const { rows } = await client.query<{ locked: boolean }>(
          'select pg_try_advisory_lock(hashtext($1)) as locked',
          [lockName],
        );
        return rows[0].locked;
      },
      unlock: async (lockName) => {
        await client.query('select pg_advisory_unlock(hashtext($1))', [lockName]);
      },
      close: () => client.end(),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** A client whose connection failed mid-transaction is destroyed, not returned to the pool. */
  private async withClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let failure: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      failure = error instanceof Error && !('code' in error) ? error : undefined;
      throw error;
    } finally {
      client.release(failure);
    }
  }
}

function executorOf(client: PoolClient): SqlExecutor {
  return {
    query: async <Row>(text: string, params?: readonly unknown[]) =>
      (await client.query(text, params as unknown[] | undefined)).rows as Row[],
    exec: async (text: string) => {
      await client.query(text);
    },
  };
}
