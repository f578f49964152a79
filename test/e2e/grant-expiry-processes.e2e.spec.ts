import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type WrittenGrant, expiriesByGrant, writeBonus } from '../support/expiring-grants';
import { exited, startProjectorProcess } from '../support/projector-process';
import { type ReadModelDatabase, openReadModelDatabase } from '../support/read-model-database';
import { describeOnPostgres } from '../support/test-stores';

/**
 * The expiry process in real projector processes (`ROLE=projector`) on PostgreSQL: two at once, one killed with
 * SIGKILL at random points, and grants falling due while none runs. Every grant due expires exactly once; none
 * expires before its time. PGlite has one process per data directory, so these cases do not exist there.
 */
const EXPIRY_ENV = { GRANT_EXPIRY_INTERVAL_MS: '20', GRANT_EXPIRY_BATCH_SIZE: '25' };

describeOnPostgres('grant expiry in projector processes on PostgreSQL', () => {
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

  /** Grants already past their expiry (decided a few seconds ago, expiring one second later). */
  function writeDue(count: number): Promise<WrittenGrant[]> {
    const decidedAt = new Date(Date.now() - 5_000);
    return Promise.all(
      Array.from({ length: count }, (_, index) =>
        writeBonus(database.store, `due-${index}-${randomUUID()}`, {
          amount: 10,
          spend: 2,
          decidedAt,
          expiresIn: 'PT1S',
        }),
      ),
    );
  }

  async function allExpired(grants: readonly WrittenGrant[], timeoutMs: number): Promise<Map<string, number>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const expiries = await expiriesByGrant(database.store);
      if (grants.every((grant) => expiries.has(grant.grantId)) || Date.now() > deadline) return expiries;
      await sleep(100);
    }
  }

  it('two processes, one killed with SIGKILL at random points, expire every grant due exactly once and none early', async () => {
    const due = await writeDue(300);
    const later = await writeBonus(database.store, `later-${randomUUID()}`, {
      amount: 5,
      decidedAt: new Date(),
      expiresIn: 'PT1H',
    });
    const steady = startProjector();
    let kills = 0;
    for (let round = 0; round < 6; round++) {
      const victim = startProjector();
      await sleep(200 + Math.random() * 600);
      victim.kill('SIGKILL');
      await exited(victim);
      kills++;
    }

    const expiries = await allExpired(due, 60_000);
    steady.kill('SIGTERM');
    await exited(steady);

    expect(kills).toBe(6);
    expect(due.filter((grant) => expiries.get(grant.grantId) !== 1)).toEqual([]);
    expect(expiries.has(later.grantId)).toBe(false);
    expect([...expiries.values()].every((count) => count === 1)).toBe(true);
  }, 120_000);

  it('expires the grants that fell due while no process ran, once one starts again', async () => {
    const first = startProjector();
    await sleep(500);
    first.kill('SIGKILL');
    await exited(first);
    const dueWhileDown = await writeDue(20);

    startProjector();
    const expiries = await allExpired(dueWhileDown, 30_000);

    expect(dueWhileDown.map((grant) => expiries.get(grant.grantId))).toEqual(dueWhileDown.map(() => 1));
  }, 60_000);
});
