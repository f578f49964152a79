import { randomUUID } from 'node:crypto';
import {
  chargeRefunded,
  chargeSucceeded,
  checkoutSessionAsyncPaymentSucceeded,
  checkoutSessionCompleted,
  invoicePaid,
  invoicePaymentFailed,
  paymentIntentSucceeded,
  type StripeTestEvent,
  signedBody,
  signedDelivery,
  stripeEvent,
  stripeId,
  subscriptionUpdated,
} from '../support/stripe-events';
import {
  OLD_WEBHOOK_SECRET,
  type StoredTotals,
  WEBHOOK_SECRET,
  stripeConfigUnderTest,
  stripeWebhookClient,
} from '../support/stripe-webhook-client';
import { restoreRewrittenStrings } from '@libs/http';
import request from 'supertest';
import { type TestApp, bearer, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Stripe's webhook end to end: deliveries signed with the real `stripe`
 * package, payloads built from Stripe's own fixtures, through the real app on
 * every store. Catalog: config/stripe-catalog.json (credits_100 = 100 credits,
 * basic_monthly = 1,000 credits a period).
 */
const PACK_CREDITS = 100;
const PLAN_CREDITS = 1_000;

describe.each(storeKindsUnderTest())('Stripe webhook on %s', (kind) => {
  let testApp: TestApp;
  const stripe = stripeWebhookClient(() => testApp);

  beforeAll(async () => {
    testApp = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest() } });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const newUser = () => `user-${randomUUID()}`;
  /** A Checkout payment of the 100-credit pack, as our checkout helper sets it up. */
  const packPayment = (userId: string) => {
    const paymentIntentId = stripeId('pi');
    const metadata = { userId, packId: 'credits_100' };
    return {
      paymentIntentId,
      session: checkoutSessionCompleted({ client_reference_id: userId, payment_intent: paymentIntentId, metadata }),
      paymentIntent: paymentIntentSucceeded({ id: paymentIntentId, metadata }),
      charge: chargeSucceeded({ payment_intent: paymentIntentId }),
    };
  };
  /** A payment no user can be found for: accepted, it would be parked on the unmatched-payments stream. */
  const unmatchedPayment = () => paymentIntentSucceeded({ customer: stripeId('cus'), metadata: { credits: '300' } });

  /** A refused delivery left the deliveries table, the event store and the unmatched payments as they were. */
  async function expectNothingStoredSince(before: StoredTotals): Promise<void> {
    expect(await stripe.storedTotals()).toEqual(before);
  }

  function expectInvalidDelivery(response: request.Response): void {
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body.type).toMatch(/\/problems\/invalid-stripe-delivery$/);
  }

  describe('a delivery that does not verify is refused with 400 and leaves nothing behind', () => {
    type Fault = { withoutHeader?: boolean; secret?: string; tamper?: boolean; timestampSeconds?: number };
    const FAULTS: Array<[string, Fault]> = [
      ['no Stripe-Signature header', { withoutHeader: true }],
      ['a signature made with another secret', { secret: 'whsec_someone_else_0123456789' }],
      ['a body changed after signing', { tamper: true }],
      ['a timestamp older than 300 s', { timestampSeconds: Math.floor(Date.now() / 1000) - 301 }],
    ];

    it.each(FAULTS)('%s', async (_, fault) => {
      const userId = newUser();
      const { session } = packPayment(userId);
      const signed = signedDelivery(session, fault.secret ?? WEBHOOK_SECRET, fault.timestampSeconds);
      const body = fault.tamper ? signed.body.replace(`"${userId}"`, `"${newUser()}"`) : signed.body;
      const before = await stripe.storedTotals();

      const response = await stripe.post(body, fault.withoutHeader ? undefined : signed.signature);

      expectInvalidDelivery(response);
      expect(await stripe.deliveryOf(session.id)).toBeUndefined();
      expect(await stripe.ledgerTypesOf(userId)).toEqual([]);
      await expectNothingStoredSince(before);
    });

    it.each(FAULTS)('%s, for a payment no user is found for: nothing parked', async (_, fault) => {
      const paymentIntent = unmatchedPayment();
      const signed = signedDelivery(paymentIntent, fault.secret ?? WEBHOOK_SECRET, fault.timestampSeconds);
      const body = fault.tamper ? signed.body.replace('"credits":"300"', '"credits":"3000"') : signed.body;
      expect(body === signed.body).toBe(!fault.tamper);
      const before = await stripe.storedTotals();

      const response = await stripe.post(body, fault.withoutHeader ? undefined : signed.signature);

      expectInvalidDelivery(response);
      await expectNothingStoredSince(before);
    });

    it('stores the same payloads when they verify: what the refusals above are compared with', async () => {
      const userId = newUser();
      const { session } = packPayment(userId);
      const before = await stripe.storedTotals();

      await stripe.deliver(session).expect(200);
      await stripe.deliver(unmatchedPayment()).expect(200);

      expect(await stripe.storedTotals()).toEqual({
        deliveries: before.deliveries + 2,
        events: before.events + 2,
        unmatchedPaymentEvents: before.unmatchedPaymentEvents + 1,
        unmatchedPayments: before.unmatchedPayments + 1,
      });
    });

    it('a body that is not JSON, under a signature made for it', async () => {
      const body = '{"id": "evt_1", ';
      const { signature } = signedBody(body, WEBHOOK_SECRET);
      const before = await stripe.storedTotals();

      const response = await stripe.post(body, signature);

      expectInvalidDelivery(response);
      expect(response.body).toMatchObject({ detail: 'the body is not valid JSON' });
      await expectNothingStoredSince(before);
    });

    /** A paid pack session for a fresh user, changed by `change` and signed as it is: it verifies. */
    const changedSession = (change: (event: Record<string, unknown>) => unknown) => {
      const { session } = packPayment(newUser());
      return JSON.stringify(change({ ...session }));
    };
    const without =
      (field: string) =>
      ({ [field]: _, ...rest }: Record<string, unknown>) =>
        rest;
    it.each<[string, () => string, string]>([
      [
        'an id that is not an event’s',
        () => changedSession((event) => ({ ...event, id: stripeId('ch') })),
        'no event id',
      ],
      ['no id', () => changedSession(without('id')), 'no event id'],
      [
        'an id longer than 255 characters',
        () => changedSession((e) => ({ ...e, id: `evt_${'a'.repeat(252)}` })),
        'no event id',
      ],
      ['no type', () => changedSession(without('type')), 'no event type'],
      ['an empty type', () => changedSession((event) => ({ ...event, type: '' })), 'no event type'],
      ['no created', () => changedSession(without('created')), 'no creation time'],
      [
        'a created that is not a number',
        () => changedSession((e) => ({ ...e, created: '2024-01-01' })),
        'no creation time',
      ],
      ['no data', () => changedSession(without('data')), 'no data.object'],
      ['no data.object', () => changedSession((event) => ({ ...event, data: {} })), 'no data.object'],
      ['a data.object that is null', () => changedSession((e) => ({ ...e, data: { object: null } })), 'no data.object'],
      ['JSON null', () => 'null', 'no event id'],
      ['a JSON array', () => '[]', 'no event id'],
    ])('a body that verifies but is not a Stripe event: %s', async (_, build, detail) => {
      const body = build();
      const { signature } = signedBody(body, WEBHOOK_SECRET);
      const before = await stripe.storedTotals();

      const response = await stripe.post(body, signature);

      expectInvalidDelivery(response);
      expect(response.body).toMatchObject({ detail });
      await expectNothingStoredSince(before);
    });

    it('accepts a delivery signed with the previous secret during a rotation', async () => {
      const userId = newUser();
      const { session } = packPayment(userId);

      const response = await stripe.deliver(session, { secret: OLD_WEBHOOK_SECRET }).expect(200);

      expect(response.body).toMatchObject({ eventId: session.id, status: 'credited', userId });
    });
  });

  describe('one-off payments', () => {
    it('credits a paid Checkout session once, keyed by its payment intent', async () => {
      const userId = newUser();
      const { session, paymentIntentId } = packPayment(userId);

      const response = await stripe.deliver(session).expect(200);

      expect(response.body).toEqual({ eventId: session.id, status: 'credited', userId, rechargeId: paymentIntentId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
      expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
        credits: PACK_CREDITS,
        amountPaid: 1000,
        currency: 'usd',
        status: 'completed',
        checkoutSessionId: objectOf(session).id,
        paymentIntentId,
      });
      expect(await stripe.deliveryOf(session.id)).toMatchObject({ status: 'credited', deliveries: 1 });
      const events = await stripe.admin().get(`/v1/users/${userId}/events`).expect(200);
      expect(events.body.events[0].causedBy).toEqual({ stripeEventId: session.id });
    });

    it('credits one payment once whatever the order of its events, each delivered three times at once', async () => {
      const orders = permutations(['session', 'paymentIntent', 'charge'] as const);
      await Promise.all(
        orders.map(async (order) => {
          const userId = newUser();
          const payment = packPayment(userId);
          const deliveries = order.flatMap((name) => [payment[name], payment[name], payment[name]]);

          const responses = await Promise.all(deliveries.map((event) => stripe.deliver(event)));

          expect(responses.map((response) => response.status)).toEqual(deliveries.map(() => 200));
          expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
          expect(await stripe.ledgerTypesOf(userId)).toEqual(['RechargeCompleted']);
          const credited = await Promise.all(
            [payment.session, payment.paymentIntent].map((event) => stripe.deliveryOf(event.id)),
          );
          expect(credited.map((delivery) => delivery?.status).sort()).toEqual(['credited', 'duplicate']);
          expect(responses.map((response) => response.body.status)).not.toContain('failed');
          expect(await stripe.deliveryOf(payment.charge.id)).toMatchObject({ status: 'ignored', deliveries: 3 });
        }),
      );
    });

    type PaymentEventName = 'session' | 'paymentIntent' | 'charge';
    const threeTimes: Array<[string, (order: PaymentEventName[]) => PaymentEventName[]]> = [
      ['each event three times in a row', (order) => order.flatMap((name) => [name, name, name])],
      ['the whole order three times over', (order) => [...order, ...order, ...order]],
    ];
    it.each(
      permutations<PaymentEventName>(['session', 'paymentIntent', 'charge']).flatMap((order) =>
        threeTimes.map(([pattern, repeat]) => [order.join(', '), pattern, repeat(order)] as const),
      ),
    )('credits one payment once when its events come one after another: %s, %s', async (_, __, sequence) => {
      const userId = newUser();
      const payment = packPayment(userId);

      const statuses: string[] = [];
      for (const name of sequence) {
        const response = await stripe.deliver(payment[name]);
        expect(response.status).toBe(200);
        statuses.push(response.body.status);
      }

      // The first of the session and the payment intent credits, every later one is a duplicate; a charge credits nothing.
      const firstPaid = sequence.findIndex((name) => name !== 'charge');
      expect(statuses).toEqual(
        sequence.map((name, index) => (name === 'charge' ? 'ignored' : index === firstPaid ? 'credited' : 'duplicate')),
      );
      expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
      expect(await stripe.ledgerTypesOf(userId)).toEqual(['RechargeCompleted']);
      expect(await stripe.rechargesOf(userId)).toEqual([
        expect.objectContaining({
          rechargeId: payment.paymentIntentId,
          credits: PACK_CREDITS,
          amountPaid: 1000,
          status: 'completed',
        }),
      ]);
      for (const name of ['session', 'paymentIntent', 'charge'] as const) {
        expect(await stripe.deliveryOf(payment[name].id)).toMatchObject({ deliveries: 3 });
      }
    });

    it('credits a signed session whose metadata holds a NUL and a lone surrogate, and keeps them recoverable', async () => {
      const userId = newUser();
      const paymentIntentId = stripeId('pi');
      const hostile = { note: 'before\u0000after', ['key\u0000']: 'lone \ud800 surrogate' };
      const session = checkoutSessionCompleted({
        client_reference_id: userId,
        payment_intent: paymentIntentId,
        metadata: { userId, packId: 'credits_100', ...hostile },
      });
      const parked = paymentIntentSucceeded({ customer: stripeId('cus'), metadata: { credits: '300', ...hostile } });

      const credited = await stripe.deliver(session).expect(200);
      const parking = await stripe.deliver(parked).expect(200);

      expect(credited.body).toEqual({ eventId: session.id, status: 'credited', userId, rechargeId: paymentIntentId });
      expect(parking.body).toMatchObject({ status: 'parked' });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
      expect(await stripe.deliveryOf(session.id)).toMatchObject({ status: 'credited', deliveries: 1 });
      // The parked payment's Stripe object is stored with those strings rewritten, and restored exactly.
      const listed = await stripe.admin().get('/v1/admin/unmatched-payments').expect(200);
      const stored = (listed.body.payments as Array<{ paymentId: string; object: { metadata: object } }>).find(
        (payment) => payment.paymentId === objectOf(parked).id,
      );
      expect(stored?.object.metadata).not.toEqual(objectOf(parked).metadata);
      expect(restoreRewrittenStrings(stored?.object.metadata)).toEqual(objectOf(parked).metadata);
    });

    it('credits a delayed payment method when its async payment succeeds', async () => {
      const userId = newUser();
      const pending = checkoutSessionCompleted({
        client_reference_id: userId,
        payment_status: 'unpaid',
        metadata: { packId: 'credits_100' },
      });
      const succeeded = checkoutSessionAsyncPaymentSucceeded({
        id: objectOf(pending).id,
        client_reference_id: userId,
        payment_intent: objectOf(pending).payment_intent,
        metadata: { packId: 'credits_100' },
      });

      expect((await stripe.deliver(pending).expect(200)).body).toMatchObject({ status: 'ignored' });
      expect((await stripe.deliver(succeeded).expect(200)).body).toMatchObject({ status: 'credited', userId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
    });

    it('credits a payment intent made without Checkout from its metadata', async () => {
      const userId = newUser();
      const paymentIntent = paymentIntentSucceeded({ metadata: { userId, credits: '250' } });

      expect((await stripe.deliver(paymentIntent).expect(200)).body).toMatchObject({ status: 'credited', userId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 250, frozenCredits: 0 });
    });
  });

  describe.each(['legacy', 'current'] as const)('subscriptions, %s invoice shape', (shape) => {
    it('credits each paid invoice of a subscription once: two periods twice, one invoice redelivered once', async () => {
      const userId = newUser();
      const subscriptionId = stripeId('sub');
      const customer = stripeId('cus');
      const period = (invoiceId: string) =>
        invoicePaid({
          shape,
          id: invoiceId,
          subscriptionId,
          subscriptionMetadata: { userId },
          overrides: { customer },
        });
      const [first, second] = [stripeId('in'), stripeId('in')];

      for (const event of [period(first), period(first), period(second)]) await stripe.deliver(event).expect(200);

      expect(await stripe.balanceOf(userId)).toEqual({ balance: 2 * PLAN_CREDITS, frozenCredits: 0 });
      expect(await stripe.ledgerTypesOf(userId)).toEqual(['RechargeCompleted', 'RechargeCompleted']);
      expect(await stripe.rechargeOf(userId, first)).toMatchObject({ invoiceId: first, subscriptionId });
    });

    it('finds the user of a renewal without metadata from the customer of an earlier payment', async () => {
      const userId = newUser();
      const customer = stripeId('cus');
      const subscriptionId = stripeId('sub');
      await stripe
        .deliver(invoicePaid({ shape, subscriptionId, subscriptionMetadata: { userId }, overrides: { customer } }))
        .expect(200);
      await stripe.balanceOf(userId);

      const renewal = invoicePaid({ shape, subscriptionId, overrides: { customer } });
      const response = await stripe.deliver(renewal).expect(200);

      expect(response.body).toMatchObject({ status: 'credited', userId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 2 * PLAN_CREDITS, frozenCredits: 0 });
    });

    it('does not credit the subscription’s Checkout session: its first invoice does', async () => {
      const userId = newUser();
      const session = checkoutSessionCompleted({ mode: 'subscription', client_reference_id: userId });

      expect((await stripe.deliver(session).expect(200)).body).toMatchObject({ status: 'ignored' });
      expect(await stripe.ledgerTypesOf(userId)).toEqual([]);
    });
  });

  describe('events that change no credits', () => {
    it.each([
      ['customer.subscription.updated', () => subscriptionUpdated({ status: 'past_due' })],
      ['invoice.payment_failed', () => invoicePaymentFailed({ shape: 'current' })],
      ['an unknown type', () => stripeEvent('product.created', { id: stripeId('prod'), object: 'product' })],
    ])('%s is recorded as ignored and answered 200', async (_, build) => {
      const event = build();

      const response = await stripe.deliver(event).expect(200);

      expect(response.body).toMatchObject({ eventId: event.id, status: 'ignored', reason: expect.any(String) });
      expect(await stripe.deliveryOf(event.id)).toMatchObject({ status: 'ignored', eventType: event.type });
    });
  });

  describe('the operators’ record of deliveries', () => {
    it('lists deliveries newest first by status and event type, a page at a time', async () => {
      const ignored = [subscriptionUpdated(), subscriptionUpdated(), subscriptionUpdated()];
      for (const event of ignored) await stripe.deliver(event).expect(200);
      const list = (query: Record<string, string | number>) =>
        stripe.admin().get('/v1/admin/stripe/events').query(query).expect(200);

      const first = await list({ status: 'ignored', type: 'customer.subscription.updated', limit: 2 });
      const second = await list({
        status: 'ignored',
        type: 'customer.subscription.updated',
        limit: 2,
        cursor: first.body.nextCursor,
      });

      const ids = [...first.body.events, ...second.body.events].map((event: { eventId: string }) => event.eventId);
      expect(ids.slice(0, 3)).toEqual(ignored.map((event) => event.id).reverse());
      expect(first.body.events[0]).toMatchObject({
        eventType: 'customer.subscription.updated',
        status: 'ignored',
        reason: expect.any(String),
        deliveries: 1,
        processedAt: expect.any(String),
      });
      const credited = await list({ status: 'credited' });
      expect(credited.body.events.every((event: { status: string }) => event.status === 'credited')).toBe(true);
    });

    it('counts deliveries by event type and outcome in /metrics, rejected ones too', async () => {
      await stripe.deliver(subscriptionUpdated()).expect(200);
      await stripe.post('{}', 't=1,v1=forged').expect(400);

      const metrics = await request(testApp.app.getHttpServer()).get('/metrics').expect(200);

      expect(metrics.text).toMatch(
        /stripe_webhook_deliveries_total\{event_type="customer.subscription.updated",outcome="ignored"\} [1-9]/,
      );
      expect(metrics.text).toMatch(/stripe_webhook_deliveries_total\{event_type="unknown",outcome="rejected"\} [1-9]/);
    });

    it('refuses an unknown status filter and keys without the admin scope', async () => {
      await stripe.admin().get('/v1/admin/stripe/events').query({ status: 'lost' }).expect(400);
      await request(testApp.app.getHttpServer())
        .get('/v1/admin/stripe/events')
        .set('Authorization', bearer('audit'))
        .expect(403);
      await request(testApp.app.getHttpServer()).get('/v1/admin/unmatched-payments').expect(401);
    });

    it.each(['consume', 'audit', 'read', 'grant'] as const)(
      'answers 403 to the %s key on reprocess, the unmatched payments and their assignment, and changes nothing',
      async (scope) => {
        const userId = newUser();
        const { session, paymentIntentId } = packPayment(userId);
        const refund = chargeRefunded({ payment_intent: paymentIntentId, amount_refunded: 500 });
        await stripe.deliver(refund).expect(503);
        await stripe.deliver(session).expect(200);
        const parked = unmatchedPayment();
        const paymentId = objectOf(parked).id;
        await stripe.deliver(parked).expect(200);
        const assignee = newUser();
        const before = await stripe.storedTotals();
        const key = stripe.withKey(scope);

        const refusals = [
          await key.post(`/v1/admin/stripe/events/${refund.id}/reprocess`),
          await key.get('/v1/admin/unmatched-payments'),
          await key.post(`/v1/admin/unmatched-payments/${paymentId}/assign`).send({ userId: assignee }),
        ];

        for (const response of refusals) {
          expect(response.status).toBe(403);
          expect(response.headers['content-type']).toContain('application/problem+json');
          expect(response.body).toMatchObject({ requiredScope: 'admin' });
          expect(response.body.type).toMatch(/\/problems\/forbidden$/);
          expect(response.body.payments).toBeUndefined();
        }
        await expectNothingStoredSince(before);
        expect(await stripe.deliveryOf(refund.id)).toMatchObject({ status: 'failed', deliveries: 1 });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
        expect(await stripe.ledgerTypesOf(assignee)).toEqual([]);
        const listed = await stripe.admin().get('/v1/admin/unmatched-payments').expect(200);
        expect(listed.body.payments).toContainEqual(expect.objectContaining({ paymentId }));

        // The same calls with the admin key do what the refused ones would have done.
        await stripe.admin().post(`/v1/admin/stripe/events/${refund.id}/reprocess`).expect(200);
        await stripe
          .admin()
          .post(`/v1/admin/unmatched-payments/${paymentId}/assign`)
          .send({ userId: assignee })
          .expect(201);
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 50, frozenCredits: 0 });
        expect(await stripe.balanceOf(assignee)).toEqual({ balance: 300, frozenCredits: 0 });
      },
    );

    it('reprocesses a failed delivery once its cause is fixed, and answers 404 for an event never delivered', async () => {
      const userId = newUser();
      const { session, paymentIntentId } = packPayment(userId);
      const refund = chargeRefunded({ payment_intent: paymentIntentId, amount_refunded: 500 });
      await stripe.deliver(refund).expect(503);
      await stripe.deliver(session).expect(200);
      await stripe.balanceOf(userId);

      const reprocessed = await stripe.admin().post(`/v1/admin/stripe/events/${refund.id}/reprocess`).expect(200);

      expect(reprocessed.body).toMatchObject({ eventId: refund.id, status: 'debited', userId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 50, frozenCredits: 0 });
      expect(await stripe.deliveryOf(refund.id)).toMatchObject({ status: 'debited' });
      const again = await stripe.admin().post(`/v1/admin/stripe/events/${refund.id}/reprocess`).expect(409);
      expect(again.body.type).toMatch(/\/problems\/stripe-event-already-applied$/);
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 50, frozenCredits: 0 });
      await stripe
        .admin()
        .post(`/v1/admin/stripe/events/${stripeId('evt')}/reprocess`)
        .expect(404);
    });
  });

  describe('payments no user or no credits can be found for', () => {
    it('parks a payment without a user, lists it, and credits it once however often it is assigned', async () => {
      const userId = newUser();
      const paymentIntent = paymentIntentSucceeded({ customer: stripeId('cus'), metadata: { credits: '300' } });
      const paymentId = objectOf(paymentIntent).id;

      const parked = await stripe.deliver(paymentIntent).expect(200);
      expect(parked.body).toMatchObject({ status: 'parked', rechargeId: paymentId });
      const listed = await stripe.admin().get('/v1/admin/unmatched-payments').expect(200);
      expect(listed.body.payments).toContainEqual(
        expect.objectContaining({ paymentId, stripeEventId: paymentIntent.id, object: paymentIntent.data.object }),
      );

      const assign = () => stripe.admin().post(`/v1/admin/unmatched-payments/${paymentId}/assign`).send({ userId });
      expect((await assign().expect(201)).body).toMatchObject({ userId, amount: 300, balance: 300 });
      expect((await assign().expect(200)).body).toMatchObject({ userId, amount: 300, balance: 300 });
      await stripe
        .admin()
        .post(`/v1/admin/unmatched-payments/${paymentId}/assign`)
        .send({ userId: newUser() })
        .expect(409);

      expect(await stripe.balanceOf(userId)).toEqual({ balance: 300, frozenCredits: 0 });
      const events = await stripe.admin().get(`/v1/users/${userId}/events`).expect(200);
      expect(events.body.events[0].causedBy).toEqual({ apiKey: 'admin-key', stripeEventId: paymentIntent.id });
      const after = await stripe.admin().get('/v1/admin/unmatched-payments').expect(200);
      expect(after.body.payments.map((payment: { paymentId: string }) => payment.paymentId)).not.toContain(paymentId);
      const redelivered = await stripe.deliver(paymentIntent).expect(200);
      expect(redelivered.body).toMatchObject({ status: 'duplicate' });
    });

    it('parks a paid session whose price is not in the catalog; assigning it needs the credits', async () => {
      const userId = newUser();
      const session = checkoutSessionCompleted({ client_reference_id: userId, metadata: { priceId: 'price_unknown' } });
      const paymentId = objectOf(session).payment_intent;

      expect((await stripe.deliver(session).expect(200)).body).toMatchObject({
        status: 'parked',
        reason: expect.stringContaining('price_unknown'),
      });
      const path = `/v1/admin/unmatched-payments/${paymentId}/assign`;
      const refused = await stripe.admin().post(path).send({ userId }).expect(422);
      expect(refused.body.type).toMatch(/\/problems\/credits-required$/);

      await stripe.admin().post(path).send({ userId, credits: 120 }).expect(201);
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 120, frozenCredits: 0 });
    });

    it('applies a refund that came while the payment was parked once it is assigned', async () => {
      const userId = newUser();
      const paymentIntent = paymentIntentSucceeded({ customer: stripeId('cus'), metadata: { credits: '100' } });
      const paymentId = objectOf(paymentIntent).id;
      await stripe.deliver(paymentIntent).expect(200);
      const refund = chargeRefunded({ payment_intent: paymentId, amount_refunded: 400 });
      await stripe.deliver(refund).expect(503);

      await stripe.admin().post(`/v1/admin/unmatched-payments/${paymentId}/assign`).send({ userId }).expect(201);

      expect(await stripe.deliveryOf(refund.id)).toMatchObject({ status: 'debited', userId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 60, frozenCredits: 0 });
    });

    it('answers 404 for a payment that was never parked', async () => {
      const response = await stripe
        .admin()
        .post(`/v1/admin/unmatched-payments/${stripeId('pi')}/assign`)
        .send({ userId: newUser() })
        .expect(404);
      expect(response.body.type).toMatch(/\/problems\/unmatched-payment-not-found$/);
    });
  });
});

describe('Stripe webhook without STRIPE_WEBHOOK_SECRET', () => {
  it('answers 503 with what to set, and stores nothing', async () => {
    const testApp = await startTestApp('pglite', { config: { stripe: stripeConfigUnderTest({ webhookSecrets: [] }) } });
    try {
      const stripe = stripeWebhookClient(() => testApp);
      const event = subscriptionUpdated();

      const response = await stripe.deliver(event).expect(503);

      expect(response.body).toMatchObject({ detail: expect.stringContaining('STRIPE_WEBHOOK_SECRET') });
      expect(await stripe.deliveryOf(event.id)).toBeUndefined();
    } finally {
      await testApp.close();
    }
  });
});

function objectOf(event: StripeTestEvent): { id: string; payment_intent: string; metadata: object } {
  return event.data.object as { id: string; payment_intent: string; metadata: object };
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]),
  );
}
