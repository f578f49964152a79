import { randomUUID } from 'node:crypto';
import { DuplicateEventIdError } from '../event-store.errors';
import type { EventStore, EventToAppend } from '../event-store.port';
import type { ExpectedVersion } from '../expected-version';
import { KurrentDbEventStore } from './kurrentdb-event-store';
import { KurrentDbModel } from './testing/kurrentdb-model';

/**
 * KurrentDB acknowledges an append whose event ids it already holds after the
 * expected revision (or, with `any`, in its cache of recent ids) as "already
 * committed", writing nothing: it compares ids only. The adapter trusts that
 * answer only when the stored events are the ones appended; another event
 * under the same id was not written, and is a DuplicateEventIdError.
 * KurrentDB replaced by an in-memory model of its client calls: no server can
 * run here.
 */
function anEvent(overrides: Partial<EventToAppend> = {}): EventToAppend {
  return {
    id: randomUUID(),
    type: 'CreditsConsumed',
    schemaVersion: 1,
    data: { amount: 8, feature: 'upscale', reference: 'r-1', metadata: {} },
    metadata: { idempotencyKey: 'K', payloadFingerprint: 'fp-1', occurredAt: '2026-11-28T00:00:00.000Z' },
    ...overrides,
  };
}

async function storedIn(store: EventStore, streamId: string) {
  const events = [];
  for await (const event of store.readStream(streamId)) events.push(event);
  return events;
}

describe('a retried append on KurrentDB (KurrentDB replaced by an in-memory model of its client calls: no server can run here)', () => {
  let store: KurrentDbEventStore;
  let streamId: string;
  let first: EventToAppend;

  beforeEach(async () => {
    store = new KurrentDbEventStore(new KurrentDbModel());
    streamId = `credits-${randomUUID()}`;
    await store.appendToStream(streamId, [anEvent({ type: 'BonusGranted', data: { amount: 10 } })], {
      expectedVersion: 'no_stream',
    });
    first = anEvent();
  });

  afterEach(() => store.close());

  describe.each<[string, ExpectedVersion]>([
    ['at the expected version it was first appended at', 1],
    ['with `any` (KurrentDB checks its cache of recent ids)', 'any'],
  ])('%s', (_, expectedVersion) => {
    it('model: is acknowledged with the versions and positions first stored when it repeats the events', async () => {
      const appended = await store.appendToStream(streamId, [first], { expectedVersion });

      expect(await store.appendToStream(streamId, [{ ...first }], { expectedVersion })).toEqual(appended);
      expect(await storedIn(store, streamId)).toHaveLength(2);
    });

    it.each<[string, Partial<EventToAppend>]>([
      ['in data (another amount)', { data: { amount: 1, feature: 'upscale', reference: 'r-1', metadata: {} } }],
      ['in type', { type: 'BonusGranted' }],
      ['in schema version', { schemaVersion: 2 }],
      [
        'in metadata (another payload fingerprint)',
        { metadata: { idempotencyKey: 'K', payloadFingerprint: 'fp-2', occurredAt: '2026-11-28T00:00:00.000Z' } },
      ],
    ])(
      'model: is refused with DuplicateEventIdError when the event differs %s, and nothing is written',
      async (_, change) => {
        await store.appendToStream(streamId, [first], { expectedVersion });

        const other = store.appendToStream(streamId, [{ ...first, ...change }], { expectedVersion });

        await expect(other).rejects.toThrow(DuplicateEventIdError);
        await expect(other).rejects.toMatchObject({ streamId, eventIds: [first.id] });
        const stored = await storedIn(store, streamId);
        expect(stored).toHaveLength(2);
        expect(stored[1]).toMatchObject({ id: first.id, type: first.type, data: first.data, metadata: first.metadata });
      },
    );

    it('model: is acknowledged when only when and why it was recorded differ (occurredAt, causedBy)', async () => {
      const appended = await store.appendToStream(streamId, [first], { expectedVersion });
      const later = {
        ...first,
        metadata: { ...first.metadata, occurredAt: '2026-11-28T00:05:00.000Z', causedBy: { stripeEventId: 'evt_2' } },
      };

      expect(await store.appendToStream(streamId, [later], { expectedVersion })).toEqual(appended);
    });

    it('model: compares content as stored JSON: key order and undefined fields do not count', async () => {
      const appended = await store.appendToStream(streamId, [first], { expectedVersion });
      const reordered = {
        ...first,
        data: { metadata: {}, reference: 'r-1', feature: 'upscale', amount: 8, dropped: undefined },
      };

      expect(await store.appendToStream(streamId, [reordered], { expectedVersion })).toEqual(appended);
    });
  });

  it('model: refuses a batch whose second event differs, naming every id of the batch', async () => {
    const second = anEvent({ metadata: { idempotencyKey: 'K2', payloadFingerprint: 'fp-3', occurredAt: 'x' } });
    await store.appendToStream(streamId, [first, second], { expectedVersion: 1 });

    const other = store.appendToStream(streamId, [first, { ...second, data: { amount: 2 } }], { expectedVersion: 1 });

    await expect(other).rejects.toMatchObject({ name: 'DuplicateEventIdError', eventIds: [first.id, second.id] });
    expect(await storedIn(store, streamId)).toHaveLength(3);
  });
});
