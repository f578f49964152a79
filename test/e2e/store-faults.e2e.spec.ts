import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import request, { type Response } from 'supertest';
import { type TestApp, bearer, grantBonus, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { describeOnPostgres, postgresUrlUnderTest } from '../support/test-stores';

/**
 * The API while PostgreSQL drops its connections under load (every session of
 * the test database ended by `pg_terminate_backend`, three times, as a
 * failover or a restart does): a client must be able to tell a passing fault
 * from a bug. Each answer is a success or a 503 `store-unavailable` with
 * Retry-After, never a 500; a retry with the same idempotency key applies the
 * consume at most once; nothing acknowledged is lost.
 */
const USERS = 10;
const CONSUMES = 300;
const IN_FLIGHT = 24;
const CREDITS_EACH = 100;

describeOnPostgres('the API while PostgreSQL terminates its connections', () => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp('postgres');
  });
  afterAll(() => testApp?.close());

  const http = () => request(testApp.app.getHttpServer());

  function databaseName(): string {
    const location = testApp.config.eventStore;
    if (location.kind !== 'postgres') throw new Error('expected a PostgreSQL test app');
    return new URL(location.connectionString).pathname.slice(1);
  }

  const consume = (userId: string, reference: string) =>
    http()
      .post(`/v1/users/${userId}/consumptions`)
      .set('Authorization', bearer('consume'))
      .send({ feature: 'face_swap', reference });

  it('answers each request with its outcome or 503 store-unavailable, and a retry applies it once', async () => {
    const users = Array.from({ length: USERS }, () => `user-${randomUUID()}`);
    for (const userId of users) await grantBonus(testApp, userId, CREDITS_EACH);
    const requests = Array.from({ length: CONSUMES }, (_, index) => ({
      userId: users[index % USERS],
      reference: `upload-${index}`,
    }));

    const answers: Response[] = [];
    const faults = terminateSessionsWhileRunning(databaseName(), 3);
    await inBatches(requests, IN_FLIGHT, async ({ userId, reference }) => {
      answers.push(await consume(userId, reference));
    });
    const terminated = await faults.stop();

    expect(terminated).toBeGreaterThan(0);
    const unexpected = answers.filter((answer) => answer.status !== 201 && answer.status !== 503);
    expect(unexpected.map((answer) => [answer.status, answer.body])).toEqual([]);
    for (const answer of answers.filter((one) => one.status === 503)) {
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.headers['retry-after']).toBe('1');
      expect(['/problems/store-unavailable', '/problems/concurrency-conflict']).toContain(answer.body.type);
    }

    // Every request sent again until it has an answer: the first outcome, or the consume it never got to.
    for (const { userId, reference } of requests) {
      let answer = await consume(userId, reference);
      while (answer.status === 503) {
        await sleep(50);
        answer = await consume(userId, reference);
      }
      expect([200, 201]).toContain(answer.status);
    }
    await projectionsCaughtUp(testApp.app);
    for (const userId of users) {
      const balance = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);
      expect(balance.body.balance).toBe(CREDITS_EACH - CONSUMES / USERS);
    }
  });
});

async function inBatches<T>(items: readonly T[], inFlight: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Ends every session of the database `rounds` times, spread over the load; `stop` says how many it ended. */
function terminateSessionsWhileRunning(database: string, rounds: number) {
  let stopped = false;
  const running = (async () => {
    const admin = new Client({ connectionString: postgresUrlUnderTest() });
    await admin.connect();
    let terminated = 0;
    try {
      for (let round = 0; round < rounds && !stopped; round++) {
        await sleep(150);
        const { rows } = await admin.query<{ ended: boolean }>(
          'select pg_terminate_backend(pid) as ended from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [database],
        );
        terminated += rows.filter((row) => row.ended).length;
      }
    } finally {
      await admin.end();
    }
    return terminated;
  })();
  return {
    stop: async () => {
      stopped = true;
      return running;
    },
  };
}
