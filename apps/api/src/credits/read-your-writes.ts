import { Inject, Injectable } from '@nestjs/common';
import { EVENT_STORE, type EventStore, type SqlDriver, UnknownPositionError } from '@libs/event-store';
import { ProblemException } from '@libs/http';
import { ProjectionBehindError, READ_MODEL_DB, projectionLag, waitForPosition } from '@projections';

export const READ_YOUR_WRITES_TIMEOUT_MS = Symbol('READ_YOUR_WRITES_TIMEOUT_MS');

/**
 * Lets a client read its own writes: a query given `minPosition` (a command's
 * `position`) waits, up to a bound, until the projection has applied it, and
 * answers 503 `projection-behind` rather than stale data.
 */
@Injectable()
export class ReadYourWrites {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_YOUR_WRITES_TIMEOUT_MS) private readonly timeoutMs: number,
  ) {}

  async waitFor(projection: string, minPosition: string | undefined): Promise<void> {
    if (minPosition === undefined) return;
    try {
      await waitForPosition(this.db, this.store, projection, minPosition, this.timeoutMs);
    } catch (error) {
      if (error instanceof UnknownPositionError) {
        throw ProblemException.of(400, 'unknown-position', 'Unknown position', {
          detail: `no event is stored at position ${minPosition}`,
        });
      }
      if (!(error instanceof ProjectionBehindError)) throw error;
      const lag = await projectionLag(this.db, this.store, projection);
      throw ProblemException.of(503, 'projection-behind', 'Projection behind', {
        detail: `the ${projection} projection did not reach position ${minPosition} within ${this.timeoutMs} ms`,
        projection,
        lagEvents: lag.lagEvents,
        lagSeconds: lag.lagSeconds,
      });
    }
  }
}

/** `?minPosition=N` or `X-Min-Position: N`: a decimal global position. */
export function minPositionFrom(query: string | undefined, header: string | undefined): string | undefined {
  const value = query ?? header;
  if (value === undefined || value === '') return undefined;
  if (!/^[0-9]{1,19}$/.test(value)) {
    throw ProblemException.of(400, 'invalid-position', 'Invalid position', {
      detail: 'minPosition is a global position as a command returned it: decimal digits',
    });
  }
  return value;
}
