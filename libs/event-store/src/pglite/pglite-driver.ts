import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { SqlDriver, SqlExecutor } from '../sql/sql-driver';

/**
 * The embedded driver: PostgreSQL compiled to WebAssembly, in this process,
 * with its data directory on disk (or in memory when none is given). PGlite
 * has a single connection and runs one transaction at a time.
 */
export class PgliteDriver implements SqlDriver {
  private constructor(private readonly db: PGlite) {}

  /** `dataDir` undefined keeps the database in memory (tests). */
  static async open(dataDir: string | undefined): Promise<PgliteDriver> {
    if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
    const db = await PGlite.create(dataDir === undefined ? {} : { dataDir });
    return new PgliteDriver(db);
  }

  async query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]> {
    return (await this.db.query<Row>(text, params as unknown[] | undefined)).rows;
  }

  async exec(text: string): Promise<void> {
    await this.db.exec(text);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => work(executorOf(tx)));
  }

  /** One process owns a PGlite data directory, so a lock between processes is moot. */
  async withExclusiveLock<T>(_lockName: string, work: () => Promise<T>): Promise<T> {
    return work();
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
  }
}

function executorOf(tx: Transaction): SqlExecutor {
  return {
    query: async <Row>(text: string, params?: readonly unknown[]) =>
      (await tx.query<Row>(text, params as unknown[] | undefined)).rows,
    exec: async (text: string) => {
      await tx.exec(text);
    },
  };
}
