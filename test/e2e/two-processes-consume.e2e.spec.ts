import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { describeOnPostgres } from '../support/test-stores';

/**
 * Two API instances, each with its own connection pool and in-process queue,
 * on one PostgreSQL database: what two API processes share is the database
 * alone, so only the store's version check keeps them correct.
 * PGlite is embedded in one process and cannot be shared: PostgreSQL only
 * (it always runs in CI, where DATABASE_URL is required).
 */

describeOnPostgres('two API instances sharing one PostgreSQL database', () => {
  let first: TestApp;
  let second: TestApp;
  let urls: string[];

  beforeAll(async () => {
    first = await startTestApp('postgres');
    second = await startTestApp('postgres', { shareDatabaseOf: first });
    await first.app.listen(0, '127.0.0.1');
    await second.app.listen(0, '127.0.0.1');
    urls = [await first.app.getUrl(), await second.app.getUrl()];
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
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
    return Promise.all(
      references.map((reference, index) =>
        request(urls[index % 2])
          .post(`/v1/users/${userId}/consumptions`)
          .set('Authorization', bearer('consume'))
          .send({ feature: 'face_swap', reference }),
      ),
    );
  }

  async function eventsOf(userId: string): Promise<Array<{ type: string }>> {
    const response = await request(urls[1])
      .get(`/v1/users/${userId}/events?limit=1000`)
      .set('Authorization', bearer('audit'))
      .expect(200);
    return response.body.events;
  }

  async function balanceOf(userId: string): Promise<number> {
    await projectionsCaughtUp(first.app);
    const response = await request(urls[0])
      .get(`/v1/users/${userId}/balance`)
      .set('Authorization', bearer('read'))
      .expect(200);
    return response.body.balance;
  }

  it('spends exactly the 100 credits of 200 simultaneous consumes, and refuses the other 100', async () => {
    const userId = `user-${randomUUID()}`;
    await grant(userId, 100);

    const responses = await consumeAtOnce(
      userId,
      Array.from({ length: 200 }, (_, index) => `upload-${index}`),
    );

    const statuses = responses.map((response) => response.status);
    // Named first, so that a 503 (every retry lost the race: a starved writer) shows its body.
    expect(responses.filter((response) => ![201, 402].includes(response.status)).map((r) => r.body)).toEqual([]);
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
