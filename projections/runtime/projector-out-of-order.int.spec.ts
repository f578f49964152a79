import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { creditsStreamId } from '@libs/credits';
import { type AppendResult, type EventStore, type SqlDriver, appendInTransaction } from '@libs/event-store';
import { describeOnPostgres } from '../../test/support/test-stores';
import { balanceProjection } from '../balance/balance.projection';
import { findBalance } from '../balance/balance.queries';
import { catchUp } from './catch-up';
import { readCheckpoint } from './checkpoints';
import { projectionLag } from './projection-lag';
import { type ReadModelDatabase, bonusToAppend, openReadModelDatabase } from '../../test/support/read-model-database';

/**
 * An append that commits after a later-numbered one: only a server with
 * concurrent sessions can produce it (PGlite runs one transaction at a time).
 */

describeOnPostgres('the projector when appends commit out of order, on PostgreSQL', () => {
  let database: ReadModelDatabase;
  let store: EventStore;
  let driver: SqlDriver;

  beforeEach(async () => {
    database = await openReadModelDatabase('postgres');
    ({ store, driver } = database);
  });

  afterEach(() => database?.close());

  it('does not move past an append still in flight, and applies it once it commits', async () => {
    let commit!: () => void;
    let appendedHeld!: (result: AppendResult) => void;
    const held = new Promise<AppendResult>((resolve) => (appendedHeld = resolve));
    const slowUser = `slow-${randomUUID()}`;
    const committed = driver.transaction(async (tx) => {
      appendedHeld(await appendInTransaction(tx, creditsStreamId(slowUser), [bonusToAppend(7)], 'no_stream'));
      await new Promise<void>((resolve) => (commit = resolve));
    });
    const slow = await held;
    const fastUser = `fast-${randomUUID()}`;
    const fast = await store.appendToStream(creditsStreamId(fastUser), [bonusToAppend(5)], {
      expectedVersion: 'no_stream',
    });
    expect(BigInt(fast.lastGlobalPosition)).toBeGreaterThan(BigInt(slow.lastGlobalPosition));

    await catchUp(driver, store, balanceProjection, { batchSize: 10 });
    expect((await readCheckpoint(driver, 'balance')).position).toBeUndefined();
    expect(await findBalance(driver, fastUser)).toBeUndefined();
    // The committed fast append is held back, and counts as lag, in events and in seconds.
    await sleep(20);
    const lag = await projectionLag(driver, store, 'balance');
    expect(lag.lagEvents).toBe(1);
    expect(lag.lagSeconds).toBeGreaterThan(0);

    commit();
    await committed;
    await catchUp(driver, store, balanceProjection, { batchSize: 10 });

    expect((await findBalance(driver, slowUser))?.balance).toBe(7);
    expect((await findBalance(driver, fastUser))?.balance).toBe(5);
    expect(await store.hasPassed((await readCheckpoint(driver, 'balance')).position, slow.lastGlobalPosition)).toBe(
      true,
    );
  });
});
