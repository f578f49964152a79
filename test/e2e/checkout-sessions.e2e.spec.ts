import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { checkoutIdempotencyKey } from '../../apps/api/src/stripe/create-checkout-session/create-checkout-session.http.controller';
import { type FakeStripeApi, startFakeStripeApi } from '../support/fake-stripe-api';
import { deepMerge, stripeEvent, stripeId } from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, bearer, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * The checkout helper through the real app and the real `stripe` client,
 * against a local Stripe-shaped server (test/support/fake-stripe-api.ts):
 * Stripe's API cannot be reached from the machines the tests run on.
 * Catalog: config/stripe-catalog.json (credits_100, credits_500), plus one
 * pack whose price this Stripe account does not have.
 */
const SUCCESS_URL = 'https://app.example.com/billing/done?session_id={CHECKOUT_SESSION_ID}';
const CANCEL_URL = 'http://localhost:3000/billing';
const catalog = stripeConfigUnderTest().catalog;
const PACK_WITH_UNKNOWN_PRICE = {
  packId: 'credits_retired',
  priceId: 'price_deleted_in_stripe',
  creditsPerUnit: 50,
  metadataCreditsAllowed: false,
};

describe.each(storeKindsUnderTest())(
  "checkout sessions against a local Stripe-shaped server on %s (Stripe's API is unreachable here)",
  (kind) => {
    let fake: FakeStripeApi;
    let testApp: TestApp;
    const stripe = stripeWebhookClient(() => testApp);
    const newUser = () => `user-${randomUUID()}`;
    const createSession = (app: TestApp, userId: string, body: object, idempotencyKey?: string) => {
      const call = request(app.app.getHttpServer())
        .post(`/v1/users/${userId}/checkout-sessions`)
        .set('Authorization', bearer('consume'));
      if (idempotencyKey !== undefined) call.set('Idempotency-Key', idempotencyKey);
      return call.send(body);
    };
    const validBody = { packId: 'credits_500', successUrl: SUCCESS_URL, cancelUrl: CANCEL_URL };

    beforeAll(async () => {
      fake = await startFakeStripeApi();
      const config = stripeConfigUnderTest({
        apiKey: fake.apiKey,
        apiBase: new URL(fake.url),
        catalog: { ...catalog, packs: [...catalog.packs, PACK_WITH_UNKNOWN_PRICE] },
      });
      testApp = await startTestApp(kind, { config: { stripe: config } });
    });

    afterAll(async () => {
      await testApp?.close();
      await fake?.close();
    });

    beforeEach(() => fake.reset());

    describe('creating a session', () => {
      it("sends Stripe the pack's price, the user and the pack, and answers 201 with the session's id and URL", async () => {
        const userId = newUser();

        const response = await createSession(testApp, userId, { ...validBody, quantity: 2 }, 'order-17').expect(201);

        expect(response.body).toEqual({ id: expect.stringMatching(/^cs_test_/), url: expect.any(String) });
        expect(response.body.url).toBe(`https://checkout.stripe.com/c/pay/${response.body.id}`);
        const [sent] = fake.checkoutSessionRequests();
        expect(fake.checkoutSessionRequests()).toHaveLength(1);
        expect(sent.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
        expect(sent.headers['idempotency-key']).toBe(checkoutIdempotencyKey(userId, 'order-17'));
        const metadata = { userId, packId: 'credits_500', quantity: '2' };
        expect(sent.params).toEqual({
          mode: 'payment',
          line_items: [{ price: 'price_credits_500', quantity: '2' }],
          client_reference_id: userId,
          metadata,
          payment_intent_data: { metadata },
          success_url: SUCCESS_URL,
          cancel_url: CANCEL_URL,
        });
      });

      it('asks Stripe to save the card for off-session payments, on a customer it makes, when told to', async () => {
        const userId = newUser();

        await createSession(testApp, userId, { ...validBody, savePaymentMethod: true }).expect(201);
        await createSession(testApp, userId, { ...validBody, savePaymentMethod: 'yes' }).expect(400);

        const [sent] = fake.checkoutSessionRequests();
        expect(fake.checkoutSessionRequests()).toHaveLength(1);
        expect(sent.params).toMatchObject({
          customer_creation: 'always',
          payment_intent_data: { setup_future_usage: 'off_session', metadata: { userId } },
        });
      });

      it('buys one pack unless told otherwise, under the client library’s own idempotency key without a header', async () => {
        const userId = newUser();

        await createSession(testApp, userId, validBody).expect(201);

        const [sent] = fake.checkoutSessionRequests();
        expect(sent.params).toMatchObject({ line_items: [{ quantity: '1' }], metadata: { quantity: '1' } });
        expect(sent.headers['idempotency-key']).toMatch(/^stripe-node-retry-/);
      });

      it('gives a retry with the same Idempotency-Key the same session; another user with that key gets another', async () => {
        const userId = newUser();

        const first = await createSession(testApp, userId, validBody, 'retry-me').expect(201);
        const retry = await createSession(testApp, userId, validBody, 'retry-me').expect(201);
        const otherUser = await createSession(testApp, newUser(), validBody, 'retry-me').expect(201);

        expect(retry.body).toEqual(first.body);
        expect(otherUser.body.id).not.toBe(first.body.id);
      });

      it('answers 409 when an Idempotency-Key is reused for another pack', async () => {
        const userId = newUser();
        await createSession(testApp, userId, validBody, 'reused').expect(201);

        const response = await createSession(testApp, userId, { ...validBody, packId: 'credits_100' }, 'reused');

        expect(response.status).toBe(409);
        expect(response.body).toMatchObject({ type: expect.stringMatching(/\/problems\/idempotency-key-reused$/) });
      });
    });

    describe('refused before anything is sent to Stripe', () => {
      it('404 unknown-pack for a pack the catalog does not have', async () => {
        const response = await createSession(testApp, newUser(), { ...validBody, packId: 'credits_9000' });

        expect(response.status).toBe(404);
        expect(response.headers['content-type']).toContain('application/problem+json');
        expect(response.body).toMatchObject({
          type: expect.stringMatching(/\/problems\/unknown-pack$/),
          detail: 'the Stripe catalog has no pack "credits_9000"',
        });
        expect(fake.checkoutSessionRequests()).toEqual([]);
      });

      it.each([
        ['a URL of another scheme', { successUrl: 'ftp://app.example.com/done' }],
        ['a javascript: URL', { cancelUrl: 'javascript:alert(1)' }],
        ['a URL without its scheme', { successUrl: 'app.example.com/done' }],
        ['not a URL', { cancelUrl: 'the billing page' }],
        ['a missing URL', { successUrl: undefined }],
        ['no pack', { packId: undefined }],
        ['a quantity of 0', { quantity: 0 }],
        ['a quantity above 100', { quantity: 101 }],
        ['a fractional quantity', { quantity: 1.5 }],
        ['an unknown field', { priceId: 'price_credits_100' }],
      ])('400 for %s', async (_, change) => {
        const response = await createSession(testApp, newUser(), { ...validBody, ...change });

        expect(response.status).toBe(400);
        expect(response.body).toMatchObject({ type: expect.stringMatching(/\/problems\/invalid-request$/) });
        expect(fake.checkoutSessionRequests()).toEqual([]);
      });

      it('400 for an invalid user id', async () => {
        const response = await createSession(testApp, 'not a user id', validBody);

        expect(response.status).toBe(400);
        expect(response.body).toMatchObject({ type: expect.stringMatching(/\/problems\/invalid-user-id$/) });
      });

      it('403 for a key without the consume scope', async () => {
        const response = await request(testApp.app.getHttpServer())
          .post(`/v1/users/${newUser()}/checkout-sessions`)
          .set('Authorization', bearer('read'))
          .send(validBody);

        expect(response.status).toBe(403);
        expect(fake.checkoutSessionRequests()).toEqual([]);
      });
    });

    describe('when Stripe refuses', () => {
      it("502 stripe-api-error with Stripe's message for a price this Stripe account does not have", async () => {
        const response = await createSession(testApp, newUser(), { ...validBody, packId: 'credits_retired' });

        expect(response.status).toBe(502);
        expect(response.body).toMatchObject({
          type: expect.stringMatching(/\/problems\/stripe-api-error$/),
          detail: "No such price: 'price_deleted_in_stripe'",
          stripeErrorType: 'invalid_request_error',
          stripeErrorCode: 'resource_missing',
          stripeRequestId: expect.stringMatching(/^req_/),
        });
        expect(response.text).not.toContain(fake.apiKey);
      });

      it('502 without the key when Stripe refuses the key', async () => {
        const wrongKey = 'sk_test_wrongKey0123456789abcdef';
        const app = await startTestApp(kind, {
          config: { stripe: stripeConfigUnderTest({ apiKey: wrongKey, apiBase: new URL(fake.url) }) },
        });
        try {
          const response = await createSession(app, newUser(), validBody);

          expect(response.status).toBe(502);
          expect(response.body).toMatchObject({
            type: expect.stringMatching(/\/problems\/stripe-api-error$/),
            detail: expect.stringMatching(/^Invalid API Key provided/),
          });
          expect(fake.checkoutSessionRequests()[0].headers.authorization).toBe(`Bearer ${wrongKey}`);
          expect(response.text).not.toContain(wrongKey);
          expect(response.text).not.toContain(wrongKey.slice(-4));
        } finally {
          await app.close();
        }
      });

      it('503 stripe-api-not-configured without STRIPE_API_KEY', async () => {
        const app = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest({ apiKey: undefined }) } });
        try {
          const response = await createSession(app, newUser(), validBody);

          expect(response.status).toBe(503);
          expect(response.body).toMatchObject({
            type: expect.stringMatching(/\/problems\/stripe-api-not-configured$/),
          });
          expect(fake.requests).toEqual([]);
        } finally {
          await app.close();
        }
      });
    });

    it("credits the user with the pack's credits once the session Stripe made is paid and its webhook delivered", async () => {
      const userId = newUser();
      const created = await createSession(testApp, userId, { ...validBody, quantity: 2 }, 'buy-2x500').expect(201);
      const session = fake.checkoutSession(created.body.id);
      if (session === undefined) throw new Error(`the fake made no session ${created.body.id}`);
      const paymentIntentId = stripeId('pi');
      const completed = stripeEvent(
        'checkout.session.completed',
        deepMerge(session, { status: 'complete', payment_status: 'paid', payment_intent: paymentIntentId }),
      );

      const delivery = await stripe.deliver(completed).expect(200);

      expect(delivery.body).toMatchObject({ status: 'credited', userId, rechargeId: paymentIntentId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 2 * 500, frozenCredits: 0 });
      expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
        credits: 1000,
        amountPaid: 2000,
        checkoutSessionId: created.body.id,
      });
    });
  },
);
