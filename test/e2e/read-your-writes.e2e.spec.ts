import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { type TestApp, bearer, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

describe.each(storeKindsUnderTest())('reading one’s own writes on %s', (kind) => {
  describe('with the projector in the process (ROLE=all)', () => {
    let testApp: TestApp;
    beforeAll(async () => {
      testApp = await startTestApp(kind);
    });
    afterAll(() => testApp?.close());
    const http = () => request(testApp.app.getHttpServer());

    it('a balance query with the position of a consume, sent at once, always sees that consume', async () => {
      const userId = `user-${randomUUID()}`;
      await grantWelcome(testApp, userId, 100);

      for (let index = 0; index < 40; index++) {
        const consumed = await http()
          .post(`/v1/users/${userId}/consumptions`)
          .set('Authorization', bearer('consume'))
          .send({ feature: 'face_swap', reference: `upload-${index}` })
          .expect(201);
        const byQuery = index % 2 === 0;
        const read = http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read'));
        const balance = await (
          byQuery
            ? read.query({ minPosition: consumed.body.position })
            : read.set('X-Min-Position', consumed.body.position)
        ).expect(200);

        expect(balance.body).toMatchObject({ balance: consumed.body.balance, version: consumed.body.version });
      }
    });

    it('sees a write in the ledger too', async () => {
      const userId = `user-${randomUUID()}`;
      const granted = await grantWelcome(testApp, userId, 10);

      const ledger = await http()
        .get(`/v1/users/${userId}/ledger`)
        .query({ minPosition: granted.body.position })
        .set('Authorization', bearer('read'))
        .expect(200);

      expect(ledger.body.entries).toEqual([
        expect.objectContaining({ version: 1, eventType: 'BonusGranted', delta: 10, balanceAfter: 10 }),
      ]);
    });

    it.each([
      ['not a number', 'abc', 400, '/problems/invalid-position'],
      ['a position no event holds', '999999999', 400, '/problems/unknown-position'],
      ['one above the largest 64-bit position', '9223372036854775808', 400, '/problems/unknown-position'],
      ['of 19 nines, far above it', '9999999999999999999', 400, '/problems/unknown-position'],
    ])('refuses a minPosition that is %s', async (_, minPosition, status, type) => {
      const response = await http()
        .get(`/v1/users/u/balance`)
        .query({ minPosition })
        .set('Authorization', bearer('read'));

      expect(response.status).toBe(status);
      expect(response.body.type).toBe(type);
    });
  });

  describe('without a projector (ROLE=api, none running elsewhere)', () => {
    let testApp: TestApp;
    beforeAll(async () => {
      testApp = await startTestApp(kind, { config: { role: 'api', readYourWritesTimeoutMs: 200 } });
    });
    afterAll(() => testApp?.close());
    const http = () => request(testApp.app.getHttpServer());

    it('answers 503 projection-behind with the lag after the bound, never the stale balance', async () => {
      const userId = `user-${randomUUID()}`;
      const granted = await grantWelcome(testApp, userId, 10);

      const response = await http()
        .get(`/v1/users/${userId}/balance`)
        .query({ minPosition: granted.body.position })
        .set('Authorization', bearer('read'));

      expect(response.status).toBe(503);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({
        type: '/problems/projection-behind',
        projection: 'balance',
        lagEvents: 1,
      });
    });
  });
});

/** A welcome bonus, as the first write of a user; answers the command's response. */
function grantWelcome(testApp: TestApp, userId: string, amount: number) {
  return request(testApp.app.getHttpServer())
    .post(`/v1/users/${userId}/bonuses`)
    .set('Authorization', bearer('grant'))
    .set('Idempotency-Key', 'welcome')
    .send({ amount, reason: 'welcome' })
    .expect(201);
}
