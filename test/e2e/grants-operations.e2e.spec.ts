import { randomUUID } from 'node:crypto';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import { loadConfig } from '@libs/config';
import request from 'supertest';
import { writeBonus } from '../support/expiring-grants';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Grants as the README tells them and as operators watch them: the worked example of the README (a monthly
 * allowance, a welcome bonus, a pack), and the expiry process's lag on /metrics and /health/ready.
 */
describe.each(storeKindsUnderTest())('grants in operation on %s', (kind) => {
  let testApp: TestApp;

  beforeAll(async () => {
    // The expiry process is off in this app (the test app's default), and its readiness bound is a minute.
    const projector = loadConfig({}).projector;
    testApp = await startTestApp(kind, {
      config: {
        projector: {
          ...projector,
          grantExpiry: { ...projector.grantExpiry, intervalMs: 0, batchSize: 200, lagSecondsMax: 60 },
        },
      },
    });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());

  it("draws the README's worked example as it says: the allowance, then the welcome bonus, the pack last", async () => {
    const userId = `example-${randomUUID()}`;
    const bonus = (key: string, body: Record<string, unknown>) =>
      http()
        .post(`/v1/users/${userId}/bonuses`)
        .set('Authorization', bearer('grant'))
        .set('Idempotency-Key', key)
        .send(body)
        .expect(201);
    const welcome = await bonus(`welcome-${userId}`, { amount: 50, reason: 'welcome', expiresIn: 'P30D' });
    const allowance = await bonus(`allowance-${userId}`, {
      amount: 300,
      reason: 'January allowance',
      category: 'paid',
      priority: 50,
      expiresIn: 'P31D',
    });
    const pack = await http()
      .post(`/v1/users/${userId}/recharges`)
      .set('Authorization', bearer('admin'))
      .send({ rechargeId: `pack-${randomUUID()}`, credits: 500, amountPaid: 4900, currency: 'usd' })
      .expect(201);

    await http()
      .post(`/v1/users/${userId}/consumptions`)
      .set('Authorization', bearer('consume'))
      .send({ feature: 'video_generation', reference: 'january', amount: 320 })
      .expect(201);
    const events = (await http().get(`/v1/users/${userId}/events`).set('Authorization', bearer('audit'))).body
      .events as Array<{ type: string; data: { drawnFrom?: unknown } }>;
    await projectionsCaughtUp(testApp.app);
    const balance = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);

    expect(events.find((event) => event.type === 'CreditsConsumed')?.data.drawnFrom).toEqual([
      { grantId: allowance.body.eventId, credits: 300 },
      { grantId: welcome.body.eventId, credits: 20 },
    ]);
    expect(balance.body).toMatchObject({
      balance: 530,
      spendable: 530,
      byCategory: { paid: 500, promotional: 30 },
      expiring: [{ grantId: welcome.body.eventId, credits: 30, expiresAt: expect.any(String) }],
    });
    expect(pack.body.balance).toBe(850);
  });

  it('documents the grants in the OpenAPI document: the routes, the bonus terms and the grant fields', async () => {
    const response = await http().get('/docs-json').expect(200);
    const document = response.body as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };

    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/users/{userId}/grants', '/v1/users/{userId}/grants/{grantId}/void']),
    );
    expect(Object.keys(document.components.schemas.GrantBonusRequest.properties)).toEqual(
      expect.arrayContaining(['category', 'priority', 'expiresAt', 'expiresIn']),
    );
    expect(Object.keys(document.components.schemas.GrantResponse.properties)).toEqual(
      expect.arrayContaining(['grantId', 'state', 'spentCredits', 'expiredCredits', 'remainingCredits']),
    );
  });

  it('reports the expiry process behind on /metrics and fails /health/ready past its bound', async () => {
    const store = testApp.app.get<EventStore>(EVENT_STORE);
    // Due for ten minutes, the process off: nothing expires it.
    await writeBonus(store, `overdue-${randomUUID()}`, {
      amount: 5,
      decidedAt: new Date(Date.now() - 601_000),
      expiresIn: 'PT1S',
    });
    await projectionsCaughtUp(testApp.app);

    const ready = await http().get('/health/ready');
    const metrics = await http().get('/metrics').expect(200);

    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toContain('grant-expiry');
    const lag = /^credits_grant_expiry_lag_seconds (\S+)$/m.exec(metrics.text);
    expect(Number(lag?.[1])).toBeGreaterThanOrEqual(600);
    expect(metrics.text).toMatch(/^credits_grants_due [1-9]/m);
  });
});
