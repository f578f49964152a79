import type { ExpectedVersion } from './expected-version';

/** Another writer appended first: re-read the stream and decide again. */
export class VersionConflictError extends Error {
  override readonly name = 'VersionConflictError';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: ExpectedVersion,
    readonly actualVersion: number | undefined,
  ) {
    super(
      `version conflict on stream ${streamId}: expected ${String(expectedVersion)}, found ${actualVersion ?? 'a concurrent append'}`,
    );
  }
}

/** Events with these ids of the batch are already stored: the append wrote nothing. */
export class DuplicateEventIdError extends Error {
  override readonly name = 'DuplicateEventIdError';
  constructor(
    readonly streamId: string,
    /** The ids of the batch that the store already holds (in any stream). */
    readonly eventIds: readonly string[],
  ) {
    super(`stream ${streamId}: events with these ids are already stored: ${eventIds.join(', ')}`);
  }
}

/** readAll was asked to continue after a position that no stored event has. */
export class UnknownPositionError extends Error {
  override readonly name = 'UnknownPositionError';
  constructor(readonly globalPosition: string) {
    super(`no event is stored at global position ${globalPosition}`);
  }
}
