import { setTimeout as sleep } from 'node:timers/promises';
import type { EventStore, LockSession, SqlDriver } from '@libs/event-store';
import { CheckpointMovedError } from './checkpoints';
import { applyNextBatch } from './projection-batch';
import { type Projection, ProjectionInvariantError } from './projection';
import { SharedFeedReader } from './shared-feed-reader';

export type ProjectorOptions = {
  /** Events read and applied per transaction. */
  batchSize: number;
  /** How often to look for events appended by other processes when caught up. */
  idlePollMs: number;
  /** How often a waiting instance tries to take a projection over. */
  lockRetryMs: number;
  log: ProjectorLog;
  /** Called after a batch of a projection committed with events in it (the webhook outbox wakes its dispatcher). */
  afterBatch?: (projection: string, eventsRead: number) => void;
};

/** Where the projector reports what stops or delays a projection; it has nothing else to say. */
export type ProjectorLog = {
  error(message: string, details?: Record<string, unknown>): void;
};

export type ProjectionProgress = {
  projection: string;
  /** This instance holds the projection's lock and applies it. */
  active: boolean;
  position: string | undefined;
  /** Set when an invariant broke: the projection stopped and needs an operator. */
  failure: Error | undefined;
};

const TRANSIENT_ERROR_PAUSE_MS = 1000;
/** After a wake, a moment for appends arriving together to share one batch. */
const WAKE_COALESCE_MS = 3;
/**
 * Events of full batches kept for projections behind the first (about 1 KB
 * each): a faster projection gets this far ahead before a slower one reads on
 * its own.
 */
const SHARED_EVENTS_KEPT_MAX = 32_000;

/**
 * Errors that retrying cannot cure stop the projection: a broken invariant,
 * and data the database refuses (SQLSTATE class 22, data exception, and 23,
 * integrity violation: a corrupt event). Connection and server errors retry.
 */
function isFatal(error: unknown): boolean {
  if (error instanceof ProjectionInvariantError) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Keeps projections up to date: one loop per projection follows the feed
 * from its checkpoint. Only the instance holding a projection's lock (a
 * PostgreSQL advisory lock, released when its process dies) applies it; others
 * wait and take over. Database errors are retried; a broken invariant (a gap,
 * a corrupt event) stops that projection loudly.
 */
export class Projector {
  private running = false;
  private loops: Promise<void>[] = [];
  /** Each projection's lock on a session of its own: one failing never drops the others' locks. */
  private readonly lockSessions = new Map<string, Promise<LockSession>>();
  private readonly sleepers = new Set<() => void>();
  /** Counts wake() calls, so that a loop busy when one came does not then sleep through it. */
  private wakesCount = 0;
  private readonly progress = new Map<string, ProjectionProgress>();
  /** Where each projection's loop left its checkpoint after a full batch; read from the table otherwise. */
  private readonly checkpoints = new Map<string, { position: string | undefined }>();
  /** Projections following the feed together read each batch of it once. */
  private readonly feed: SharedFeedReader;

  constructor(
    private readonly driver: SqlDriver,
    private readonly store: EventStore,
    private readonly projections: readonly Projection[],
    private readonly options: ProjectorOptions,
  ) {
    for (const { name } of projections) {
      this.progress.set(name, { projection: name, active: false, position: undefined, failure: undefined });
    }
    this.feed = new SharedFeedReader(
      store,
      projections.length,
      Math.max(2, Math.floor(SHARED_EVENTS_KEPT_MAX / options.batchSize)),
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = this.projections.map((projection) => this.follow(projection));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
    await Promise.all(this.projections.map(({ name }) => this.dropLockSession(name)));
  }

  /** Looks for new events now instead of at the next poll (called after an append in this process). */
  wake(): void {
    this.wakesCount += 1;
    for (const wakeUp of this.sleepers) wakeUp();
    this.sleepers.clear();
  }

  status(): ProjectionProgress[] {
    return [...this.progress.values()].map((progress) => ({ ...progress }));
  }

  private async follow(projection: Projection): Promise<void> {
    const progress = this.progress.get(projection.name)!;
    while (this.running) {
      try {
        progress.active = await this.holdLock(projection.name);
        this.countSharers();
        if (!progress.active) {
          this.checkpoints.delete(projection.name);
          await this.pause(this.options.lockRetryMs);
          continue;
        }
        const wakesSeen = this.wakesCount;
        const batch = await applyNextBatch(this.driver, this.store, projection, {
          checkpointName: projection.name,
          tables: projection.tables,
          batchSize: this.options.batchSize,
          read: (after, batchSize) => this.feed.read(after, batchSize),
          checkpoint: this.checkpoints.get(projection.name),
        });
        progress.position = batch.position;
        if (batch.eventsRead > 0) this.options.afterBatch?.(projection.name, batch.eventsRead);
        if (batch.eventsRead === this.options.batchSize) {
          // Straight on to the next batch: its checkpoint is where this one left it.
          this.checkpoints.set(projection.name, { position: batch.position });
          continue;
        }
        // Caught up: the next batch reads the checkpoint again (an operator may move it meanwhile).
        this.checkpoints.delete(projection.name);
        if (this.wakesCount === wakesSeen) await this.pause(this.options.idlePollMs);
      } catch (error) {
        const checkpointWasKnown = this.checkpoints.delete(projection.name);
        // Moved by a rebuild's swap (or another instance) since this loop moved it: read it again, at once.
        if (error instanceof CheckpointMovedError && checkpointWasKnown) continue;
        if (isFatal(error)) {
          // It keeps its lock on purpose: a standby taking over would only fail the same way.
          progress.failure = error instanceof Error ? error : new Error(String(error));
          this.countSharers();
          this.options.log.error(`projection ${projection.name} stopped: ${progress.failure.message}`, { err: error });
          return;
        }
        this.options.log.error(`projection ${projection.name}: ${String(error)}; retrying`, { err: error });
        await this.dropLockSession(projection.name);
        await this.pause(TRANSIENT_ERROR_PAUSE_MS);
      }
    }
  }

  /** The feed is shared by the projections applied here now: held, and not stopped. */
  private countSharers(): void {
    const sharers = [...this.progress.values()].filter(({ active, failure }) => active && failure === undefined);
    this.feed.setSharersCount(sharers.length);
  }

  private async holdLock(projectionName: string): Promise<boolean> {
    let session = this.lockSessions.get(projectionName);
    if (session === undefined) {
      session = this.driver.openLockSession();
      this.lockSessions.set(projectionName, session);
    }
    return (await session).tryLock(`credits-ledger:projection:${projectionName}`);
  }

  /** After an error the session may be dead; a fresh one re-takes the lock (another instance may have it now). */
  private async dropLockSession(projectionName: string): Promise<void> {
    const session = this.lockSessions.get(projectionName);
    this.lockSessions.delete(projectionName);
    this.progress.get(projectionName)!.active = false;
    this.countSharers();
    await session?.then((opened) => opened.close()).catch(() => undefined);
  }

  private async pause(milliseconds: number): Promise<void> {
    if (!this.running) return;
    let wakeUp!: () => void;
    const woken = new Promise<void>((resolve) => (wakeUp = resolve));
    this.sleepers.add(wakeUp);
    const controller = new AbortController();
    const reason = await Promise.race([
      woken.then(() => 'woken' as const),
      sleep(milliseconds, undefined, { signal: controller.signal }).then(
        () => 'slept' as const,
        () => 'slept' as const,
      ),
    ]);
    controller.abort();
    this.sleepers.delete(wakeUp);
    if (reason === 'woken' && this.running) await sleep(WAKE_COALESCE_MS);
  }
}
