import { randomUUID } from 'node:crypto';
import { creditsStreamId } from '@libs/credits';
import { type EventStore, type ReadAllOptions, type RecordedEvent, type SqlDriver } from '@libs/event-store';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { balanceProjection } from '../balance/balance.projection';
import { findBalance } from '../balance/balance.queries';
import { catchUp } from './catch-up';
import { readCheckpoint } from './checkpoints';
import { rebuildProjection } from './rebuild';
import { type ReadModelDatabase, bonusToAppend, openReadModelDatabase } from '../../test/support/read-model-database';

/**
 * The store, except that once a reader reaches the end of the feed, `meanwhile`
 * runs first: the moment a live projector gets ahead of a rebuild about to swap.
 */
function withInterlude(store: EventStore, meanwhile: () => Promise<void>): EventStore {
  let done = false;
  async function* readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    let count = 0;
    for await (const event of store.readAll(options)) {
      count++;
      yield event;
    }
    if (!done && count < (options.batchSize ?? 1000)) {
      done = true;
      await meanwhile();
    }
  }
  return Object.assign(Object.create(store) as EventStore, { readAll });
}

describe.each(storeKindsUnderTest())('rebuild swap on %s', (kind) => {
  let database: ReadModelDatabase;
  let store: EventStore;
  let driver: SqlDriver;

  beforeEach(async () => {
    database = await openReadModelDatabase(kind);
    ({ store, driver } = database);
  });

  afterEach(() => database?.close());

  it('never moves the live checkpoint back when the live projector got ahead of the rebuild', async () => {
    const userId = `user-${randomUUID()}`;
    const streamId = creditsStreamId(userId);
    await store.appendToStream(streamId, [bonusToAppend(10), bonusToAppend(10)], { expectedVersion: 'no_stream' });
    await catchUp(driver, store, balanceProjection, { batchSize: 10 });
    let liveBeforeSwap: string | undefined;
    const racing = withInterlude(store, async () => {
      await store.appendToStream(streamId, [bonusToAppend(5)], { expectedVersion: 'any' });
      await catchUp(driver, store, balanceProjection, { batchSize: 10 });
      liveBeforeSwap = (await readCheckpoint(driver, 'balance')).position;
    });

    await rebuildProjection(driver, racing, balanceProjection, { batchSize: 10 });

    const liveAfterSwap = (await readCheckpoint(driver, 'balance')).position;
    expect(await store.hasPassed(liveAfterSwap, liveBeforeSwap!)).toBe(true);
    expect(await findBalance(driver, userId)).toMatchObject({ balance: 25, version: 3 });
  });
});
