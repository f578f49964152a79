import type { RecordedCreditsEvent } from '@libs/credits';
import type { RecordedEvent, SqlExecutor } from '@libs/event-store';

/** The actual name of each of a projection's tables: its own name live, another while it is rebuilt. */
export type TableNames<Table extends string = string> = Readonly<Record<Table, string>>;

/** A credits event as projections see it: with its user and when the store recorded it. */
export type ProjectedEvent = RecordedCreditsEvent & { userId: string; recordedAt: string };

/**
 * A read model built from the credits events. Its tables are created by its
 * DDL (live by the migrations, fresh by a rebuild); `apply` runs inside the
 * projector's transaction, which also moves the checkpoint.
 */
export interface Projection<Table extends string = string> {
  readonly name: string;
  /** The live names of its tables. */
  readonly tables: TableNames<Table>;
  /** DDL creating its tables under the given names; idempotent (`if not exists`). */
  createTables(names: TableNames<Table>): string;
  /**
   * Applies events in feed order. Idempotent by stream version: an event at or
   * below the version already applied for its user is skipped; one more than
   * one above is a gap and throws ProjectionGapError.
   */
  apply(tx: SqlExecutor, events: readonly ProjectedEvent[], names: TableNames<Table>): Promise<void>;
  /** The other streams' events of the same batch (parked Stripe payments), for a follower that reads them. */
  applyOthers?(tx: SqlExecutor, events: readonly RecordedEvent[]): Promise<void>;
  /** Deletes every row of these users, for a repair that then applies their whole streams again. */
  deleteRowsOf(tx: SqlExecutor, userIds: readonly string[], names: TableNames<Table>): Promise<void>;
}

/**
 * Something that must never happen did: a corrupt or unknown event, a balance
 * below zero. The projection stops, loudly, rather than build a wrong model.
 */
export class ProjectionInvariantError extends Error {
  override readonly name: string = 'ProjectionInvariantError';
}

/** Events are missing between what a projection applied and what it was given: never papered over. */
export class ProjectionGapError extends ProjectionInvariantError {
  override readonly name = 'ProjectionGapError';
  constructor(
    readonly projection: string,
    readonly userId: string,
    readonly appliedVersion: number,
    readonly eventVersion: number,
  ) {
    super(
      `projection ${projection}: user ${userId} is at version ${appliedVersion} but the next event has version ${eventVersion}`,
    );
  }
}

/** True when the event is the next one for its stream, false when already applied; throws on a gap. */
export function isNextEvent(projection: string, appliedVersion: number, event: ProjectedEvent): boolean {
  if (event.streamVersion <= appliedVersion) return false;
  if (event.streamVersion > appliedVersion + 1) {
    throw new ProjectionGapError(projection, event.userId, appliedVersion, event.streamVersion);
  }
  return true;
}
