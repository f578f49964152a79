/**
 * What the writer believes the stream's version to be. A stream's version is
 * the number of events in it: 0 for a stream that does not exist, and the
 * first event has version 1.
 */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

export function matchesExpectedVersion(expected: ExpectedVersion, actualVersion: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actualVersion === 0;
    case 'stream_exists':
      return actualVersion > 0;
    default:
      return expected === actualVersion;
  }
}

export function assertValidExpectedVersion(expected: ExpectedVersion): void {
  if (typeof expected === 'number' && !(Number.isSafeInteger(expected) && expected >= 0)) {
    throw new RangeError(`expected version must be a non-negative integer, got ${expected}`);
  }
}
