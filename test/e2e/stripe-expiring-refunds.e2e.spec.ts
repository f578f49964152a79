import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { loadConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import type { StripeCatalog } from '@libs/stripe';
import { GrantExpiry, READ_MODEL_DB } from '@projections';
import { chargeRefunded, checkoutSessionCompleted, packCheckoutCompleted, stripeId } from '../support/stripe-events';
import { unixSeconds } from '../support/stripe-expiring-payments';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * A refund of a pack whose credits expired, through the real app on every store (money rule 3): the
 * credits that lapsed count as taken back and nothing moves for them, so the user's other credits, a pack
 * that never expires, are untouched. Before it, such a refund took the lapsed pack's share from the other
 * pack. Deliveries are signed with the real `stripe` package; the expiry process runs as its loop would.
 */
const CATALOG: StripeCatalog = {
  ...loadConfig({}).stripe.catalog,
  packs: [
    ...loadConfig({}).stripe.catalog.packs,
    {
      packId: 'credits_month',
      priceId: 'price_credits_month',
      creditsPerUnit: 100,
      metadataCreditsAllowed: false,
      expiresAfter: 'P1M',
    },
  ],
};

describe.each(storeKindsUnderTest())('refunds of Stripe credits that expired, on %s', (kind) => {
  let testApp: TestApp;
  const stripe = stripeWebhookClient(() => testApp);

  beforeAll(async () => {
    testApp = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest({ catalog: CATALOG }) } });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  async function runExpiry(): Promise<void> {
    await projectionsCaughtUp(testApp.app);
    const store = testApp.app.get<EventStore>(EVENT_STORE);
    await new GrantExpiry(store, testApp.app.get<SqlDriver>(READ_MODEL_DB)).runOnce();
  }

  async function eventsOf(userId: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
    await projectionsCaughtUp(testApp.app);
    const response = await stripe.withKey('audit').get(`/v1/users/${userId}/events`).expect(200);
    return response.body.events;
  }

  it('counts the lapsed credits of the refunded pack as taken back, and leaves the pack that never expires alone', async () => {
    const userId = `user-${randomUUID()}`;
    const lasting = stripeId('pi');
    const monthly = stripeId('pi');
    // The month pack's webhook arrives two months late: its credits lapsed a month ago.
    const paidAt = DateTime.utc().startOf('second').minus({ months: 2 });
    await stripe.deliver(packCheckoutCompleted(userId, lasting)).expect(200);
    await stripe
      .deliver(
        checkoutSessionCompleted(
          { client_reference_id: userId, payment_intent: monthly, metadata: { userId, packId: 'credits_month' } },
          { created: unixSeconds(paidAt.toISO()) },
        ),
      )
      .expect(200);
    await runExpiry();

    const refund = chargeRefunded({ id: monthly.replace(/^pi_/, 'ch_'), payment_intent: monthly });
    expect((await stripe.deliver(refund).expect(200)).body).toMatchObject({ userId });

    await projectionsCaughtUp(testApp.app);
    const balance = await stripe.withKey('read').get(`/v1/users/${userId}/balance`).expect(200);
    expect(balance.body).toMatchObject({ balance: 100, spendable: 100 });
    const refunded = (await eventsOf(userId)).find((event) => event.type === 'RechargeRefunded');
    expect(refunded?.data).toMatchObject({
      creditsTakenBack: 100,
      creditsLapsed: 100,
      creditsDebited: 0,
      takenFrom: [],
    });
  });
});
