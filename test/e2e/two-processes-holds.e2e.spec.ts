import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { describeOnPostgres } from '../support/test-stores';

/**
 * Two API instances on one PostgreSQL database, each with its own queue and state cache: 200 holds of one
 * credit race for 100 credits, round-robin over the instances. Only the store's version check stands between
 * them, so exactly 100 are placed and 100 refused; then 50 captured and 50 released (again over both
 * instances) leave exactly 50. PostgreSQL only: PGlite cannot be shared by two processes.
 */
const CLIENT_ATTEMPTS_MAX = 5;

describeOnPostgres('two API instances racing holds on one PostgreSQL database', () => {
  const instances: TestApp[] = [];
  let urls: string[];

  beforeAll(async () => {
    const first = await startTestApp('postgres');
    instances.push(first, await startTestApp('postgres', { shareDatabaseOf: first }));
    for (const instance of instances) await instance.app.listen(0, '127.0.0.1');
    urls = await Promise.all(instances.map((instance) => instance.app.getUrl()));
  });

  afterAll(async () => {
    // The first instance drops the database: it closes last.
    for (const instance of instances.splice(0).reverse()) await instance.close();
  });

  /** As a client does: a 503 (the retries inside lost every race) is sent again; the key makes that safe. */
  async function send(url: string, path: string, body: Record<string, unknown>): Promise<request.Response> {
    for (let attempt = 1; ; attempt++) {
      const response = await request(url).post(path).set('Authorization', bearer('consume')).send(body);
      if (response.status !== 503 || attempt === CLIENT_ATTEMPTS_MAX) return response;
      await sleep(50 * attempt);
    }
  }

  it('places exactly 100 of 200 holds of one credit on 100 credits; 50 captured and 50 released leave 50', async () => {
    const userId = `racing-holds-${randomUUID()}`;
    await request(urls[0])
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', `grant-${userId}`)
      .send({ amount: 100, reason: 'test' })
      .expect(201);

    const placed = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        send(urls[index % urls.length], `/v1/users/${userId}/holds`, {
          feature: 'video_generation',
          reference: `job-${index}`,
          amount: 1,
        }),
      ),
    );
    const statuses = placed.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(100);
    expect(statuses.filter((status) => status === 402)).toHaveLength(100);

    const holdIds = placed.filter((response) => response.status === 201).map((response) => response.body.holdId);
    const ended = await Promise.all(
      holdIds.map((holdId: string, index) =>
        send(
          urls[(index + 1) % urls.length],
          `/v1/users/${userId}/holds/${holdId}/${index < 50 ? 'capture' : 'release'}`,
          {},
        ),
      ),
    );
    expect(ended.map((response) => response.status)).toEqual(holdIds.map(() => 201));

    await projectionsCaughtUp(instances[0].app);
    const balance = await request(urls[1]).get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read'));
    expect(balance.body).toMatchObject({ balance: 50, heldCredits: 0, spendable: 50 });
    const events = await request(urls[0])
      .get(`/v1/users/${userId}/events?limit=1000`)
      .set('Authorization', bearer('audit'))
      .expect(200);
    const counts = new Map<string, number>();
    for (const { type } of events.body.events as Array<{ type: string }>) counts.set(type, (counts.get(type) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({
      BonusGranted: 1,
      CreditsHeld: 100,
      HoldCaptured: 50,
      HoldReleased: 50,
    });
  });
});
