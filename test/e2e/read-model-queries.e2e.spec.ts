import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

describe.each(storeKindsUnderTest())('read-model queries on %s', (kind) => {
  let testApp: TestApp;
  beforeAll(async () => {
    testApp = await startTestApp(kind);
  });
  afterAll(() => testApp?.close());
  const http = () => request(testApp.app.getHttpServer());

  async function givenUserWithMovements(count: number): Promise<string> {
    const userId = `user-${randomUUID()}`;
    await http()
      .post(`/v1/users/${userId}/recharges`)
      .set('Authorization', bearer('admin'))
      .send({ rechargeId: `invoice-${randomUUID()}`, credits: 100, amountPaid: 999, currency: 'usd' })
      .expect(201);
    for (let index = 1; index < count; index++) {
      await http()
        .post(`/v1/users/${userId}/consumptions`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'face_swap', reference: `upload-${index}` })
        .expect(201);
    }
    await projectionsCaughtUp(testApp.app);
    return userId;
  }

  describe('GET /v1/users/{userId}/ledger', () => {
    it('pages the movements newest first, each with the balance after it, until nextCursor is null', async () => {
      const userId = await givenUserWithMovements(5);

      const versions: number[] = [];
      const balances: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await http()
          .get(`/v1/users/${userId}/ledger`)
          .query({ limit: 2, ...(cursor ? { cursor } : {}) })
          .set('Authorization', bearer('read'))
          .expect(200);
        expect(page.body.entries.length).toBeLessThanOrEqual(2);
        versions.push(...page.body.entries.map((entry: { version: number }) => entry.version));
        balances.push(...page.body.entries.map((entry: { balanceAfter: number }) => entry.balanceAfter));
        cursor = page.body.nextCursor ?? undefined;
      } while (cursor !== undefined);

      expect(versions).toEqual([5, 4, 3, 2, 1]);
      expect(balances).toEqual([96, 97, 98, 99, 100]);
    });

    it('keeps a page stable while new movements arrive', async () => {
      const userId = await givenUserWithMovements(3);
      const first = await http()
        .get(`/v1/users/${userId}/ledger?limit=2`)
        .set('Authorization', bearer('read'))
        .expect(200);
      await http()
        .post(`/v1/users/${userId}/consumptions`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'face_swap', reference: 'late' })
        .expect(201);
      await projectionsCaughtUp(testApp.app);

      const second = await http()
        .get(`/v1/users/${userId}/ledger`)
        .query({ limit: 2, cursor: first.body.nextCursor })
        .set('Authorization', bearer('read'))
        .expect(200);

      expect(second.body.entries.map((entry: { version: number }) => entry.version)).toEqual([1]);
    });

    it.each([
      ['it did not make', 'bm90LWEtY3Vyc29y'],
      ['beyond any version', Buffer.from('ledger-before-version:9999999999').toString('base64url')],
    ])('refuses a cursor %s with 400 invalid-cursor', async (_, cursor) => {
      const response = await http().get('/v1/users/u/ledger').query({ cursor }).set('Authorization', bearer('read'));

      expect(response.status).toBe(400);
      expect(response.body.type).toBe('/problems/invalid-cursor');
    });
  });

  describe('GET /v1/recharges', () => {
    it('lists a user’s recharges with their status, for the audit scope only', async () => {
      const userId = await givenUserWithMovements(1);

      const listed = await http()
        .get('/v1/recharges')
        .query({ userId, status: 'completed' })
        .set('Authorization', bearer('audit'))
        .expect(200);

      expect(listed.body).toEqual({
        recharges: [
          expect.objectContaining({ userId, credits: 100, amountPaid: 999, currency: 'usd', status: 'completed' }),
        ],
        nextCursor: null,
      });
      await http().get('/v1/recharges').set('Authorization', bearer('read')).expect(403);
    });

    it('refuses an unknown status with 400', async () => {
      const response = await http().get('/v1/recharges?status=lost').set('Authorization', bearer('audit'));

      expect(response.status).toBe(400);
    });
  });

  describe('projection lag', () => {
    it('is on /metrics and in /health/ready, per projection', async () => {
      await givenUserWithMovements(1);

      const metrics = await http().get('/metrics').expect(200);
      const ready = await http().get('/health/ready').expect(200);

      for (const projection of ['balance', 'ledger', 'recharges']) {
        expect(metrics.text).toContain(`credits_projection_lag_events{projection="${projection}"} 0`);
        expect(metrics.text).toContain(`credits_projection_lag_seconds{projection="${projection}"}`);
      }
      expect(ready.body.details.projections).toMatchObject({
        status: 'up',
        lag: expect.arrayContaining([expect.objectContaining({ projection: 'balance', lagEvents: 0 })]),
      });
    });
  });
});
