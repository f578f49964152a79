import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AppConfig, loadConfig } from '@libs/config';
import type { WebhookPayload } from '@libs/webhooks';
import request from 'supertest';
import {
  AUTHENTICATING_PAYMENT_METHOD,
  DECLINING_PAYMENT_METHOD,
  type FakeStripeApi,
  startFakeStripeApi,
} from '../support/fake-stripe-api';
import { paymentIntentSucceeded, stripeEvent } from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { describeOnPostgres, storeKindsUnderTest } from '../support/test-stores';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Automatic top-up through the real app and the real `stripe` client, against the local Stripe-shaped server
 * (Stripe's API cannot be reached from here): a crossing below the threshold charges the saved card once,
 * however many consumptions cross at once and however many instances run; the payment credits the user
 * through the webhook; a declined card is reported once and not tried again; the monthly limit holds.
 * Catalog: config/stripe-catalog.json (credits_100, credits_500, each 10.00 USD on the local server).
 */
type Crossing = { status: string; detail: string | null; topUpId: string | null; paymentIntentId: string | null };

function topUpConfig(fake: FakeStripeApi): Partial<AppConfig> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    GRANT_EXPIRY_INTERVAL_MS: '0',
    OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
    WEBHOOK_DISPATCH_POLL_MS: '20',
  });
  return {
    projector: config.projector,
    outboundWebhooks: config.outboundWebhooks,
    stripe: stripeConfigUnderTest({
      apiKey: fake.apiKey,
      apiBase: new URL(fake.url),
      autoTopUp: { pollMs: 20, leaseMs: 30_000 },
    }),
  };
}

/** The top-up's calls to Stripe for one user: the payment intents it asked for, by idempotency key. */
function chargesOf(fake: FakeStripeApi, userId: string) {
  return fake
    .paymentIntentRequests()
    .filter((sent) => (sent.params.metadata as { userId?: string })?.userId === userId);
}

function topUpClient(testApp: () => TestApp, fake: () => FakeStripeApi) {
  const http = () => request(testApp().app.getHttpServer());
  const stripe = stripeWebhookClient(testApp);
  return {
    http,
    stripe,
    setAutoTopUp: (userId: string, body: object) =>
      http().put(`/v1/users/${userId}/auto-topup`).set('Authorization', bearer('admin')).send(body),
    async crossingsOf(userId: string): Promise<Crossing[]> {
      const response = await http().get(`/v1/users/${userId}/auto-topup`).set('Authorization', bearer('admin'));
      expect(response.status).toBe(200);
      return response.body.recentCrossings as Crossing[];
    },
    /** Waits until the user's crossings have all been worked to an end, and returns them, the latest first. */
    async settledCrossingsOf(userId: string, count: number): Promise<Crossing[]> {
      for (let waited = 0; waited < 15_000; waited += 25) {
        await projectionsCaughtUp(testApp().app);
        const crossings = await this.crossingsOf(userId);
        const open = crossings.filter((crossing) => crossing.status === 'due' || crossing.status === 'requested');
        if (crossings.length >= count && open.length === 0) return crossings;
        await sleep(25);
      }
      throw new Error(
        `user ${userId}: ${count} crossings not settled: ${JSON.stringify(await this.crossingsOf(userId))}`,
      );
    },
    bonus: (userId: string, amount: number) =>
      http()
        .post(`/v1/users/${userId}/bonuses`)
        .set('Authorization', bearer('grant'))
        .set('Idempotency-Key', randomUUID())
        .send({ amount, reason: 'test' })
        .expect(201),
    async hold(userId: string, amount: number): Promise<string> {
      const response = await http()
        .post(`/v1/users/${userId}/holds`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'video_generation', reference: `job-${randomUUID()}`, amount })
        .expect(201);
      return response.body.holdId as string;
    },
    capture: (userId: string, holdId: string, amount: number) =>
      http()
        .post(`/v1/users/${userId}/holds/${holdId}/capture`)
        .set('Authorization', bearer('consume'))
        .send({ amount })
        .expect(201),
    consume: (userId: string, reference = randomUUID()) =>
      http()
        .post(`/v1/users/${userId}/consumptions`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'face_swap', reference }),
    /** Stripe's `payment_intent.succeeded` for the payment intent the top-up made, delivered to the webhook. */
    async deliverPaymentOf(paymentIntentId: string) {
      const intent = fake().object(paymentIntentId);
      expect(intent).toBeDefined();
      const response = await stripe.deliver(stripeEvent('payment_intent.succeeded', intent!));
      expect(response.status).toBe(200);
    },
    async eventTypesOf(userId: string): Promise<string[]> {
      const response = await http()
        .get(`/v1/users/${userId}/events?limit=1000`)
        .set('Authorization', bearer('audit'))
        .expect(200);
      return (response.body.events as Array<{ type: string }>).map((event) => event.type);
    },
  };
}

/** A Checkout payment of `credits_100` that saved the buyer's card, as its payment intent's webhook reports it. */
function checkoutThatSavedACard(userId: string, customerId: string, paymentMethodId = 'pm_card_visa') {
  return paymentIntentSucceeded({
    amount: 1000,
    amount_received: 1000,
    status: 'succeeded',
    customer: customerId,
    payment_method: paymentMethodId,
    setup_future_usage: 'off_session',
    metadata: { userId, packId: 'credits_100', quantity: '1' },
  });
}

describe.each(storeKindsUnderTest())(
  'automatic top-up against a local Stripe-shaped server on %s (Stripe’s API is unreachable here)',
  (kind) => {
    let fake: FakeStripeApi;
    let testApp: TestApp;
    const receiver = new WebhookReceiver();
    const client = topUpClient(
      () => testApp,
      () => fake,
    );

    beforeAll(async () => {
      fake = await startFakeStripeApi();
      testApp = await startTestApp(kind, { config: topUpConfig(fake) });
      const url = await receiver.start();
      await client
        .http()
        .post('/v1/admin/webhook-endpoints')
        .set('Authorization', bearer('admin'))
        .send({ url, events: ['topup.succeeded', 'topup.failed'] })
        .expect(201);
    });

    afterAll(async () => {
      await testApp?.close();
      await fake?.close();
      await receiver.stop();
    });

    const webhooksOf = (userId: string): WebhookPayload[] =>
      receiver.received.map(({ payload }) => payload).filter((payload) => payload.userId === userId);

    it('charges the card a Checkout saved once when 50 consumptions cross the threshold at once, and the payment credits the pack', async () => {
      const userId = `user-${randomUUID()}`;
      await client.stripe.deliver(checkoutThatSavedACard(userId, 'cus_saved')).expect(200);
      const set = await client.setAutoTopUp(userId, {
        enabled: true,
        belowCredits: 60,
        packId: 'credits_500',
        maxPerMonth: 3,
      });
      expect(set.status).toBe(200);
      expect(set.body.card).toEqual({ customerId: 'cus_saved', paymentMethodId: 'pm_card_visa', source: 'checkout' });

      const answers = await Promise.all(Array.from({ length: 50 }, () => client.consume(userId)));
      expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(201));
      const [crossing] = await client.settledCrossingsOf(userId, 1);
      expect(crossing).toMatchObject({ status: 'succeeded', paymentIntentId: expect.stringMatching(/^pi_/) });

      const charges = chargesOf(fake, userId);
      expect(new Set(charges.map((sent) => sent.headers['idempotency-key'])).size).toBe(1);
      expect(charges[0].params).toMatchObject({
        amount: '1000',
        currency: 'usd',
        customer: 'cus_saved',
        payment_method: 'pm_card_visa',
        off_session: 'true',
        metadata: { userId, packId: 'credits_500', topUpId: crossing.topUpId },
      });

      await client.deliverPaymentOf(crossing.paymentIntentId!);
      expect((await client.stripe.balanceOf(userId)).balance).toBe(100 - 50 + 500);
      const types = await client.eventTypesOf(userId);
      expect(types.filter((type) => type === 'TopUpRequested')).toHaveLength(1);
      const payments = ['RechargeCompleted', 'TopUpRequested', 'TopUpSucceeded'];
      expect(types.filter((type) => payments.includes(type))).toEqual([...payments, 'RechargeCompleted']);
      await waitUntil(() => webhooksOf(userId).length >= 1);
      expect(webhooksOf(userId).map((payload) => payload.type)).toEqual(['topup.succeeded']);
    });

    it('reports a declined card once as topup.failed and does not try it again until the next crossing', async () => {
      const userId = `user-${randomUUID()}`;
      // The customer is the user's (a Checkout of theirs); the operator names a card of it that declines.
      await client.stripe.deliver(checkoutThatSavedACard(userId, 'cus_declining')).expect(200);
      await client
        .setAutoTopUp(userId, {
          enabled: true,
          belowCredits: 95,
          packId: 'credits_100',
          maxPerMonth: 5,
          stripeCustomerId: 'cus_declining',
          paymentMethodId: DECLINING_PAYMENT_METHOD,
        })
        .expect(200);
      for (let index = 0; index < 6; index++) expect((await client.consume(userId)).status).toBe(201);
      const [failed] = await client.settledCrossingsOf(userId, 1);
      expect(failed).toMatchObject({ status: 'failed', detail: expect.stringMatching(/^card_declined/) });
      await waitUntil(() => webhooksOf(userId).length >= 1);
      const [notice] = webhooksOf(userId);
      expect(notice).toMatchObject({
        type: 'topup.failed',
        data: { reason: 'card_declined', topUpId: failed.topUpId },
      });

      // Still below: more consumptions, no new crossing, no second charge.
      for (let index = 0; index < 2; index++) expect((await client.consume(userId)).status).toBe(201);
      await projectionsCaughtUp(testApp.app);
      await sleep(100);
      expect(chargesOf(fake, userId)).toHaveLength(1);
      expect(await client.crossingsOf(userId)).toHaveLength(1);

      // Back above, and below again: the next crossing tries once more.
      await client.bonus(userId, 10);
      for (let index = 0; index < 8; index++) expect((await client.consume(userId)).status).toBe(201);
      await client.settledCrossingsOf(userId, 2);
      expect((await client.stripe.balanceOf(userId)).balance).toBe(100 - 6 - 2 + 10 - 8);
      expect(new Set(chargesOf(fake, userId).map((sent) => sent.headers['idempotency-key'])).size).toBe(2);
      const types = await client.eventTypesOf(userId);
      expect(types.filter((type) => type === 'TopUpFailed')).toHaveLength(2);
    });

    it('counts a card that needs its holder as failed: an off-session charge cannot ask them', async () => {
      const userId = `user-${randomUUID()}`;
      await client.stripe.deliver(checkoutThatSavedACard(userId, 'cus_3ds', AUTHENTICATING_PAYMENT_METHOD)).expect(200);
      await client
        .setAutoTopUp(userId, { enabled: true, belowCredits: 99, packId: 'credits_100', maxPerMonth: 5 })
        .expect(200);
      expect((await client.consume(userId)).status).toBe(201);
      expect((await client.consume(userId)).status).toBe(201);
      const [failed] = await client.settledCrossingsOf(userId, 1);
      expect(failed).toMatchObject({ status: 'failed', detail: expect.stringMatching(/^authentication_required/) });
    });

    it('never goes over maxPerMonth: a crossing past it asks for no top-up', async () => {
      const userId = `user-${randomUUID()}`;
      await client.stripe.deliver(checkoutThatSavedACard(userId, 'cus_limited')).expect(200);
      await client
        .setAutoTopUp(userId, { enabled: true, belowCredits: 95, packId: 'credits_100', maxPerMonth: 1 })
        .expect(200);
      for (let index = 0; index < 6; index++) expect((await client.consume(userId)).status).toBe(201);
      const [charged] = await client.settledCrossingsOf(userId, 1);
      expect(charged.status).toBe('succeeded');
      await client.deliverPaymentOf(charged.paymentIntentId!);
      expect((await client.stripe.balanceOf(userId)).balance).toBe(194);
      for (let index = 0; index < 100; index++) expect((await client.consume(userId)).status).toBe(201);
      const [skipped] = await client.settledCrossingsOf(userId, 2);
      expect(skipped).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/monthly-count/) });
      expect(chargesOf(fake, userId)).toHaveLength(1);
      expect((await client.eventTypesOf(userId)).filter((type) => type === 'TopUpRequested')).toHaveLength(1);
    });

    it('charges no second pack while the first one’s payment is on its way: two jobs in one dip', async () => {
      const userId = `user-${randomUUID()}`;
      await client.stripe.deliver(checkoutThatSavedACard(userId, 'cus_jobs')).expect(200);
      await client
        .setAutoTopUp(userId, { enabled: true, belowCredits: 50, packId: 'credits_100', maxPerMonth: 10 })
        .expect(200);
      const job1 = await client.hold(userId, 60); // spendable 40: a crossing, charged
      const [first] = await client.settledCrossingsOf(userId, 1);
      expect(first.status).toBe('succeeded');
      await client.capture(userId, job1, 5); // spendable 95
      const job2 = await client.hold(userId, 60); // spendable 35: a crossing, before the first pack is credited
      const [second] = await client.settledCrossingsOf(userId, 2);
      expect(second).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/pending/) });
      expect(chargesOf(fake, userId)).toHaveLength(1);
      await client.capture(userId, job2, 5);
      await client.deliverPaymentOf(first.paymentIntentId!);
      expect((await client.stripe.balanceOf(userId)).balance).toBe(100 - 5 - 5 + 100);
    });

    it('tops up a user already below the threshold when it is turned on, at their next event', async () => {
      const userId = `user-${randomUUID()}`;
      await client.stripe.deliver(checkoutThatSavedACard(userId, 'cus_below')).expect(200);
      for (let index = 0; index < 3; index++) expect((await client.consume(userId)).status).toBe(201);
      await projectionsCaughtUp(testApp.app);
      await client
        .setAutoTopUp(userId, { enabled: true, belowCredits: 98, packId: 'credits_100', maxPerMonth: 5 })
        .expect(200);
      expect((await client.consume(userId)).status).toBe(201);
      const [crossing] = await client.settledCrossingsOf(userId, 1);
      expect(crossing).toMatchObject({ status: 'succeeded', spendableCredits: 96 });
      // One save arms one event: the next consumption, still below, is no crossing.
      expect((await client.consume(userId)).status).toBe(201);
      await projectionsCaughtUp(testApp.app);
      expect(await client.crossingsOf(userId)).toHaveLength(1);
    });

    it('charges only a customer of the user: another user’s card is refused', async () => {
      const owner = `user-${randomUUID()}`;
      const other = `user-${randomUUID()}`;
      await client.stripe.deliver(checkoutThatSavedACard(owner, 'cus_owner')).expect(200);
      const settings = { enabled: true, belowCredits: 10, packId: 'credits_100', maxPerMonth: 1 };
      const card = { stripeCustomerId: 'cus_owner', paymentMethodId: 'pm_card_visa' };
      const refused = await client.setAutoTopUp(other, { ...settings, ...card });
      expect(refused.status).toBe(422);
      expect(refused.body.type).toMatch(/stripe-customer-not-the-users$/);
      // A customer who later paid for someone else too (a team's card) is still the owner's.
      await client.stripe.deliver(checkoutThatSavedACard(`user-${randomUUID()}`, 'cus_owner')).expect(200);
      expect((await client.setAutoTopUp(owner, { ...settings, ...card })).status).toBe(200);
    });

    it('refuses settings it cannot keep', async () => {
      const userId = `user-${randomUUID()}`;
      const valid = { enabled: true, belowCredits: 10, packId: 'credits_100', maxPerMonth: 1 };
      expect((await client.setAutoTopUp(userId, { ...valid, packId: 'no_such_pack' })).status).toBe(404);
      expect((await client.setAutoTopUp(userId, { ...valid, belowCredits: 0 })).status).toBe(400);
      expect((await client.setAutoTopUp(userId, { ...valid, maxPerMonth: -1 })).status).toBe(400);
      expect((await client.setAutoTopUp(userId, { ...valid, paymentMethodId: 'pm_alone' })).status).toBe(422);
      expect((await client.setAutoTopUp(userId, { ...valid, stripeCustomerId: 'not a customer' })).status).toBe(400);
      const asConsumer = await client
        .http()
        .put(`/v1/users/${userId}/auto-topup`)
        .set('Authorization', bearer('consume'))
        .send(valid);
      expect(asConsumer.status).toBe(403);
    });
  },
);

describeOnPostgres('automatic top-up with two API instances on one database (local Stripe-shaped server)', () => {
  let fake: FakeStripeApi;
  const instances: TestApp[] = [];

  beforeAll(async () => {
    fake = await startFakeStripeApi();
    const first = await startTestApp('postgres', { config: topUpConfig(fake) });
    instances.push(first, await startTestApp('postgres', { shareDatabaseOf: first, config: topUpConfig(fake) }));
  });

  afterAll(async () => {
    // The first instance drops the database: it closes last.
    for (const instance of instances.splice(0).reverse()) await instance.close();
    await fake?.close();
  });

  it('charges once for a crossing both instances see, with consumptions spread over both', async () => {
    const clients = instances.map((instance) =>
      topUpClient(
        () => instance,
        () => fake,
      ),
    );
    const userId = `user-${randomUUID()}`;
    await clients[0].stripe.deliver(checkoutThatSavedACard(userId, 'cus_two')).expect(200);
    await clients[1]
      .setAutoTopUp(userId, { enabled: true, belowCredits: 60, packId: 'credits_100', maxPerMonth: 3 })
      .expect(200);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, index) => clients[index % 2].consume(userId)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(201));
    const [crossing] = await clients[0].settledCrossingsOf(userId, 1);
    expect(crossing.status).toBe('succeeded');
    expect(new Set(chargesOf(fake, userId).map((sent) => sent.headers['idempotency-key'])).size).toBe(1);
    const types = await clients[1].eventTypesOf(userId);
    expect(types.filter((type) => type === 'TopUpRequested')).toHaveLength(1);
    expect(types.filter((type) => type === 'TopUpSucceeded')).toHaveLength(1);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 25) {
    if (waited > timeoutMs) throw new Error('condition not met in time');
    await sleep(25);
  }
}
