import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { describeOnPostgres } from '../support/test-stores';

/**
 * Several API instances, each with its own connection pool, in-process queue
 * and state cache, on one PostgreSQL database: what API processes share is the
 * database alone, so only the store's version check keeps them correct.
 * Requests go round-robin over the instances, so every instance races every
 * other on the same stream. Two instances is the smallest case; four is the
 * contention of a small deployment.
 * PGlite is embedded in one process and cannot be shared: PostgreSQL only
 * (it always runs in CI, where DATABASE_URL is required).
 */

/** Times a client sends a request answered 503 before it gives up. */
const CLIENT_ATTEMPTS_MAX = 5;

describeOnPostgres.each([2, 4])('%i API instances sharing one PostgreSQL database', (instancesCount) => {
  const instances: TestApp[] = [];
  let urls: string[];
  let busyAnswers = 0;

  beforeAll(async () => {
    const first = await startTestApp('postgres');
    instances.push(first);
    while (instances.length < instancesCount) {
      instances.push(await startTestApp('postgres', { shareDatabaseOf: first }));
    }
    for (const instance of instances) await instance.app.listen(0, '127.0.0.1');
    urls = await Promise.all(instances.map((instance) => instance.app.getUrl()));
  });

  afterAll(async () => {
    if (busyAnswers > 0) console.log(`${instancesCount} instances: ${busyAnswers} requests answered 503, sent again`);
    // The first instance drops the database: it closes last.
    for (const instance of instances.splice(0).reverse()) await instance.close();
  });

  async function grant(userId: string, amount: number): Promise<void> {
    await request(urls[0])
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', `grant-${userId}`)
      .send({ amount, reason: 'test' })
      .expect(201);
  }

  function consumeAtOnce(userId: string, references: string[]): Promise<request.Response[]> {
    return Promise.all(references.map((reference, index) => consume(urls[index % urls.length], userId, reference)));
  }

  /**
   * As a client does: a 503 (every retry inside lost the race for this user's
   * stream, which a machine far overloaded can make happen) is sent again, as
   * its body says; the reference makes that safe. Counted, and printed.
   */
  async function consume(url: string, userId: string, reference: string): Promise<request.Response> {
    for (let attempt = 1; ; attempt++) {
      const response = await request(url)
        .post(`/v1/users/${userId}/consumptions`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'face_swap', reference });
      if (response.status !== 503 || attempt === CLIENT_ATTEMPTS_MAX) return response;
      busyAnswers++;
      await sleep(50 * attempt);
    }
  }

  async function eventsOf(userId: string): Promise<Array<{ type: string }>> {
    const response = await request(urls[urls.length - 1])
      .get(`/v1/users/${userId}/events?limit=1000`)
      .set('Authorization', bearer('audit'))
      .expect(200);
    return response.body.events;
  }

  async function balanceOf(userId: string): Promise<number> {
    await projectionsCaughtUp(instances[0].app);
    const response = await request(urls[0])
      .get(`/v1/users/${userId}/balance`)
      .set('Authorization', bearer('read'))
      .expect(200);
    return response.body.balance;
  }

  /** Anything but the expected statuses, with its body: a 503 (every retry lost the race) says how many attempts. */
  function unexpected(responses: request.Response[], statuses: number[]): unknown[] {
    return responses
      .filter((response) => !statuses.includes(response.status))
      .map((response) => ({ status: response.status, body: response.body }));
  }

  it('spends exactly the 100 credits of 200 simultaneous consumes, and refuses the other 100', async () => {
    const userId = `user-${randomUUID()}`;
    await grant(userId, 100);

    const responses = await consumeAtOnce(
      userId,
      Array.from({ length: 200 }, (_, index) => `upload-${index}`),
    );

    const statuses = responses.map((response) => response.status);
    expect(unexpected(responses, [201, 402])).toEqual([]);
    expect(statuses.filter((status) => status === 201)).toHaveLength(100);
    expect(statuses.filter((status) => status === 402)).toHaveLength(100);
    expect(await balanceOf(userId)).toBe(0);
    const consumed = (await eventsOf(userId)).filter((event) => event.type === 'CreditsConsumed');
    expect(consumed).toHaveLength(100);
    const balancesReported = responses
      .filter((response) => response.status === 201)
      .map((response) => response.body.balance);
    expect(new Set(balancesReported).size).toBe(100);
  });

  it('records 20 consumes for 200 simultaneous requests with 20 distinct references sent 10 times each', async () => {
    const userId = `user-${randomUUID()}`;
    await grant(userId, 100);

    const references = Array.from({ length: 200 }, (_, index) => `upload-${index % 20}`);
    const responses = await consumeAtOnce(userId, references);

    const statuses = responses.map((response) => response.status);
    expect(unexpected(responses, [200, 201])).toEqual([]);
    expect(statuses.filter((status) => status === 201)).toHaveLength(20);
    expect(statuses.filter((status) => status === 200)).toHaveLength(180);
    expect(await balanceOf(userId)).toBe(80);
    const consumed = (await eventsOf(userId)).filter((event) => event.type === 'CreditsConsumed');
    expect(consumed).toHaveLength(20);
    const eventIdByReference = new Map<string, string>();
    responses.forEach((response, index) => {
      const known = eventIdByReference.get(references[index]) ?? response.body.eventId;
      expect(response.body.eventId).toBe(known);
      eventIdByReference.set(references[index], known);
    });
  });
});
