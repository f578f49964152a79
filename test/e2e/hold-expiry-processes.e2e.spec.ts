import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expiriesByHold, foldOf, writeHold } from '../support/expiring-grants';
import { exited, startProjectorProcess } from '../support/projector-process';
import { type ReadModelDatabase, openReadModelDatabase } from '../support/read-model-database';
import { describeOnPostgres } from '../support/test-stores';

/**
 * The expiry process releasing holds in real projector processes (`ROLE=projector`) on PostgreSQL: two at once,
 * one killed with SIGKILL at random points. Every hold past its expiry is released exactly once, its credits back;
 * a hold not due is left. PGlite has one process per data directory, so this case does not exist there.
 */
const EXPIRY_ENV = { GRANT_EXPIRY_INTERVAL_MS: '20', GRANT_EXPIRY_BATCH_SIZE: '25' };

describeOnPostgres('hold expiry in projector processes on PostgreSQL', () => {
  let database: ReadModelDatabase;
  const started: ChildProcess[] = [];

  beforeEach(async () => {
    database = await openReadModelDatabase('postgres');
  });

  afterEach(async () => {
    const running = started.splice(0).filter((child) => child.exitCode === null && child.signalCode === null);
    for (const child of running) child.kill('SIGKILL');
    await Promise.all(running.map(exited));
    await database?.close();
  });

  function startProjector(): ChildProcess {
    const child = startProjectorProcess(database.url!, EXPIRY_ENV);
    started.push(child);
    return child;
  }

  it('two processes, one killed with SIGKILL at random points, release every overdue hold exactly once', async () => {
    const decidedAt = new Date(Date.now() - 5_000);
    const due = await Promise.all(
      Array.from({ length: 150 }, (_, index) =>
        writeHold(database.store, `held-${index}-${randomUUID()}`, {
          amount: 10,
          held: 4,
          decidedAt,
          expiresIn: 'PT1S',
        }),
      ),
    );
    const later = await writeHold(database.store, `later-${randomUUID()}`, {
      amount: 10,
      held: 4,
      decidedAt: new Date(),
      expiresIn: 'PT1H',
    });
    const steady = startProjector();
    for (let round = 0; round < 5; round++) {
      const victim = startProjector();
      await sleep(200 + Math.random() * 600);
      victim.kill('SIGKILL');
      await exited(victim);
    }

    const deadline = Date.now() + 60_000;
    let expiries = await expiriesByHold(database.store);
    while (!due.every((hold) => expiries.has(hold.holdId)) && Date.now() < deadline) {
      await sleep(100);
      expiries = await expiriesByHold(database.store);
    }
    steady.kill('SIGTERM');
    await exited(steady);

    expect(due.filter((hold) => expiries.get(hold.holdId) !== 1)).toEqual([]);
    expect(expiries.has(later.holdId)).toBe(false);
    const state = await foldOf(database.store, due[0].userId);
    expect(state).toMatchObject({ balance: 10 });
    expect(state.grants.held).toBe(0);
    expect((await foldOf(database.store, later.userId)).grants.held).toBe(4);
  }, 120_000);
});
