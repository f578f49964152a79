import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AppConfig, loadConfig } from '@libs/config';
import { type WebhookPayload, verifyWebhookSignature } from '@libs/webhooks';
import request from 'supertest';
import { TEST_KEYS, type TestApp, bearer, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';
import { paymentIntentSucceeded, stripeId } from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Outbound webhooks through the real app, to receivers on loopback (so private URLs are allowed here): every
 * event once, in stream order per user, signed; retries after failures, in order; a dead endpoint not delaying
 * a live one; an endpoint disabled after a run of failures; secret rotation; a response body not read beyond
 * the limit; redelivery; and the operators' API with its refusals.
 */
type Scope = keyof typeof TEST_KEYS;

function webhookConfig(env: Record<string, string> = {}): Partial<AppConfig> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    GRANT_EXPIRY_INTERVAL_MS: '0',
    OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
    WEBHOOK_DISPATCH_POLL_MS: '20',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_RETRY_MAX_DELAY_MS: '200',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_SECRET_OVERLAP_SECONDS: '1',
    ...env,
  });
  return { projector: config.projector, outboundWebhooks: config.outboundWebhooks, stripe: stripeConfigUnderTest() };
}

describe.each(storeKindsUnderTest())('outbound webhooks on %s', (kind) => {
  let testApp: TestApp;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    testApp = await startTestApp(kind, { config: webhookConfig({ WEBHOOK_DISABLE_AFTER_FAILURES: '5' }) });
  });

  afterAll(async () => {
    await testApp?.close();
    await Promise.all(receivers.map((receiver) => receiver.stop()));
  });

  const http = () => request(testApp.app.getHttpServer());
  const stripe = stripeWebhookClient(() => testApp);
  const as = (scope: Scope) => ({ Authorization: bearer(scope) });

  async function receiver(): Promise<{ receiver: WebhookReceiver; url: string }> {
    const started = new WebhookReceiver();
    receivers.push(started);
    return { receiver: started, url: await started.start() };
  }

  async function register(url: string, events = ['recharge.completed']): Promise<{ id: string; secret: string }> {
    const response = await http().post('/v1/admin/webhook-endpoints').set(as('admin')).send({ url, events });
    expect(response.status).toBe(201);
    return response.body as { id: string; secret: string };
  }

  const recharge = (userId: string, credits: number) =>
    http()
      .post(`/v1/users/${userId}/recharges`)
      .set(as('admin'))
      .send({ rechargeId: `invoice-${randomUUID()}`, credits, amountPaid: credits * 10, currency: 'usd' })
      .expect(201);

  async function deliveriesOf(endpointId: string) {
    const response = await http().get(`/v1/admin/webhook-deliveries?endpoint=${endpointId}`).set(as('admin'));
    expect(response.status).toBe(200);
    return response.body.deliveries as Array<{ id: string; status: string; attempts: number; lastStatusCode: number }>;
  }

  /** Each delivery id once, in the order its first copy came. */
  const firstCopies = (received: readonly { payload: WebhookPayload }[]) => [
    ...new Map(received.map(({ payload }) => [payload.id, payload])).values(),
  ];

  it('registers an endpoint with a secret shown once, and refuses what it must', async () => {
    const { url } = await receiver();
    const created = await register(url, ['recharge.completed', 'grant.expired']);
    expect(created).toMatchObject({ url, events: ['recharge.completed', 'grant.expired'], status: 'enabled' });
    expect(created.secret).toMatch(/^whsec_/);
    const listed = await http().get('/v1/admin/webhook-endpoints').set(as('admin')).expect(200);
    const mine = (listed.body.endpoints as Array<{ id: string }>).find((endpoint) => endpoint.id === created.id);
    expect(mine).toBeDefined();
    expect(JSON.stringify(listed.body)).not.toContain(created.secret);

    const create = (body: object, scope: Scope = 'admin') =>
      http().post('/v1/admin/webhook-endpoints').set(as(scope)).send(body);
    expect((await create({ url, events: ['nothing.happened'] })).status).toBe(400);
    expect((await create({ url, events: [] })).status).toBe(400);
    expect((await create({ url, events: ['recharge.completed'] }, 'consume')).status).toBe(403);
    const metadata = await create({ url: 'http://169.254.169.254/latest/meta-data', events: ['hold.expired'] });
    expect(metadata.status).toBe(422);
    expect(metadata.body.type).toMatch(/webhook-url-refused$/);
    expect(metadata.body.detail).toMatch(/link-local/);
    expect((await create({ url: 'ftp://127.0.0.1/hooks', events: ['hold.expired'] })).status).toBe(422);
    expect((await create({ url: 'not a url', events: ['hold.expired'] })).status).toBe(422);
    expect((await http().get(`/v1/admin/webhook-endpoints/${randomUUID()}`).set(as('admin'))).status).toBe(404);
    expect((await http().get('/v1/admin/webhook-endpoints/nope').set(as('admin'))).status).toBe(400);
    await http().delete(`/v1/admin/webhook-endpoints/${created.id}`).set(as('admin')).expect(204);
  });

  it('delivers every event once, in stream order per user, signed with the endpoint’s secret', async () => {
    const { receiver: hooks, url } = await receiver();
    const endpoint = await register(url);
    const users = [`user-${randomUUID()}`, `user-${randomUUID()}`];
    await Promise.all(
      users.map(async (userId) =>
        [1, 2, 3].reduce(
          (previous, credits) => previous.then(() => recharge(userId, credits * 10)).then(() => undefined),
          Promise.resolve(),
        ),
      ),
    );
    const received = await hooks.waitFor(6);
    await sleep(200);
    expect(received).toHaveLength(6);
    for (const { rawBody, headers } of received) {
      expect(verifyWebhookSignature(rawBody, headers['credits-signature'] as string, endpoint.secret).valid).toBe(true);
    }
    expect(new Set(received.map(({ payload }) => payload.id)).size).toBe(6);
    for (const userId of users) {
      const ofUser = received.map(({ payload }) => payload).filter((payload) => payload.userId === userId);
      expect(ofUser.map((payload) => payload.data.credits)).toEqual([10, 20, 30]);
      expect(ofUser.map((payload) => payload.data.ledgerEvent!.streamVersion)).toEqual([1, 2, 3]);
      expect(ofUser[0]).toMatchObject({ type: 'recharge.completed', data: { currency: 'usd', amountPaid: 100 } });
      expect(ofUser[0].data.ledgerEvent).toMatchObject({ type: 'RechargeCompleted', id: expect.any(String) });
    }
    const log = await deliveriesOf(endpoint.id);
    expect(log.map((delivery) => [delivery.status, delivery.attempts])).toEqual(Array(6).fill(['delivered', 1]));
    const metrics = (await http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/credits_webhook_attempts_total\{outcome="delivered"\} \d+/);
    expect(metrics).toMatch(/credits_webhook_deliveries_pending \d+/);
    expect(metrics).toMatch(/credits_webhook_endpoints_disabled \d+/);
  });

  it('retries a receiver that answers 500 for a while, and delivers later in order, each under one id', async () => {
    const { receiver: hooks, url } = await receiver();
    hooks.answer = (index) => (index < 4 ? 500 : 200);
    const endpoint = await register(url);
    const userId = `user-${randomUUID()}`;
    for (const credits of [1, 2, 3]) await recharge(userId, credits);
    await waitUntil(async () => {
      const log = await deliveriesOf(endpoint.id);
      return log.length === 3 && log.every((delivery) => delivery.status === 'delivered');
    });
    const log = await deliveriesOf(endpoint.id);
    expect(log).toHaveLength(3);
    expect(log.some((delivery) => delivery.attempts > 1)).toBe(true);
    const delivered = hooks.received.filter((_, index) => index >= 4).map(({ payload }) => payload.data.credits);
    expect(delivered).toEqual([1, 2, 3]);
    expect(firstCopies(hooks.received).map((payload) => payload.data.credits)).toEqual([1, 2, 3]);
  });

  it('does not let a dead endpoint delay a live one', async () => {
    const dead = await receiver();
    dead.receiver.answer = () => 'hang';
    const live = await receiver();
    await register(dead.url);
    await register(live.url);
    const started = Date.now();
    const userId = `user-${randomUUID()}`;
    for (const credits of [1, 2, 3]) await recharge(userId, credits);
    await live.receiver.waitFor(3);
    // The dead one is still waiting on its first request (a 2 s timeout): the live one got all three before it.
    expect(Date.now() - started).toBeLessThan(1_900);
    expect(dead.receiver.received.length).toBeLessThanOrEqual(1);
  });

  it('disables an endpoint after the settable run of failures; enabling it again delivers what waited', async () => {
    const { receiver: hooks, url } = await receiver();
    hooks.answer = () => 503;
    const endpoint = await register(url);
    await recharge(`user-${randomUUID()}`, 5);
    await waitUntil(async () => {
      const response = await http().get(`/v1/admin/webhook-endpoints/${endpoint.id}`).set(as('admin'));
      return response.body.status === 'disabled';
    });
    const disabled = await http().get(`/v1/admin/webhook-endpoints/${endpoint.id}`).set(as('admin')).expect(200);
    expect(disabled.body).toMatchObject({ status: 'disabled', consecutiveFailures: 5 });
    expect(disabled.body.disabledReason).toMatch(/5 failed attempts in a row/);
    const attemptsWhenDisabled = hooks.received.length;
    await sleep(300);
    expect(hooks.received.length).toBe(attemptsWhenDisabled);

    hooks.answer = () => 200;
    const enabled = await http()
      .patch(`/v1/admin/webhook-endpoints/${endpoint.id}`)
      .set(as('admin'))
      .send({ status: 'enabled' })
      .expect(200);
    expect(enabled.body).toMatchObject({ status: 'enabled', consecutiveFailures: 0, disabledReason: null });
    await waitUntil(async () => (await deliveriesOf(endpoint.id))[0]?.status === 'delivered');
  });

  it('signs with both secrets during a rotation’s overlap, and with the new one only after it', async () => {
    const { receiver: hooks, url } = await receiver();
    const endpoint = await register(url);
    const rotated = await http()
      .post(`/v1/admin/webhook-endpoints/${endpoint.id}/rotate-secret`)
      .set(as('admin'))
      .expect(200);
    const next = rotated.body.secret as string;
    expect(next).not.toBe(endpoint.secret);
    await recharge(`user-${randomUUID()}`, 5);
    const [during] = await hooks.waitFor(1);
    const verifies = (secret: string, received = during) =>
      verifyWebhookSignature(received.rawBody, received.headers['credits-signature'] as string, secret).valid;
    expect([verifies(endpoint.secret), verifies(next)]).toEqual([true, true]);

    await sleep(1_100);
    await recharge(`user-${randomUUID()}`, 5);
    const [, after] = await hooks.waitFor(2);
    expect([verifies(endpoint.secret, after), verifies(next, after)]).toEqual([false, true]);
  });

  it('does not read a response body beyond the limit, and takes the 2xx as delivered', async () => {
    const { receiver: hooks, url } = await receiver();
    let closedEarly: Promise<boolean> = Promise.resolve(false);
    hooks.answer = () => (response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      closedEarly = new Promise((resolve) => {
        response.on('close', () => resolve(!response.writableFinished));
        const chunk = 'x'.repeat(64 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 200 && response.write(chunk)) sent++;
          if (sent >= 200) response.end();
          else response.once('drain', pump);
        };
        pump();
      });
    };
    const endpoint = await register(url);
    await recharge(`user-${randomUUID()}`, 5);
    await waitUntil(async () => (await deliveriesOf(endpoint.id))[0]?.status === 'delivered');
    expect(await closedEarly).toBe(true);
  });

  it('alerts credits.low and credits.depleted once per crossing, at the user’s own threshold', async () => {
    const { receiver: hooks, url } = await receiver();
    await register(url, ['credits.low', 'credits.depleted']);
    const userId = `user-${randomUUID()}`;
    const alerts = (body: object) => http().put(`/v1/users/${userId}/alerts`).set(as('admin')).send(body);
    expect((await alerts({ lowBalanceBelow: -1 })).status).toBe(400);
    expect((await alerts({ lowBalanceBelow: 50 })).body).toMatchObject({ lowBalanceBelow: 50, source: 'user' });
    const consume = (amount: number) =>
      http()
        .post(`/v1/users/${userId}/consumptions`)
        .set(as('consume'))
        .send({ feature: 'video_generation', reference: `job-${randomUUID()}`, amount })
        .expect(201);
    await recharge(userId, 100);
    await consume(60); // 40: low
    await consume(10); // 30: still low, nothing
    await recharge(userId, 100); // 130: above again
    await consume(100); // 30: low again
    await consume(30); // 0: depleted
    const received = await hooks.waitFor(3);
    await sleep(200);
    expect(received.map(({ payload }) => [payload.type, payload.data.spendableCredits])).toEqual([
      ['credits.low', 40],
      ['credits.low', 30],
      ['credits.depleted', 0],
    ]);
    expect(received[0].payload.data).toMatchObject({ lowBalanceBelow: 50, balance: 40, heldCredits: 0 });
    expect(received[0].payload.data.ledgerEvent).toMatchObject({ type: 'CreditsConsumed', streamVersion: 2 });
    const state = await http().get(`/v1/users/${userId}/alerts`).set(as('admin')).expect(200);
    expect(state.body).toMatchObject({ lowBalanceBelow: 50, belowLow: true, depleted: true });
    const reset = await alerts({ lowBalanceBelow: null });
    expect(reset.body).toMatchObject({ lowBalanceBelow: 10, source: 'default' });
  });

  it('reports a Stripe payment parked for want of a user, with no user, once however often Stripe delivers it', async () => {
    const { receiver: hooks, url } = await receiver();
    await register(url, ['payment.parked']);
    const customerId = stripeId('cus');
    const payment = paymentIntentSucceeded({ customer: customerId, metadata: { credits: '300' } });
    await stripe.deliver(payment).expect(200);
    await stripe.deliver(payment).expect(200);
    const [parked] = await hooks.waitFor(1);
    await sleep(300);
    expect(hooks.received).toHaveLength(1);
    expect(parked.payload).toMatchObject({ type: 'payment.parked', userId: null });
    expect(parked.payload.data).toMatchObject({
      customerId,
      userIdNamed: null,
      ledgerEvent: { type: 'PaymentParked' },
    });
  });

  it('documents the routes, the payload and the signature in OpenAPI', async () => {
    const document = (await http().get('/docs-json').expect(200)).body;
    for (const path of [
      '/v1/admin/webhook-endpoints',
      '/v1/admin/webhook-endpoints/{id}/rotate-secret',
      '/v1/admin/webhook-deliveries',
      '/v1/admin/webhook-deliveries/{id}/redeliver',
      '/v1/users/{userId}/alerts',
    ]) {
      expect(Object.keys(document.paths)).toContain(path);
    }
    const tag = (document.tags as Array<{ name: string; description: string }>).find(({ name }) => name === 'webhooks');
    expect(tag?.description).toMatch(/Credits-Signature: t=<unix seconds>,v1=/);
    expect(tag?.description).toMatch(/payment\.parked/);
  });

  it('sends a delivery again, with the same id, when an operator asks', async () => {
    const { receiver: hooks, url } = await receiver();
    const endpoint = await register(url);
    await recharge(`user-${randomUUID()}`, 5);
    const [first] = await hooks.waitFor(1);
    const [delivery] = await deliveriesOf(endpoint.id);
    await waitUntil(async () => (await deliveriesOf(endpoint.id))[0]?.status === 'delivered');
    await http().post(`/v1/admin/webhook-deliveries/${delivery.id}/redeliver`).set(as('admin')).expect(200);
    const [, again] = await hooks.waitFor(2);
    expect(again.payload.id).toBe(first.payload.id);
    expect(again.rawBody).toBe(first.rawBody);
    expect((await http().post(`/v1/admin/webhook-deliveries/${randomUUID()}/redeliver`).set(as('admin'))).status).toBe(
      404,
    );
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
