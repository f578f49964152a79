import { type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EventStore, type SqlDriver } from '@libs/event-store';
import { loadConfig } from '@libs/config';
import { feedFollowers, ledgerEntryCounts, projectionLag } from '@projections';
import { foldEveryStream, writeHistory } from '../support/credits-history';
import { exited, startProjectorProcess } from '../support/projector-process';
import { describeOnPostgres } from '../support/test-stores';
import { type ReadModelDatabase, openReadModelDatabase } from '../support/read-model-database';

/**
 * Real projector processes (`ROLE=projector`) on PostgreSQL: killed at random
 * while catching up, started twice at once, and an active one killed while a
 * standby waits. PGlite has one process per data directory, so none of these
 * cases exists there (it always runs in CI).
 */

/** How long a standby may take to hold a dead instance's locks (it retries every 50 ms here). */
const TAKEOVER_MS_MAX = 5_000;

/** What a projector process follows the feed with, each behind its own lock: the projections and the webhook outbox. */
const FOLLOWERS = feedFollowers(loadConfig({}).projector.balanceAlerts);

describeOnPostgres('projector processes on PostgreSQL', () => {
  let database: ReadModelDatabase;
  let store: EventStore;
  let driver: SqlDriver;
  /** Every process a test starts: one a failed test left running is killed, or Jest would wait for it. */
  const started: ChildProcess[] = [];

  beforeEach(async () => {
    database = await openReadModelDatabase('postgres');
    ({ store, driver } = database);
  });

  afterEach(async () => {
    const running = started
      .splice(0)
      .filter((projector) => projector.exitCode === null && projector.signalCode === null);
    for (const projector of running) projector.kill('SIGKILL');
    await Promise.all(running.map(exited));
    await database?.close();
  });

  function startProjector(env: Record<string, string> = {}): ChildProcess {
    const projector = startProjectorProcess(database.url!, env);
    started.push(projector);
    return projector;
  }

  async function lagEvents(): Promise<number> {
    const lags = await Promise.all(FOLLOWERS.map(({ name }) => projectionLag(driver, store, name)));
    return Math.max(...lags.map((lag) => lag.lagEvents));
  }

  async function until(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(20);
    }
  }

  /**
   * The database session holding each projection's advisory lock (the
   * projector's `credits-ledger:projection:<name>`, a bigint key: its low 32
   * bits are the objid), by projection; absent when nobody holds it.
   */
  async function lockHolders(): Promise<Map<string, number>> {
    const rows = await driver.query<{ projection: string; pid: number }>(
      `select p.name as projection, l.pid from pg_locks l
       join unnest($1::text[]) as p(name)
         on l.objid::bigint = hashtext('credits-ledger:projection:' || p.name)::bigint & 4294967295
       where l.locktype = 'advisory' and l.objsubid = 1 and l.granted
         and l.database = (select oid from pg_database where datname = current_database())`,
      [FOLLOWERS.map(({ name }) => name)],
    );
    return new Map(rows.map((row) => [row.projection, row.pid]));
  }

  /** Sessions, other than `holders`, whose last query tried a lock: a standby's, refused while the holder lives. */
  async function sessionsRefusedALock(holders: Set<number>): Promise<number> {
    const rows = await driver.query<{ pid: number }>(
      `select pid from pg_stat_activity
       where datname = current_database() and query like 'select pg_try_advisory_lock%'`,
    );
    return rows.filter((row) => !holders.has(row.pid)).length;
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
      const projector = startProjector({ PROJECTOR_BATCH_SIZE: '200' });
      await sleep(300 + Math.random() * 1200);
      projector.kill('SIGKILL');
      await exited(projector);
      kills++;
    }
    // Whatever the kills left undone, one last run finishes it.
    const last = startProjector();
    while ((await lagEvents()) > 0) await sleep(50);
    last.kill('SIGTERM');
    await exited(last);

    expect(kills).toBeGreaterThan(0);
    await expectReadModelToEqualTheFold();
  }, 180_000);

  it('started twice at once, applies every event exactly once', async () => {
    await writeHistory(store, { users: 200, eventsPerUser: 25 });
    const projectors = [startProjector(), startProjector()];
    const deadline = Date.now() + 60_000;
    while ((await lagEvents()) > 0 && Date.now() < deadline) await sleep(50);
    expect(projectors.every((projector) => projector.exitCode === null)).toBe(true);
    await writeHistory(store, { users: 50, eventsPerUser: 10 });
    while ((await lagEvents()) > 0 && Date.now() < deadline) await sleep(50);
    for (const projector of projectors) projector.kill('SIGTERM');
    await Promise.all(projectors.map(exited));

    await expectReadModelToEqualTheFold();
  }, 120_000);

  it('when the active instance is killed with SIGKILL mid catch-up, the standby takes every projection over within 5 s and applies each event exactly once', async () => {
    await writeHistory(store, { users: 500, eventsPerUser: 40 });
    const small = { PROJECTOR_BATCH_SIZE: '100' };
    const active = startProjector(small);
    await until(
      async () => (await lockHolders()).size === FOLLOWERS.length,
      'the first instance to lock every projection',
      20_000,
    );
    const activeSessions = new Set((await lockHolders()).values());
    const standby = startProjector(small);
    await until(
      async () => (await sessionsRefusedALock(activeSessions)) === FOLLOWERS.length,
      'the standby to try every lock',
      20_000,
    );
    expect([...(await lockHolders()).values()].every((pid) => activeSessions.has(pid))).toBe(true);

    active.kill('SIGKILL');
    const killedAt = Date.now();
    await exited(active);
    expect(await lagEvents()).toBeGreaterThan(0);
    // Events keep coming while the standby takes over.
    const appendedDuringTakeover = writeHistory(store, { users: 50, eventsPerUser: 10 });
    await until(
      async () => {
        const holders = await lockHolders();
        return holders.size === FOLLOWERS.length && [...holders.values()].every((pid) => !activeSessions.has(pid));
      },
      'the standby to lock every projection',
      TAKEOVER_MS_MAX,
    );
    const takeoverMs = Date.now() - killedAt;
    await appendedDuringTakeover;
    await until(async () => (await lagEvents()) === 0, 'the standby to catch up', 30_000);

    expect(takeoverMs).toBeLessThan(TAKEOVER_MS_MAX);
    expect(standby.exitCode).toBeNull();
    standby.kill('SIGTERM');
    await exited(standby);
    await expectReadModelToEqualTheFold();
  }, 60_000);
});
