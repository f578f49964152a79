import { setTimeout as sleep } from 'node:timers/promises';
import { type EventStore, type SqlDriver } from '@libs/event-store';
import { foldEveryStream, writeHistory } from '../../test/support/credits-history';
import { describeOnPostgres } from '../../test/support/test-stores';
import { findBalance } from '../balance/balance.queries';
import { PROJECTIONS } from '../read-model';
import { projectionLag } from './projection-lag';
import { Projector } from './projector';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';

/** Advisory locks live on PostgreSQL sessions; PGlite has one process and no sessions to lose. */

describeOnPostgres('projector locks on PostgreSQL', () => {
  let database: ReadModelDatabase;
  let store: EventStore;
  let driver: SqlDriver;
  const projectors: Projector[] = [];

  beforeEach(async () => {
    database = await openReadModelDatabase('postgres');
    ({ store, driver } = database);
  });

  afterEach(async () => {
    await Promise.all(projectors.splice(0).map((projector) => projector.stop()));
    await database?.close();
  });

  function startProjector(): Projector {
    const projector = new Projector(driver, store, PROJECTIONS, {
      batchSize: 50,
      idlePollMs: 20,
      lockRetryMs: 20,
      log: { error: () => undefined },
    });
    projector.start();
    projectors.push(projector);
    return projector;
  }

  async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  const activeCount = (name: string) =>
    projectors.flatMap((projector) => projector.status()).filter((p) => p.projection === name && p.active).length;

  it('when the holder’s lock connection dies, notices it, and exactly one instance applies each projection', async () => {
    const first = startProjector();
    await until(() => first.status().every((progress) => progress.active), 'the first instance to take every lock');
    startProjector();

    await driver.query(
      `select pg_terminate_backend(l.pid) from pg_locks l
       where l.locktype = 'advisory' and l.database = (select oid from pg_database where datname = current_database())`,
    );
    // Even with nothing to apply, the instance that lost its session must stop calling itself active.
    await until(() => PROJECTIONS.every(({ name }) => activeCount(name) === 1), 'one active instance per projection');
    await sleep(200);
    for (const { name } of PROJECTIONS) expect(activeCount(name)).toBe(1);
    await writeHistory(store, { users: 30, eventsPerUser: 10 });

    await until(async () => {
      const lags = await Promise.all(PROJECTIONS.map(({ name }) => projectionLag(driver, store, name)));
      return lags.every((lag) => lag.lagEvents === 0);
    }, 'the projections to catch up');
    await sleep(100);
    for (const { name } of PROJECTIONS) expect(activeCount(name)).toBe(1);
    for (const [userId, state] of await foldEveryStream(store)) {
      expect(await findBalance(driver, userId)).toMatchObject({ balance: state.balance, version: state.version });
    }
  });
});
