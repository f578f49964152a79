import request from 'supertest';
import { loadConfig } from '@libs/config';
import type { StripeConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { UNMATCHED_PAYMENTS_STREAM } from '@libs/stripe';
import { READ_MODEL_DB } from '@projections';
import { TEST_KEYS, type TestApp, bearer, projectionsCaughtUp } from './test-app';
import { signedDelivery } from './stripe-events';
import { collect } from './test-stores';

/** The endpoint secret the suites sign with, and the one a rotation is replacing. */
export const WEBHOOK_SECRET = 'whsec_test_current_0123456789abcdef';
export const OLD_WEBHOOK_SECRET = 'whsec_test_previous_0123456789abcdef';

/** The shipped catalog and the test secrets: what an app under test runs Stripe with. */
export function stripeConfigUnderTest(changes: Partial<StripeConfig> = {}): StripeConfig {
  return { ...loadConfig({}).stripe, webhookSecrets: [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET], ...changes };
}

export type DeliveryOptions = { secret?: string; timestampSeconds?: number };

/** Everything a delivery can leave behind, counted over the whole app (not one event id or one user). */
export type StoredTotals = {
  /** Rows of the operators' record of deliveries (stripe_deliveries). */
  deliveries: number;
  /** Events of every stream in the event store. */
  events: number;
  /** Events of the unmatched-payments stream (parked and assigned payments). */
  unmatchedPaymentEvents: number;
  /** Payments listed by GET /v1/admin/unmatched-payments. */
  unmatchedPayments: number;
};

/** Stripe's side of the webhook, and what operators and users then see, over HTTP. */
export function stripeWebhookClient(testApp: () => TestApp) {
  const http = () => request(testApp().app.getHttpServer());
  return {
    deliver(event: object, options: DeliveryOptions = {}) {
      const { body, signature } = signedDelivery(event, options.secret ?? WEBHOOK_SECRET, options.timestampSeconds);
      return http().post('/webhooks/stripe').set('Stripe-Signature', signature).type('json').send(body);
    },
    /** A raw request: a body and a signature header chosen by the test. */
    post(body: string, signature?: string) {
      const call = http().post('/webhooks/stripe').type('json');
      if (signature !== undefined) call.set('Stripe-Signature', signature);
      return call.send(body);
    },
    async balanceOf(userId: string): Promise<{ balance: number; frozenCredits: number }> {
      await projectionsCaughtUp(testApp().app);
      const response = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);
      return { balance: response.body.balance, frozenCredits: response.body.frozenCredits };
    },
    /** The user's ledger entries' types, oldest first. */
    async ledgerTypesOf(userId: string): Promise<string[]> {
      await projectionsCaughtUp(testApp().app);
      const response = await http()
        .get(`/v1/users/${userId}/ledger`)
        .query({ limit: 1000 })
        .set('Authorization', bearer('read'))
        .expect(200);
      return (response.body.entries as Array<{ eventType: string; version: number }>)
        .sort((a, b) => a.version - b.version)
        .map((entry) => entry.eventType);
    },
    async rechargeOf(userId: string, rechargeId: string): Promise<Record<string, unknown> | undefined> {
      return (await this.rechargesOf(userId)).find((row) => row.rechargeId === rechargeId);
    },
    /** The user's recharges, as the recharges read model lists them. */
    async rechargesOf(userId: string): Promise<Array<Record<string, unknown>>> {
      await projectionsCaughtUp(testApp().app);
      const response = await http()
        .get('/v1/recharges')
        .query({ userId })
        .set('Authorization', bearer('audit'))
        .expect(200);
      return response.body.recharges as Array<Record<string, unknown>>;
    },
    /** What is stored in all: compare before and after a delivery that must store nothing. */
    async storedTotals(): Promise<StoredTotals> {
      const store = testApp().app.get<EventStore>(EVENT_STORE);
      const db = testApp().app.get<SqlDriver>(READ_MODEL_DB);
      const [rows] = await db.query<{ count: string | number }>('select count(*) as count from stripe_deliveries');
      const unmatched = await http()
        .get('/v1/admin/unmatched-payments')
        .set('Authorization', bearer('admin'))
        .expect(200);
      return {
        deliveries: Number(rows.count),
        events: (await collect(store.readAll())).length,
        unmatchedPaymentEvents: (await collect(store.readStream(UNMATCHED_PAYMENTS_STREAM))).length,
        unmatchedPayments: (unmatched.body.payments as unknown[]).length,
      };
    },
    async deliveryOf(eventId: string): Promise<Record<string, unknown> | undefined> {
      const response = await http()
        .get('/v1/admin/stripe/events')
        .query({ limit: 1000 })
        .set('Authorization', bearer('admin'))
        .expect(200);
      return (response.body.events as Array<Record<string, unknown>>).find((row) => row.eventId === eventId);
    },
    admin: () => ({
      get: (path: string) => http().get(path).set('Authorization', bearer('admin')),
      post: (path: string) => http().post(path).set('Authorization', bearer('admin')),
    }),
    /** Requests made with the test key of one scope (see TEST_KEYS). */
    withKey: (scope: keyof typeof TEST_KEYS) => ({
      get: (path: string) => http().get(path).set('Authorization', bearer(scope)),
      post: (path: string) => http().post(path).set('Authorization', bearer(scope)),
    }),
    consume(userId: string, amount: number, reference: string) {
      return http()
        .post(`/v1/users/${userId}/consumptions`)
        .set('Authorization', bearer('consume'))
        .set('Idempotency-Key', reference)
        .send({ feature: 'video_generation', reference, amount });
    },
  };
}
