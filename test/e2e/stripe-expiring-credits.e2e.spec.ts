import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { loadConfig } from '@libs/config';
import { creditsStreamId } from '@libs/credits';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import type { StripeCatalog } from '@libs/stripe';
import { GrantExpiry, READ_MODEL_DB } from '@projections';
import {
  type InvoiceShape,
  checkoutSessionCompleted,
  invoice,
  paymentIntentSucceeded,
  stripeEvent,
  stripeId,
} from '../support/stripe-events';
import { unixSeconds, withPeriodEnds } from '../support/stripe-expiring-payments';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Credits that expire because the Stripe catalog says so, through the real app on every store: deliveries
 * signed with the real `stripe` package, a pack's `expiresAfter` counted from the created of the event that
 * reports the payment, a plan's `expiresAtPeriodEnd` at the period end of the paid invoice (both shapes), the
 * expiry shown in the grants list and the balance, and the expiry process expiring each grant once.
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
  plans: [
    ...loadConfig({}).stripe.catalog.plans,
    {
      planId: 'allowance_monthly',
      priceId: 'price_allowance_monthly',
      creditsPerPeriod: 300,
      metadataCreditsAllowed: false,
      expiresAtPeriodEnd: true,
    },
  ],
};

type Grant = { grantId: string; expiresAt: string | null; state: string; status: string } & Record<string, unknown>;

describe.each(storeKindsUnderTest())('Stripe credits that expire on %s', (kind) => {
  let testApp: TestApp;
  const stripe = stripeWebhookClient(() => testApp);

  beforeAll(async () => {
    testApp = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest({ catalog: CATALOG }) } });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const newUser = () => `user-${randomUUID()}`;
  const store = () => testApp.app.get<EventStore>(EVENT_STORE);

  /**
   * One pass of the expiry process as if run at `at`, on the read model as it stands once caught up; then how
   * many `CreditsExpired` the grant has in its user's stream (not the feed, which may show a commit a moment
   * later while an older transaction is open). The pass also expires other tests' grants due by then.
   */
  async function expireAt(at: string, grantId: string, userId: string): Promise<number> {
    await projectionsCaughtUp(testApp.app);
    await new GrantExpiry(store(), testApp.app.get<SqlDriver>(READ_MODEL_DB), () => new Date(at)).runOnce();
    let expiries = 0;
    for await (const event of store().readStream(creditsStreamId(userId))) {
      if (event.type === 'CreditsExpired' && (event.data as { grantId: string }).grantId === grantId) expiries++;
    }
    return expiries;
  }

  async function grantsOf(userId: string): Promise<Grant[]> {
    await projectionsCaughtUp(testApp.app);
    const response = await stripe.withKey('read').get(`/v1/users/${userId}/grants?status=all`).expect(200);
    return response.body.grants as Grant[];
  }

  async function balanceOf(userId: string) {
    await projectionsCaughtUp(testApp.app);
    return (await stripe.withKey('read').get(`/v1/users/${userId}/balance`).expect(200)).body;
  }

  /** A paid Checkout session of the one-month pack, its event made at `paidAt`. */
  function monthPackCheckout(userId: string | undefined, paidAt: string, paymentIntentId = stripeId('pi')) {
    const metadata = userId === undefined ? { packId: 'credits_month' } : { userId, packId: 'credits_month' };
    const user = userId === undefined ? { customer: stripeId('cus') } : { client_reference_id: userId };
    return checkoutSessionCompleted(
      { ...user, payment_intent: paymentIntentId, metadata },
      { created: unixSeconds(paidAt) },
    );
  }

  /** Whole seconds, as Stripe writes times: an instant that round-trips through `created`. */
  const nowInSeconds = () => DateTime.utc().startOf('second');
  const iso = (time: DateTime) => time.toISO()!;

  it('credits a pack with expiresAfter as a grant expiring a calendar month after the payment, shown in the grants and the balance, and expires it once', async () => {
    const userId = newUser();
    const paidAt = nowInSeconds();
    const expiresAt = iso(paidAt.plus({ months: 1 }));
    const paymentIntentId = stripeId('pi');
    await stripe.deliver(monthPackCheckout(userId, iso(paidAt), paymentIntentId)).expect(200);

    const [grant] = await grantsOf(userId);
    expect(grant).toMatchObject({ rechargeId: paymentIntentId, category: 'paid', expiresAt, state: 'active' });
    expect(await balanceOf(userId)).toMatchObject({
      balance: 100,
      spendable: 100,
      expiring: [{ grantId: grant.grantId, credits: 100, expiresAt }],
    });
    await stripe.consume(userId, 30, `render-${randomUUID()}`).expect(201);

    const justBefore = await expireAt(
      iso(paidAt.plus({ months: 1 }).minus({ milliseconds: 1 })),
      grant.grantId,
      userId,
    );
    const onTime = await expireAt(expiresAt, grant.grantId, userId);
    const again = await expireAt(iso(paidAt.plus({ months: 2 })), grant.grantId, userId);

    expect([justBefore, onTime, again]).toEqual([0, 1, 1]);
    expect(await grantsOf(userId)).toEqual([
      expect.objectContaining({ grantId: grant.grantId, status: 'expired', expiredCredits: 70, remainingCredits: 0 }),
    ]);
    expect(await balanceOf(userId)).toMatchObject({ balance: 0, spendable: 0, expiring: [] });
  });

  it('keeps the expiry of the first delivery: a redelivery, and the payment intent’s own event an hour later, change nothing', async () => {
    const userId = newUser();
    const paidAt = nowInSeconds();
    const paymentIntentId = stripeId('pi');
    const session = monthPackCheckout(userId, iso(paidAt), paymentIntentId);
    const intent = paymentIntentSucceeded(
      { id: paymentIntentId, metadata: { userId, packId: 'credits_month' } },
      { created: unixSeconds(iso(paidAt.plus({ hours: 1 }))) },
    );

    await stripe.deliver(session).expect(200);
    await stripe.deliver(session).expect(200);
    await stripe.deliver(intent).expect(200);

    expect(await stripe.deliveryOf(intent.id)).toMatchObject({ status: 'duplicate' });
    expect(await grantsOf(userId)).toEqual([
      expect.objectContaining({ rechargeId: paymentIntentId, expiresAt: iso(paidAt.plus({ months: 1 })) }),
    ]);
  });

  it('credits a payment delivered after its pack expired, then the expiry process expires it once', async () => {
    const userId = newUser();
    const paidAt = nowInSeconds().minus({ days: 40 });
    await stripe.deliver(monthPackCheckout(userId, iso(paidAt))).expect(200);

    const [grant] = await grantsOf(userId);
    expect(grant).toMatchObject({ expiresAt: iso(paidAt.plus({ months: 1 })), state: 'expired', status: 'active' });
    expect(await balanceOf(userId)).toMatchObject({ balance: 100, spendable: 0, expiring: [] });
    await stripe.consume(userId, 1, `render-${randomUUID()}`).expect(402);

    const now = () => new Date().toISOString();
    const passes = [await expireAt(now(), grant.grantId, userId), await expireAt(now(), grant.grantId, userId)];

    expect(passes).toEqual([1, 1]);
    expect(await balanceOf(userId)).toMatchObject({ balance: 0, spendable: 0 });
  });

  it('gives a parked pack payment, once assigned, the expiry counted from its payment', async () => {
    const userId = newUser();
    const paidAt = nowInSeconds().minus({ days: 2 });
    const paymentIntentId = stripeId('pi');
    await stripe.deliver(monthPackCheckout(undefined, iso(paidAt), paymentIntentId)).expect(200);

    await stripe.admin().post(`/v1/admin/unmatched-payments/${paymentIntentId}/assign`).send({ userId }).expect(201);

    expect(await grantsOf(userId)).toEqual([
      expect.objectContaining({ rechargeId: paymentIntentId, expiresAt: iso(paidAt.plus({ months: 1 })) }),
    ]);
  });

  describe.each<InvoiceShape>(['legacy', 'current'])(
    'a plan with expiresAtPeriodEnd, invoice of the %s shape',
    (shape) => {
      it('credits each paid period as a grant expiring at the period end, expired once after it', async () => {
        const userId = newUser();
        const periodEnd = nowInSeconds().plus({ days: 30 });
        const paid = invoice({
          shape,
          subscriptionMetadata: { userId },
          lines: [{ priceId: 'price_allowance_monthly' }],
        });
        const event = stripeEvent('invoice.paid', withPeriodEnds(paid, [iso(periodEnd)]));
        await stripe.deliver(event).expect(200);

        const [grant] = await grantsOf(userId);
        expect(grant).toMatchObject({ rechargeId: paid.id, grantedCredits: 300, expiresAt: iso(periodEnd) });
        expect((await balanceOf(userId)).expiring).toEqual([
          { grantId: grant.grantId, credits: 300, expiresAt: iso(periodEnd) },
        ]);

        const passes = [
          await expireAt(iso(periodEnd.minus({ milliseconds: 1 })), grant.grantId, userId),
          await expireAt(iso(periodEnd), grant.grantId, userId),
          await expireAt(iso(periodEnd.plus({ days: 1 })), grant.grantId, userId),
        ];

        expect(passes).toEqual([0, 1, 1]);
        expect(await balanceOf(userId)).toMatchObject({ balance: 0 });
      });

      it('leaves the periods of a plan without expiresAtPeriodEnd never expiring, as before', async () => {
        const userId = newUser();
        const paid = invoice({ shape, subscriptionMetadata: { userId }, lines: [{ priceId: 'price_basic_monthly' }] });
        await stripe.deliver(stripeEvent('invoice.paid', paid)).expect(200);

        expect(await grantsOf(userId)).toEqual([expect.objectContaining({ grantedCredits: 1000, expiresAt: null })]);
      });
    },
  );
});
