import { Metadata, status } from '@grpc/grpc-js';
import {
  ANY,
  NO_STREAM,
  type RecordedEvent as KurrentRecordedEvent,
  STREAM_EXISTS,
  WrongExpectedVersionError,
} from '@kurrent/kurrentdb-client';
import { WrongExpectedVersion } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb';
import { DuplicateEventIdError, VersionConflictError } from '../event-store.errors';
import {
  StreamPage,
  actualVersionOf,
  applicationStreamsFilter,
  assertAppendable,
  assertStoredAsAppended,
  compareUtf8,
  eventDataOf,
  globalPositionOf,
  kurrentPositionOf,
  lastRevisionOfAppend,
  positionHasPassed,
  recordedEventOf,
  revisionOf,
  streamPrefixFilter,
  streamStateOf,
  streamVersionOf,
  translateAppendError,
} from './kurrentdb-mapping';

const STREAM = 'credits-user-1';

describe('KurrentDB mapping', () => {
  describe('stream versions: the port counts from 1, KurrentDB revisions from 0n', () => {
    it('maps the first event both ways', () => {
      expect(streamVersionOf(0n)).toBe(1);
      expect(revisionOf(1)).toBe(0n);
      expect(revisionOf(streamVersionOf(41n))).toBe(41n);
    });

    it('refuses revisions a JavaScript number cannot hold exactly, and versions below 1', () => {
      expect(() => streamVersionOf(BigInt(Number.MAX_SAFE_INTEGER))).toThrow(RangeError);
      expect(() => streamVersionOf(-1n)).toThrow(RangeError);
      expect(() => revisionOf(0)).toThrow(RangeError);
    });
  });

  describe('expected versions', () => {
    it.each([
      ['any', ANY],
      ['no_stream', NO_STREAM],
      ['stream_exists', STREAM_EXISTS],
      [0, NO_STREAM],
      [1, 0n],
      [7, 6n],
    ] as const)('port %p is KurrentDB stream state %p', (expected, state) => {
      expect(streamStateOf(expected)).toBe(state);
    });

    it('refuses an invalid expected version before any call', () => {
      expect(() => streamStateOf(-1)).toThrow(RangeError);
      expect(() => streamStateOf(1.5)).toThrow(RangeError);
    });
  });

  describe('WrongExpectedVersionError becomes VersionConflictError with the stream and both versions', () => {
    it('from the error the client builds for appendToStream (no gRPC involved)', () => {
      const vendor = new WrongExpectedVersionError(undefined, { streamName: STREAM, expected: 0n, current: 1n });
      const translated = translateAppendError(vendor, STREAM, 1);
      expect(translated).toBeInstanceOf(VersionConflictError);
      expect(translated).toMatchObject({ streamId: STREAM, expectedVersion: 1, actualVersion: 2 });
    });

    it('from the batch-append details (the protobuf message the server sends)', () => {
      const details = new WrongExpectedVersion().setExpectedStreamPosition('3').setCurrentStreamRevision('5');
      const vendor = WrongExpectedVersionError.fromWrongExpectedVersion(details, STREAM);
      expect(translateAppendError(vendor, STREAM, 4)).toMatchObject({ expectedVersion: 4, actualVersion: 6 });
    });

    it('from a stream that does not exist, whichever way the client reports it', () => {
      const missing = new WrongExpectedVersionError(undefined, {
        streamName: STREAM,
        expected: STREAM_EXISTS,
        current: NO_STREAM,
      });
      expect(translateAppendError(missing, STREAM, 'stream_exists')).toMatchObject({ actualVersion: 0 });
      const metadata = new Metadata();
      metadata.set('stream-name', STREAM);
      metadata.set('expected-version', '-4');
      metadata.set('actual-version', '-1');
      const fromGrpc = new WrongExpectedVersionError({
        name: 'Error',
        message: 'WrongExpectedVersion',
        code: status.FAILED_PRECONDITION,
        details: 'WrongExpectedVersion',
        metadata,
      });
      expect(translateAppendError(fromGrpc, STREAM, 'stream_exists')).toMatchObject({ actualVersion: 0 });
    });

    it('from an append the client resolved as failed (throwOnAppendFailure=false)', () => {
      expect(() => lastRevisionOfAppend({ success: false, nextExpectedRevision: 2n }, STREAM, 1)).toThrow(
        expect.objectContaining({ name: 'VersionConflictError', actualVersion: 3 }),
      );
      expect(lastRevisionOfAppend({ success: true, nextExpectedRevision: 2n }, STREAM, 2)).toBe(2n);
    });

    it('lets every other error through unchanged', () => {
      const outage = new Error('unavailable');
      expect(translateAppendError(outage, STREAM, 1)).toBe(outage);
    });
  });

  describe('global positions: 64-bit, never a JavaScript number', () => {
    const aboveDoubles = 2n ** 53n + 1n;

    it('round-trips a position above 2^53 exactly', () => {
      const position = { commit: aboveDoubles, prepare: aboveDoubles };
      const globalPosition = globalPositionOf(position);
      expect(globalPosition).toBe('9007199254740993');
      expect(kurrentPositionOf(globalPosition)).toEqual(position);
      // A number would have rounded it to ...992.
      expect(String(Number(globalPosition))).not.toBe(globalPosition);
    });

    it('round-trips the largest unsigned 64-bit position and refuses one above it', () => {
      const max = (2n ** 64n - 1n).toString();
      expect(globalPositionOf(kurrentPositionOf(max))).toBe(max);
      expect(() => kurrentPositionOf((2n ** 64n).toString())).toThrow(RangeError);
    });

    it('refuses what is not a decimal position', () => {
      for (const bad of ['', '-1', '1e3', '12:34', ' 1']) expect(() => kurrentPositionOf(bad)).toThrow(RangeError);
    });

    it('refuses an event of a legacy explicit transaction (commit differs from prepare), or one without a position', () => {
      expect(() => globalPositionOf({ commit: 200n, prepare: 100n })).toThrow(/explicit transaction/);
      expect(() => globalPositionOf(undefined)).toThrow(/22.6/);
    });

    it('hasPassed compares positions as 64-bit integers, not as strings or doubles', () => {
      expect(positionHasPassed('10', '9')).toBe(true);
      expect(positionHasPassed('10', '10')).toBe(true);
      expect(positionHasPassed('10', '11')).toBe(false);
      expect(positionHasPassed(aboveDoubles.toString(), (aboveDoubles - 1n).toString())).toBe(true);
      expect(positionHasPassed((aboveDoubles - 1n).toString(), aboveDoubles.toString())).toBe(false);
      expect(positionHasPassed(undefined, '1')).toBe(false);
    });
  });

  describe('events', () => {
    it('keep type, data, metadata and schema version through KurrentDB', () => {
      const appended = {
        id: '0b6f3d7e-7c1f-4d55-9a43-3f2f3b0f5e11',
        type: 'CreditsConsumed',
        schemaVersion: 2,
        data: { amountCredits: 5 },
        metadata: { idempotencyKey: 'k-1' },
      };
      const stored = eventDataOf(appended);
      expect(stored).toMatchObject({ id: appended.id, type: appended.type, contentType: 'application/json' });
      const read = {
        streamId: STREAM,
        id: stored.id,
        isJson: true,
        revision: 0n,
        type: stored.type,
        created: new Date('2026-01-02T03:04:05.678Z'),
        data: stored.data,
        metadata: stored.metadata,
        position: { commit: 2n ** 60n, prepare: 2n ** 60n },
      } as KurrentRecordedEvent;
      expect(recordedEventOf(read)).toEqual({
        ...appended,
        streamId: STREAM,
        streamVersion: 1,
        globalPosition: (2n ** 60n).toString(),
        recordedAt: '2026-01-02T03:04:05.678Z',
      });
    });

    it('refuses an event another writer stored without the ledger metadata', () => {
      const foreign = {
        streamId: STREAM,
        id: 'x',
        isJson: true,
        revision: 0n,
        type: 'T',
        created: new Date(),
        data: {},
        metadata: { some: 'thing' },
        position: { commit: 1n, prepare: 1n },
      } as KurrentRecordedEvent;
      expect(() => recordedEventOf(foreign)).toThrow(/ledger metadata/);
    });
  });

  describe('events read back after an append KurrentDB acknowledged', () => {
    const appended = {
      id: 'e-1',
      type: 'CreditsConsumed',
      schemaVersion: 1,
      data: { amount: 8, note: undefined },
      metadata: { idempotencyKey: 'K', payloadFingerprint: 'fp-1', occurredAt: '2026-11-28T00:00:00.000Z' },
    };
    const storedAs = (event: Partial<typeof appended>) => ({
      ...appended,
      data: { amount: 8 },
      ...event,
      streamId: STREAM,
      streamVersion: 2,
      globalPosition: '10',
      recordedAt: '2026-11-28T00:00:00.000Z',
    });

    it('are trusted when they are the events appended, as JSON stores them, whenever and whyever recorded', () => {
      expect(() => assertStoredAsAppended(STREAM, 2, [appended], [storedAs({})])).not.toThrow();
      const later = { ...appended.metadata, occurredAt: '2026-11-29T00:00:00.000Z', causedBy: { by: 'retry' } };
      expect(() => assertStoredAsAppended(STREAM, 2, [appended], [storedAs({ metadata: later })])).not.toThrow();
    });

    it('are another decision under the same ids when type, schema version, data or metadata differ', () => {
      const others = [
        { type: 'BonusGranted' },
        { schemaVersion: 2 },
        { data: { amount: 1, note: undefined } },
        { metadata: { ...appended.metadata, payloadFingerprint: 'fp-2' } },
      ];
      for (const other of others) {
        let thrown: unknown;
        try {
          assertStoredAsAppended(STREAM, 2, [appended], [storedAs(other)]);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(DuplicateEventIdError);
        expect(thrown).toMatchObject({ streamId: STREAM, eventIds: ['e-1'] });
      }
    });

    it('are a bug, not a duplicate, when their ids are not those appended', () => {
      const check = () => assertStoredAsAppended(STREAM, 2, [appended], [storedAs({ id: 'e-2' })]);
      expect(check).toThrow(/not those appended/);
      expect(check).not.toThrow(DuplicateEventIdError);
    });
  });

  describe('filters on $all', () => {
    it('reads the application streams: every stream but the $-prefixed system ones', () => {
      const filter = applicationStreamsFilter();
      expect(filter).toMatchObject({ filterOn: 'streamName', regex: '^[^$]' });
      const matches = new RegExp((filter as { regex: string }).regex);
      expect(matches.test('credits-user-1')).toBe(true);
      expect(['$stats-0.0.0.0:2113', '$$credits-user-1', '$streams'].some((name) => matches.test(name))).toBe(false);
    });

    it('filters on stream-name prefixes for the projector, refusing system prefixes', () => {
      expect(streamPrefixFilter(['credits-'])).toMatchObject({ filterOn: 'streamName', prefixes: ['credits-'] });
      expect(() => streamPrefixFilter([])).toThrow(RangeError);
      expect(() => streamPrefixFilter(['$ce-'])).toThrow(RangeError);
    });
  });

  describe('listStreams pages built from an unordered scan', () => {
    const prefix = 'list-';
    // What the contract suite appends, in creation order (the order a scan of $all meets them).
    const scanned = ['b', 'B', 'a', 'é', 'z', 'a-1'].map((name) => prefix + name);

    function page(after: string | undefined, limit: number, ids = scanned): string[] {
      const built = new StreamPage(after, limit);
      for (const id of ids) built.offer(id);
      return built.ids();
    }

    it('orders ids by UTF-8 bytes: upper case before lower case, é after z', () => {
      expect([...scanned].sort(compareUtf8)).toEqual(['B', 'a', 'a-1', 'b', 'z', 'é'].map((name) => prefix + name));
    });

    it('keeps the first `limit` ids after `after`, each once', () => {
      const first = page(undefined, 4, [...scanned, ...scanned]);
      expect(first).toEqual(['B', 'a', 'a-1', 'b'].map((name) => prefix + name));
      const rest = page(first[first.length - 1], 4);
      expect(rest).toEqual(['z', 'é'].map((name) => prefix + name));
      expect(page(rest[rest.length - 1], 4)).toEqual([]);
    });

    it('holds at most `limit` ids while scanning many streams', () => {
      const ids = Array.from({ length: 5000 }, (_, index) => `${prefix}${(5000 - index).toString().padStart(5, '0')}`);
      expect(page(undefined, 3, ids)).toEqual([`${prefix}00001`, `${prefix}00002`, `${prefix}00003`]);
    });
  });

  describe('appends are checked before any call', () => {
    const event = { id: 'e-1', type: 'T', schemaVersion: 1, data: {}, metadata: {} };

    it('refuses system stream names, empty and oversized batches, and repeated ids', () => {
      expect(() => assertAppendable('$credits', [event], 'any')).toThrow(RangeError);
      expect(() => assertAppendable(STREAM, [], 'any')).toThrow(RangeError);
      expect(() => assertAppendable(STREAM, [event, event], 'any')).toThrow(RangeError);
      expect(() => assertAppendable(STREAM, [event], 'any')).not.toThrow();
    });
  });

  it('reports the version of a stream KurrentDB says does not exist as 0', () => {
    expect(actualVersionOf(NO_STREAM)).toBe(0);
    expect(actualVersionOf(-1n)).toBe(0);
    expect(actualVersionOf(4n)).toBe(5);
  });
});
