import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { loadConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import type { StripeCatalog } from '@libs/stripe';
import { GrantExpiry, READ_MODEL_DB } from '@projections';
import { type InvoiceShape, checkoutSessionCompleted, invoice, stripeEvent, stripeId } from '../support/stripe-events';
import { withPeriods } from '../support/stripe-expiring-payments';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * A plan period's carry-over through the real app on every store: deliveries
 * signed with the real `stripe` package, the catalog's `rollover` and the
 * invoice line's period (both shapes) giving the recharge its carry-over, the
 * expiry process carrying what is left at the period end into a grant that
 * lasts until the next period's end (once, however often it runs), and that
 * grant expiring once at its own end; as the grants list and the balance show it.
 */
const CATALOG: StripeCatalog = {
  ...loadConfig({}).stripe.catalog,
  packs: [
    ...loadConfig({}).stripe.catalog.packs,
    { packId: 'credits_500', priceId: 'price_credits_500', creditsPerUnit: 500, metadataCreditsAllowed: false },
  ],
  plans: [
    ...loadConfig({}).stripe.catalog.plans,
    {
      planId: 'allowance_carry_100',
      priceId: 'price_allowance_carry_100',
      creditsPerPeriod: 300,
      metadataCreditsAllowed: false,
      expiresAtPeriodEnd: true,
      rollover: 100,
    },
    {
      planId: 'allowance_carry_all',
      priceId: 'price_allowance_carry_all',
      creditsPerPeriod: 300,
      metadataCreditsAllowed: false,
      expiresAtPeriodEnd: true,
      rollover: 'all',
    },
  ],
};

type Grant = {
  grantId: string;
  expiresAt: string | null;
  state: string;
  status: string;
  rolledOverCredits: number;
  sourceGrantId: string | null;
  rolledInto: string | null;
} & Record<string, unknown>;

/** How many events of the type name each grant (by `data.grantId`) in the whole store. */
async function closingsByGrant(store: EventStore, type: 'CreditsExpired' | 'CreditsRolledOver') {
  const counts = new Map<string, number>();
  for await (const event of store.readAll({ batchSize: 5000 })) {
    if (event.type !== type) continue;
    const { grantId } = event.data as { grantId: string };
    counts.set(grantId, (counts.get(grantId) ?? 0) + 1);
  }
  return counts;
}

describe.each(storeKindsUnderTest())('Stripe plan periods that carry credits over on %s', (kind) => {
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
  const iso = (time: DateTime) => time.toISO()!;

  /**
   * One pass of the expiry process as if run at `at`; then how many times the grant was carried over and
   * expired. The pass also closes other tests' grants due by then: counted by grant.
   */
  async function expireAt(at: DateTime, grantId: string): Promise<{ rolledOver: number; expired: number }> {
    await projectionsCaughtUp(testApp.app);
    await new GrantExpiry(store(), testApp.app.get<SqlDriver>(READ_MODEL_DB), () => at.toJSDate()).runOnce();
    return {
      rolledOver: (await closingsByGrant(store(), 'CreditsRolledOver')).get(grantId) ?? 0,
      expired: (await closingsByGrant(store(), 'CreditsExpired')).get(grantId) ?? 0,
    };
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

  /**
   * A monthly period under way: it began ten days ago (on a day of the month every month has, so the period
   * after it ends on the same day two months after its start) and ends a calendar month after it began.
   */
  function periodUnderWay() {
    const now = DateTime.utc().startOf('second');
    const tenDaysAgo = now.minus({ days: 10 });
    const start = tenDaysAgo.day > 28 ? tenDaysAgo.set({ day: 28 }) : tenDaysAgo;
    return { start, end: start.plus({ months: 1 }), nextEnd: start.plus({ months: 2 }) };
  }

  function invoicePaid(
    shape: InvoiceShape,
    priceId: string,
    period: { start: DateTime; end: DateTime },
    userId?: string,
  ) {
    const paid = invoice({
      shape,
      subscriptionMetadata: userId === undefined ? {} : { userId },
      lines: [{ priceId }],
      // A customer of its own: the fixture's is every test's, and a payment without a user goes to its customer's.
      overrides: { customer: stripeId('cus') },
    });
    const object = withPeriods(paid, [{ start: iso(period.start), end: iso(period.end) }]);
    return { invoiceId: paid.id as string, event: stripeEvent('invoice.paid', object) };
  }

  describe.each<InvoiceShape>(['legacy', 'current'])('an invoice of the %s shape', (shape) => {
    it('carries at most 100 of what is left into a grant until the next period’s end, once; that grant expires once at its end', async () => {
      const userId = newUser();
      const period = periodUnderWay();
      const { invoiceId, event } = invoicePaid(shape, 'price_allowance_carry_100', period, userId);
      await stripe.deliver(event).expect(200);

      const [paid] = await grantsOf(userId);
      expect(paid).toMatchObject({
        rechargeId: invoiceId,
        grantedCredits: 300,
        expiresAt: iso(period.end),
        rolledOverCredits: 0,
        sourceGrantId: null,
        rolledInto: null,
      });
      await stripe.consume(userId, 120, `render-${randomUUID()}`).expect(201);

      const justBefore = await expireAt(period.end.minus({ milliseconds: 1 }), paid.grantId);
      const atTheEnd = await expireAt(period.end, paid.grantId);

      expect([justBefore, atTheEnd]).toEqual([
        { rolledOver: 0, expired: 0 },
        { rolledOver: 1, expired: 0 },
      ]);
      const afterCarry = await grantsOf(userId);
      const carried = afterCarry.find((grant) => grant.grantId !== paid.grantId)!;
      expect(afterCarry).toEqual([
        expect.objectContaining({
          grantId: paid.grantId,
          state: 'expired',
          status: 'expired',
          spentCredits: 120,
          expiredCredits: 80,
          rolledOverCredits: 100,
          remainingCredits: 0,
          rolledInto: carried.grantId,
          sourceGrantId: null,
        }),
        expect.objectContaining({
          category: 'paid',
          state: 'active',
          status: 'active',
          grantedCredits: 100,
          remainingCredits: 100,
          expiresAt: iso(period.nextEnd),
          rechargeId: null,
          sourceGrantId: paid.grantId,
          rolledInto: null,
          rolledOverCredits: 0,
        }),
      ]);
      expect(await balanceOf(userId)).toMatchObject({
        balance: 100,
        spendable: 100,
        expiring: [{ grantId: carried.grantId, credits: 100, expiresAt: iso(period.nextEnd) }],
      });

      const again = [
        await expireAt(period.end, paid.grantId),
        await expireAt(period.end.plus({ days: 1 }), paid.grantId),
      ];

      expect(again).toEqual([
        { rolledOver: 1, expired: 0 },
        { rolledOver: 1, expired: 0 },
      ]);
      expect(await grantsOf(userId)).toEqual(afterCarry);

      const carriedPasses = [
        await expireAt(period.nextEnd.minus({ milliseconds: 1 }), carried.grantId),
        await expireAt(period.nextEnd, carried.grantId),
        await expireAt(period.nextEnd.plus({ days: 1 }), carried.grantId),
      ];

      // Carried credits are not carried again: they lapse.
      expect(carriedPasses).toEqual([
        { rolledOver: 0, expired: 0 },
        { rolledOver: 0, expired: 1 },
        { rolledOver: 0, expired: 1 },
      ]);
      expect((await grantsOf(userId))[1]).toMatchObject({
        grantId: carried.grantId,
        status: 'expired',
        expiredCredits: 100,
        rolledOverCredits: 0,
        remainingCredits: 0,
        rolledInto: null,
      });
      expect(await balanceOf(userId)).toMatchObject({ balance: 0, spendable: 0, expiring: [] });
    });

    it('carries everything left with rollover "all"', async () => {
      const userId = newUser();
      const period = periodUnderWay();
      await stripe.deliver(invoicePaid(shape, 'price_allowance_carry_all', period, userId).event).expect(200);
      const [paid] = await grantsOf(userId);
      await stripe.consume(userId, 120, `render-${randomUUID()}`).expect(201);

      expect(await expireAt(period.end, paid.grantId)).toEqual({ rolledOver: 1, expired: 0 });
      const [expired, carried] = await grantsOf(userId);
      expect(expired).toMatchObject({ status: 'expired', expiredCredits: 0, rolledOverCredits: 180 });
      expect(carried).toMatchObject({
        grantedCredits: 180,
        remainingCredits: 180,
        expiresAt: iso(period.nextEnd),
        sourceGrantId: paid.grantId,
      });
      expect(await balanceOf(userId)).toMatchObject({ balance: 180, spendable: 180 });
    });
  });

  it('carries over the period of a parked payment, once assigned, on the terms it was paid on', async () => {
    const userId = newUser();
    const period = periodUnderWay();
    const { invoiceId, event } = invoicePaid('current', 'price_allowance_carry_100', period);
    await stripe.deliver(event).expect(200);

    await stripe.admin().post(`/v1/admin/unmatched-payments/${invoiceId}/assign`).send({ userId }).expect(201);
    const [paid] = await grantsOf(userId);

    expect(await expireAt(period.end, paid.grantId)).toEqual({ rolledOver: 1, expired: 0 });
    expect((await grantsOf(userId))[1]).toMatchObject({
      grantedCredits: 100,
      expiresAt: iso(period.nextEnd),
      sourceGrantId: paid.grantId,
    });
  });

  it('the README’s worked example sold through Stripe: the welcome bonus, then the period’s credits, the pack last; 30 carried', async () => {
    const userId = newUser();
    const period = periodUnderWay();
    await stripe.deliver(invoicePaid('current', 'price_allowance_carry_100', period, userId).event).expect(200);
    await stripe
      .withKey('grant')
      .post(`/v1/users/${userId}/bonuses`)
      .set('Idempotency-Key', `welcome-${userId}`)
      .send({ amount: 50, reason: 'welcome', expiresIn: 'P30D' })
      .expect(201);
    const pack = checkoutSessionCompleted({
      client_reference_id: userId,
      payment_intent: stripeId('pi'),
      metadata: { userId, packId: 'credits_500' },
    });
    await stripe.deliver(pack).expect(200);
    await stripe.consume(userId, 320, `render-${randomUUID()}`).expect(201);

    const [allowance, welcome, bought] = await grantsOf(userId);
    expect([allowance.remainingCredits, welcome.remainingCredits, bought.remainingCredits]).toEqual([30, 0, 500]);
    expect(await expireAt(period.end, allowance.grantId)).toEqual({ rolledOver: 1, expired: 0 });
    expect((await grantsOf(userId))[3]).toMatchObject({
      grantedCredits: 30,
      expiresAt: iso(period.nextEnd),
      sourceGrantId: allowance.grantId,
    });
    expect(await balanceOf(userId)).toMatchObject({ balance: 530 });
  });

  it('documents the carry-over fields of a grant in the OpenAPI document', async () => {
    const response = await stripe.withKey('read').get('/docs-json').expect(200);
    const schemas = (response.body as { components: { schemas: Record<string, { properties: object }> } }).components
      .schemas;

    expect(Object.keys(schemas.GrantResponse.properties)).toEqual(
      expect.arrayContaining(['rolledOverCredits', 'sourceGrantId', 'rolledInto']),
    );
  });
});
