import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { LockSession, QueryOptions, SqlDriver, SqlExecutor } from '../sql/sql-driver';
import { type DataDirectoryLock, lockDataDirectory } from './data-directory-lock';

/**
 * The embedded driver: PostgreSQL compiled to WebAssembly, in this process,
 * with its data directory on disk (or in memory when none is given). PGlite
 * has a single connection and runs one transaction at a time, and one process
 * at a time opens a data directory: `open` takes a lock file beside it.
 */
export class PgliteDriver implements SqlDriver {
  /** Locks held by the sessions of this database: PGlite's advisory locks all share its one connection. */
  private readonly heldLocks = new Set<string>();

  private constructor(
    private readonly db: PGlite,
    private readonly dataDirectoryLock: DataDirectoryLock | undefined,
  ) {}

  /**
   * `dataDir` undefined keeps the database in memory (tests). Throws
   * DataDirectoryLockedError while another driver, in this process or
   * another, has the directory open.
   */
  static async open(dataDir: string | undefined): Promise<PgliteDriver> {
    if (dataDir === undefined) return new PgliteDriver(await PGlite.create({}), undefined);
    mkdirSync(dataDir, { recursive: true });
    const lock = lockDataDirectory(dataDir);
    try {
      return new PgliteDriver(await PGlite.create({ dataDir }), lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  async query<Row>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<Row[]> {
    return (await this.db.query<Row>(text, params as unknown[] | undefined, rowModeOf(options))).rows;
  }

  async exec(text: string): Promise<void> {
    await this.db.exec(text);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => work(executorOf(tx)));
  }

  /** One process owns a PGlite data directory (its lock file), so a lock between processes is moot. */
  async withExclusiveLock<T>(_lockName: string, work: () => Promise<T>): Promise<T> {
    return work();
  }

  /** Only this process opens the data directory, so the locks live in this driver. */
  openLockSession(): Promise<LockSession> {
    const mine = new Set<string>();
    const unlock = (lockName: string) => {
      if (mine.delete(lockName)) this.heldLocks.delete(lockName);
    };
    const tryLock = (lockName: string) => {
      if (mine.has(lockName)) return true;
      if (this.heldLocks.has(lockName)) return false;
      this.heldLocks.add(lockName);
      mine.add(lockName);
      return true;
    };
    return Promise.resolve({
      tryLock: (lockName) => Promise.resolve(tryLock(lockName)),
      unlock: (lockName) => Promise.resolve(unlock(lockName)),
      close: () => Promise.resolve([...mine].forEach(unlock)),
    });
  }

  /** The data directory stays locked if closing fails: until this process ends. */
  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
    this.dataDirectoryLock?.release();
  }
}

function executorOf(tx: Transaction): SqlExecutor {
  return {
    query: async <Row>(text: string, params?: readonly unknown[], options?: QueryOptions) =>
      (await tx.query<Row>(text, params as unknown[] | undefined, rowModeOf(options))).rows,
    exec: async (text: string) => {
      await tx.exec(text);
    },
  };
}

/** PGlite has no named statements; only the row mode carries over. */
function rowModeOf(options: QueryOptions | undefined): { rowMode: 'array' } | undefined {
  return options?.rowMode === undefined ? undefined : { rowMode: options.rowMode };
}
