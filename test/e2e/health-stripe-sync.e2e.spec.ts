import { randomUUID } from 'node:crypto';
import type { SqlDriver } from '@libs/event-store';
import { READ_MODEL_DB } from '@projections';
import Stripe from 'stripe';
import {
  STRIPE_KEY_MISSING_NOTE,
  checkStripePaymentSync,
} from '../../apps/api/src/health-check/checks/stripe-payment-sync/stripe-payment-sync.check';
import { type CheckSection, SectionBuilder } from '../../apps/api/src/health-check/health-report';
import { STRIPE_API, stripeApiClient } from '../../apps/api/src/stripe/stripe-api.client';
import { StripeIngestion } from '../../apps/api/src/stripe/stripe-ingestion.service';
import { syncStripeEvents } from '../../apps/api/src/stripe/sync-stripe-events/sync-stripe-events';
import { type FakeStripeApi, startFakeStripeApi } from '../support/fake-stripe-api';
import { packPaymentOnStripe, refundOnStripe } from '../support/stripe-payments-on-stripe';
import {
  type StripeObject,
  deepMerge,
  invoicePaid,
  paymentIntent,
  stripeEvent,
  stripeId,
} from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Check 4 of the health check: the payments and refunds Stripe reports
 * against the recharges recorded here, through the real `stripe` client. Its
 * API cannot be reached from the machines the tests run on, so the client
 * talks to a local Stripe-shaped server (test/support/fake-stripe-api.ts)
 * holding the objects Stripe would hold. Catalog: config/stripe-catalog.json
 * (credits_100 = 100 credits for 10.00 USD).
 */
const FINDINGS_MAX = 10;
const HOUR_MS = 3_600_000;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const newUser = () => `user-${randomUUID()}`;
const lastHour = () => ({ since: new Date(Date.now() - HOUR_MS), until: new Date(Date.now() + 60_000) });

describe.each(storeKindsUnderTest())(
  "the Stripe payment sync check on %s, against a local Stripe-shaped server (Stripe's API is unreachable from here)",
  (kind) => {
    let fake: FakeStripeApi;
    let testApp: TestApp;
    const webhook = stripeWebhookClient(() => testApp);

    beforeAll(async () => {
      fake = await startFakeStripeApi();
    });

    afterAll(async () => {
      await fake?.close();
    });

    // A fresh store for each test: the check compares every recharge of the window with what Stripe holds.
    beforeEach(async () => {
      fake.reset();
      const stripe = stripeConfigUnderTest({ apiKey: fake.apiKey, apiBase: new URL(fake.url) });
      testApp = await startTestApp(kind, { config: { stripe } });
    });

    afterEach(async () => {
      await testApp?.close();
    });

    /** The check as the health check runs it, over the last hour, with the app's own Stripe client. */
    function check(): Promise<CheckSection> {
      return checkWith(testApp.app.get<Stripe>(STRIPE_API));
    }

    async function checkWith(stripe: Stripe | undefined): Promise<CheckSection> {
      await projectionsCaughtUp(testApp.app);
      const section = new SectionBuilder('stripe-payment-sync', FINDINGS_MAX);
      const dependencies = {
        stripe,
        readModel: testApp.app.get<SqlDriver>(READ_MODEL_DB),
        catalog: testApp.config.stripe.catalog,
      };
      await checkStripePaymentSync(dependencies, lastHour(), section);
      return section.build();
    }

    /** `npm run stripe -- sync --since 1h`, on the app's own client and ingestion. */
    async function stripeSync() {
      const dependencies = {
        stripe: testApp.app.get<Stripe>(STRIPE_API),
        ingestion: testApp.app.get(StripeIngestion),
        log: () => undefined,
      };
      return syncStripeEvents(dependencies, { since: new Date(Date.now() - HOUR_MS), types: undefined });
    }

    it('is ok when every payment and refund Stripe made was delivered by its signed webhook', async () => {
      const [kept, refunded] = [packPaymentOnStripe(newUser()), packPaymentOnStripe(newUser())];
      const refund = refundOnStripe(refunded);
      const renewal = invoicePaid(
        { shape: 'current', subscriptionMetadata: { userId: newUser() }, overrides: { created: nowSeconds() - 30 } },
        { created: nowSeconds() - 30 },
      );
      fake.addObjects(...kept.objects, ...refunded.objects, ...refund.objects, renewal.data.object as StripeObject);
      for (const event of [kept.event, refunded.event, refund.event, renewal]) {
        await webhook.deliver(event).expect(200);
      }

      const section = await check();

      expect(section).toMatchObject({ status: 'ok', findingsCount: 0, findings: [] });
      expect(section.counts).toEqual({
        'checkout-sessions': 2,
        invoices: 1,
        'payment-intents': 2,
        payments: 3,
        refunds: 1,
        'recharges-refunded': 1,
      });
    });

    it('fails for a payment that succeeded on Stripe but was never delivered, and passes after `stripe sync`', async () => {
      const userId = newUser();
      const payment = packPaymentOnStripe(userId);
      fake.addObjects(...payment.objects);
      fake.addEvents(payment.event);

      const before = await check();

      expect(before).toMatchObject({ status: 'failed', findingsCount: 1 });
      expect(before.findings).toEqual([
        {
          kind: 'payment-not-recorded',
          severity: 'failed',
          userId,
          paymentId: payment.paymentIntentId,
          stripeObjectId: payment.sessionId,
          detail: expect.stringContaining(`Checkout session ${payment.sessionId}`),
        },
      ]);

      expect((await stripeSync()).outcomes).toMatchObject({ credited: 1, failed: 0 });
      const after = await check();

      expect(after).toMatchObject({ status: 'ok', findingsCount: 0 });
      expect(await webhook.balanceOf(userId)).toEqual({ balance: 100, frozenCredits: 0 });
    });

    it('fails for a refund made on Stripe but never delivered, and passes after `stripe sync`', async () => {
      const userId = newUser();
      const payment = packPaymentOnStripe(userId);
      const refund = refundOnStripe(payment);
      fake.addObjects(...payment.objects, ...refund.objects);
      fake.addEvents(payment.event, refund.event);
      await webhook.deliver(payment.event).expect(200);

      const before = await check();

      expect(before).toMatchObject({ status: 'failed', findingsCount: 1 });
      expect(before.findings).toEqual([
        expect.objectContaining({
          kind: 'refund-not-recorded',
          severity: 'failed',
          userId,
          paymentId: payment.paymentIntentId,
          amountRefundedOnStripe: 1000,
          amountRefundedHere: 0,
        }),
      ]);

      expect((await stripeSync()).outcomes).toMatchObject({ duplicate: 1, debited: 1, failed: 0 });

      expect(await check()).toMatchObject({ status: 'ok', findingsCount: 0 });
    });

    it('does not report a payment parked for want of a user as missing: it is known here', async () => {
      const payment = packPaymentOnStripe(undefined);
      fake.addObjects(...payment.objects);
      await webhook.deliver(payment.event).expect(200);

      const section = await check();

      expect(section).toMatchObject({ status: 'ok', findingsCount: 0, counts: { 'payments-parked': 1 } });
    });

    it('fails for recharges whose payment intent Stripe says did not succeed, or does not know', async () => {
      const [unpaid, unknown] = [newUser(), newUser()];
      const [unpaidId, neverMadeId] = [stripeId('pi'), stripeId('pi')];
      const onStripe = paymentIntent({
        id: unpaidId,
        status: 'requires_payment_method',
        amount_received: 0,
        created: nowSeconds() - 120,
        metadata: { userId: unpaid, credits: '500' },
      });
      fake.addObjects(onStripe);
      // Signed deliveries that Stripe's own objects contradict (a test-mode event sent to live, a leaked secret).
      const delivered = [
        deepMerge(onStripe, { status: 'succeeded', amount_received: 1000 }),
        paymentIntent({ id: neverMadeId, metadata: { userId: unknown, credits: '700' } }),
      ];
      for (const intent of delivered) {
        await webhook.deliver(stripeEvent('payment_intent.succeeded', intent)).expect(200);
      }

      const section = await check();

      expect(section).toMatchObject({ status: 'failed', findingsCount: 2, counts: { 'recharges-retrieved': 1 } });
      expect(section.findings).toEqual([
        expect.objectContaining({
          kind: 'recharge-differs-from-stripe',
          userId: unpaid,
          paymentId: unpaidId,
          detail: `on Stripe, payment intent ${unpaidId} is requires_payment_method; yet recharge ${unpaidId} credited 500 credits here`,
        }),
        expect.objectContaining({
          kind: 'recharge-differs-from-stripe',
          userId: unknown,
          paymentId: neverMadeId,
          detail: expect.stringContaining(`no payment intent, invoice or Checkout session ${neverMadeId} exists`),
        }),
      ]);
    });

    it('pages through Stripe 100 objects at a time, counting every finding and listing the first ones', async () => {
      const payments = Array.from({ length: 150 }, (_, index) => packPaymentOnStripe(newUser(), 1_000 - index));
      fake.addObjects(...payments.map((payment) => payment.session));

      const section = await check();

      expect(section).toMatchObject({ status: 'failed', findingsCount: 150, counts: { 'payment-not-recorded': 150 } });
      expect(section.findings).toHaveLength(FINDINGS_MAX);
      const lists = fake.listRequests('/v1/checkout/sessions');
      expect(lists.map((list) => list.params.limit)).toEqual(['100', '100']);
      expect(lists[0].params).toMatchObject({ status: 'complete', created: { gte: expect.any(String) } });
      expect(lists[1].params.starting_after).toBe(payments[50].sessionId);
    });

    it('is a warning, comparing nothing, when no Stripe key is configured', async () => {
      const section = await checkWith(undefined);

      expect(section).toEqual({
        name: 'stripe-payment-sync',
        status: 'warning',
        counts: {},
        findingsCount: 0,
        findings: [],
        note: STRIPE_KEY_MISSING_NOTE,
      });
      expect(fake.requests).toEqual([]);
    });

    it("throws Stripe's authentication error for a key Stripe refuses, without the key in its message", async () => {
      const wrongKey = 'sk_test_refusedKey0123456789';
      const stripe = stripeApiClient({ ...testApp.config.stripe, apiKey: wrongKey })!;

      const error: unknown = await checkWith(stripe).catch((thrown: unknown) => thrown);

      expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
      expect((error as Error).message).not.toContain(wrongKey);
    });
  },
);
