import { setTimeout as sleep } from 'node:timers/promises';
import { type EventStore, type SqlDriver } from '@libs/event-store';
import { PROJECTIONS, ledgerEntryCounts, projectionLag } from '@projections';
import { foldEveryStream, writeHistory } from '../support/credits-history';
import { exited, startProjectorProcess } from '../support/projector-process';
import { describeOnPostgres } from '../support/test-stores';
import { type ReadModelDatabase, openReadModelDatabase } from '../support/read-model-database';

/**
 * Real projector processes (`ROLE=projector`) on PostgreSQL: killed at random
 * while catching up, and started twice at once. PGlite has one process per
 * data directory, so neither case exists there (it always runs in CI).
 */

describeOnPostgres('projector processes on PostgreSQL', () => {
  let database: ReadModelDatabase;
  let store: EventStore;
  let driver: SqlDriver;

  beforeEach(async () => {
    database = await openReadModelDatabase('postgres');
    ({ store, driver } = database);
  });

  afterEach(() => database?.close());

  async function lagEvents(): Promise<number> {
    const lags = await Promise.all(PROJECTIONS.map(({ name }) => projectionLag(driver, store, name)));
    return Math.max(...lags.map((lag) => lag.lagEvents));
  }

  async function expectReadModelToEqualTheFold(): Promise<void> {
    const folded = await foldEveryStream(store);
    const balances = await driver.query<{ user_id: string; balance: string; version: number }>(
      'select user_id, balance::text as balance, version from balances',
    );
    expect(
      new Map(balances.map((row) => [row.user_id, { balance: Number(row.balance), version: row.version }])),
    ).toEqual(
      new Map([...folded].map(([userId, state]) => [userId, { balance: state.balance, version: state.version }])),
    );
    expect(await ledgerEntryCounts(driver)).toEqual(
      new Map([...folded].map(([userId, state]) => [userId, state.version])),
    );
    const [recharges] = await driver.query<{ count: number }>('select count(*)::int as count from recharges');
    expect(recharges.count).toBe(folded.size);
  }

  it('killed with SIGKILL at random points while catching up on 20,000 events, applies each exactly once', async () => {
    await writeHistory(store, { users: 500, eventsPerUser: 40 });
    let kills = 0;
    while ((await lagEvents()) > 0 && kills < 40) {
      const projector = startProjectorProcess(database.url!, { PROJECTOR_BATCH_SIZE: '200' });
      await sleep(300 + Math.random() * 1200);
      projector.kill('SIGKILL');
      await exited(projector);
      kills++;
    }
    // Whatever the kills left undone, one last run finishes it.
    const last = startProjectorProcess(database.url!);
    while ((await lagEvents()) > 0) await sleep(50);
    last.kill('SIGTERM');
    await exited(last);

    expect(kills).toBeGreaterThan(0);
    await expectReadModelToEqualTheFold();
  }, 180_000);

  it('started twice at once, applies every event exactly once', async () => {
    await writeHistory(store, { users: 200, eventsPerUser: 25 });
    const projectors = [startProjectorProcess(database.url!), startProjectorProcess(database.url!)];
    const deadline = Date.now() + 60_000;
    while ((await lagEvents()) > 0 && Date.now() < deadline) await sleep(50);
    expect(projectors.every((projector) => projector.exitCode === null)).toBe(true);
    await writeHistory(store, { users: 50, eventsPerUser: 10 });
    while ((await lagEvents()) > 0 && Date.now() < deadline) await sleep(50);
    for (const projector of projectors) projector.kill('SIGTERM');
    await Promise.all(projectors.map(exited));

    await expectReadModelToEqualTheFold();
  }, 120_000);
});
