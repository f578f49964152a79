import { randomUUID } from 'node:crypto';
import type { ShortfallPolicy } from '@libs/credits';
import { checkOf, healthCheckOf } from '../support/health-check-client';
import {
  chargeRefunded,
  disputeClosed,
  disputeCreated,
  invoicePaid,
  invoicePaymentPaid,
  packCheckoutCompleted,
  refundFailed,
  refundUpdated,
  stripeId,
} from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Refunds and disputes through Stripe's webhook, on every store, under both
 * shortfall policies. Every payment here is the 100-credit pack for 10.00 USD
 * (1,000 cents), so a refund of N cents takes back N / 10 credits.
 */
const PACK_CREDITS = 100;
const PRICE_CENTS = 1_000;

describe.each(storeKindsUnderTest())('Stripe refunds and disputes on %s', (kind) => {
  describe.each<ShortfallPolicy>(['debt', 'writeoff'])('with REFUND_SHORTFALL=%s', (shortfallPolicy) => {
    let testApp: TestApp;
    const stripe = stripeWebhookClient(() => testApp);

    beforeAll(async () => {
      const config = { stripe: stripeConfigUnderTest({ refundShortfall: shortfallPolicy }) };
      testApp = await startTestApp(kind, { config });
    });

    afterAll(async () => {
      await testApp?.close();
    });

    /** A user who bought the pack: 100 credits, paid through Checkout. */
    async function paidUser(): Promise<{ userId: string; paymentIntentId: string }> {
      const userId = `user-${randomUUID()}`;
      const paymentIntentId = stripeId('pi');
      await stripe.deliver(packCheckoutCompleted(userId, paymentIntentId)).expect(200);
      return { userId, paymentIntentId };
    }

    /**
     * The payment's one charge (its id follows from the payment intent's) has refunded this much in all, as
     * Stripe reported `secondsAgo` seconds ago (a report is placed in time by when Stripe made it).
     */
    const refund = (paymentIntentId: string, amountRefundedTotal: number, secondsAgo = 0) =>
      chargeRefunded(
        {
          id: paymentIntentId.replace(/^pi_/, 'ch_'),
          payment_intent: paymentIntentId,
          amount_refunded: amountRefundedTotal,
        },
        { created: Math.floor(Date.now() / 1000) - secondsAgo },
      );

    it('takes back exactly the sum of two partial refunds, each redelivery changing nothing', async () => {
      const { userId, paymentIntentId } = await paidUser();
      const first = refund(paymentIntentId, 300, 20);
      const second = refund(paymentIntentId, 500, 10);

      expect((await stripe.deliver(first).expect(200)).body).toMatchObject({ status: 'debited', userId });
      expect((await stripe.deliver(second).expect(200)).body).toMatchObject({ status: 'debited', userId });
      expect((await stripe.deliver(first).expect(200)).body).toMatchObject({ status: 'duplicate' });

      expect(await stripe.balanceOf(userId)).toEqual({ balance: 50, frozenCredits: 0 });
      expect(await stripe.ledgerTypesOf(userId)).toEqual(['RechargeCompleted', 'RechargeRefunded', 'RechargeRefunded']);
      expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
        status: 'partially_refunded',
        amountRefunded: 500,
        creditsTakenBack: 50,
      });
    });

    it('applies partial refunds delivered in reverse order without taking back more than their sum', async () => {
      const { userId, paymentIntentId } = await paidUser();

      // Stripe made the report of 300 first (20 s ago), then the report of 500; they come the other way round.
      await stripe.deliver(refund(paymentIntentId, 500, 10)).expect(200);
      const late = await stripe.deliver(refund(paymentIntentId, 300, 20)).expect(200);

      expect(late.body).toMatchObject({ status: 'duplicate' });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 50, frozenCredits: 0 });
    });

    it(`refunds in full after 90 credits were spent: ${shortfallPolicy === 'debt' ? 'a debt of 90' : 'zero, 90 written off'}`, async () => {
      const { userId, paymentIntentId } = await paidUser();
      await stripe.consume(userId, 90, `render-${randomUUID()}`).expect(201);

      const fullRefund = refund(paymentIntentId, PRICE_CENTS);
      await stripe.deliver(fullRefund).expect(200);

      const expected = shortfallPolicy === 'debt' ? -90 : 0;
      expect(await stripe.balanceOf(userId)).toEqual({ balance: expected, frozenCredits: 0 });
      expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
        status: 'refunded',
        creditsTakenBack: PACK_CREDITS,
      });
      const ledger = await stripe.admin().get(`/v1/users/${userId}/events`).query({ limit: 10 }).expect(200);
      const refunded = ledger.body.events.find((event: { type: string }) => event.type === 'RechargeRefunded');
      expect(refunded.data).toMatchObject({
        creditsTakenBack: PACK_CREDITS,
        creditsDebited: shortfallPolicy === 'debt' ? PACK_CREDITS : 10,
        shortfallCredits: 90,
        shortfallPolicy,
      });
      expect(refunded.causedBy).toEqual({ stripeEventId: fullRefund.id });
      if (shortfallPolicy === 'debt') {
        await stripe.consume(userId, 1, `render-${randomUUID()}`).expect(402);
        await paidAgain(userId);
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 10, frozenCredits: 0 });
      }
    });

    /** A later pack bought by the same user: it pays the debt first. */
    async function paidAgain(userId: string): Promise<void> {
      await stripe.deliver(packCheckoutCompleted(userId)).expect(200);
    }

    it('counts each charge of a payment on its own: two charges refunding half each take everything back', async () => {
      const { userId, paymentIntentId } = await paidUser();
      const halfOf = (chargeId: string) =>
        chargeRefunded({
          id: chargeId,
          payment_intent: paymentIntentId,
          amount: 500,
          amount_captured: 500,
          amount_refunded: 500,
        });

      await stripe.deliver(halfOf(stripeId('ch'))).expect(200);
      await stripe.deliver(halfOf(stripeId('ch'))).expect(200);

      expect(await stripe.balanceOf(userId)).toEqual({ balance: 0, frozenCredits: 0 });
      expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
        status: 'refunded',
        amountRefunded: 1000,
      });
    });

    it('refunds a subscription invoice of the current shape, found through the payment intent its payments name', async () => {
      const userId = `user-${randomUUID()}`;
      const invoiceId = stripeId('in');
      const paymentIntentId = stripeId('pi');
      await stripe
        .deliver(invoicePaid({ shape: 'current', id: invoiceId, paymentIntentId, subscriptionMetadata: { userId } }))
        .expect(200);

      const response = await stripe
        .deliver(chargeRefunded({ payment_intent: paymentIntentId, amount_refunded: 250 }))
        .expect(200);

      expect(response.body).toMatchObject({ status: 'debited', userId, rechargeId: invoiceId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 750, frozenCredits: 0 });
    });

    it('refunds a subscription invoice that names no payment intent, linked to it by invoice_payment.paid', async () => {
      const userId = `user-${randomUUID()}`;
      const invoiceId = stripeId('in');
      const paymentIntentId = stripeId('pi');
      await stripe
        .deliver(invoicePaid({ shape: 'current', id: invoiceId, subscriptionMetadata: { userId } }))
        .expect(200);
      const refund = chargeRefunded({ payment_intent: paymentIntentId, amount_refunded: 100 });
      await stripe.deliver(refund).expect(503);

      await stripe.deliver(invoicePaymentPaid(invoiceId, paymentIntentId)).expect(200);
      const retried = await stripe.deliver(refund).expect(200);

      expect(retried.body).toMatchObject({ status: 'debited', userId, rechargeId: invoiceId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 900, frozenCredits: 0 });
    });

    it('refunds a subscription invoice’s credits, found through the invoice', async () => {
      const userId = `user-${randomUUID()}`;
      const invoiceId = stripeId('in');
      const paymentIntentId = stripeId('pi');
      await stripe
        .deliver(invoicePaid({ shape: 'legacy', id: invoiceId, paymentIntentId, subscriptionMetadata: { userId } }))
        .expect(200);

      const response = await stripe
        .deliver(chargeRefunded({ payment_intent: paymentIntentId, invoice: invoiceId, amount_refunded: 500 }))
        .expect(200);

      expect(response.body).toMatchObject({ status: 'debited', userId, rechargeId: invoiceId });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 500, frozenCredits: 0 });
    });

    it('answers 503 for a refund of a payment not recorded yet, and applies it when Stripe retries after', async () => {
      const userId = `user-${randomUUID()}`;
      const paymentIntentId = stripeId('pi');
      const early = refund(paymentIntentId, 300);

      const refused = await stripe.deliver(early).expect(503);
      expect(refused.body.type).toMatch(/\/problems\/stripe-delivery-failed$/);
      expect(await stripe.deliveryOf(early.id)).toMatchObject({ status: 'failed', reason: expect.any(String) });

      await stripe.deliver(packCheckoutCompleted(userId, paymentIntentId)).expect(200);
      await stripe.balanceOf(userId);
      expect((await stripe.deliver(early).expect(200)).body).toMatchObject({ status: 'debited' });
      expect(await stripe.balanceOf(userId)).toEqual({ balance: 70, frozenCredits: 0 });
      expect(await stripe.deliveryOf(early.id)).toMatchObject({ status: 'debited', deliveries: 2 });
    });

    it('records a refund of an unknown payment as failed, answered 200, once Stripe made it over an hour ago', async () => {
      const stale = chargeRefunded(
        { payment_intent: stripeId('pi'), amount_refunded: 300 },
        { created: Math.floor(Date.now() / 1000) - 2 * 3600 },
      );

      const response = await stripe.deliver(stale).expect(200);

      expect(response.body).toMatchObject({ status: 'failed', reason: expect.stringContaining('no recharge') });
      expect(await stripe.deliveryOf(stale.id)).toMatchObject({ status: 'failed' });
    });

    describe('refunds that fail or are canceled', () => {
      /** Stripe's times in a test (Unix seconds), from one moment: a refund reported 10 minutes ago, then what followed. */
      let now = 0;
      const minutesAgo = (minutes: number) => now - minutes * 60;
      beforeEach(() => {
        now = Math.floor(Date.now() / 1000);
      });

      /** The charge has refunded `amountRefundedTotal` in all, as Stripe reported at `created`. */
      const refundReported = (paymentIntentId: string, amountRefundedTotal: number, created: number) =>
        chargeRefunded(
          {
            id: paymentIntentId.replace(/^pi_/, 'ch_'),
            payment_intent: paymentIntentId,
            amount_refunded: amountRefundedTotal,
          },
          { created },
        );

      /** The refund `refundId` of the payment's charge, made at `createdAt`, as the failed object Stripe sends. */
      const failedRefund = (paymentIntentId: string, refundId: string, amount: number, createdAt: number) => ({
        id: refundId,
        charge: paymentIntentId.replace(/^pi_/, 'ch_'),
        payment_intent: paymentIntentId,
        amount,
        created: createdAt,
      });

      it(`gives back a failed full refund once, whichever events report it: ${shortfallPolicy === 'debt' ? 'the debt of 90 goes' : 'the 10 it debited come back, the 90 written off are not credited'}`, async () => {
        const { userId, paymentIntentId } = await paidUser();
        await stripe.consume(userId, 90, `render-${randomUUID()}`).expect(201);
        const refundId = stripeId('re');
        await stripe.deliver(refundReported(paymentIntentId, PRICE_CENTS, minutesAgo(10))).expect(200);
        expect(await stripe.balanceOf(userId)).toEqual({
          balance: shortfallPolicy === 'debt' ? -90 : 0,
          frozenCredits: 0,
        });

        const refund = failedRefund(paymentIntentId, refundId, PRICE_CENTS, minutesAgo(10));
        const failed = refundFailed(refund, { created: minutesAgo(5) });
        const delivered = await stripe.deliver(failed).expect(200);

        expect(delivered.body).toMatchObject({ status: 'credited', userId, rechargeId: paymentIntentId });
        for (const type of ['refund.updated', 'charge.refund.updated'] as const) {
          const sameFailure = refundUpdated(refund, { type, created: minutesAgo(5) });
          expect((await stripe.deliver(sameFailure).expect(200)).body).toMatchObject({ status: 'duplicate' });
        }
        expect((await stripe.deliver(failed).expect(200)).body).toMatchObject({ status: 'duplicate' });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 10, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'completed',
          amountRefunded: 0,
          creditsTakenBack: 0,
        });
        expect(await stripe.ledgerTypesOf(userId)).toEqual([
          'RechargeCompleted',
          'CreditsConsumed',
          'RechargeRefunded',
          'RefundReversed',
        ]);
        const events = await stripe.admin().get(`/v1/users/${userId}/events`).query({ limit: 10 }).expect(200);
        const reversed = events.body.events.find((event: { type: string }) => event.type === 'RefundReversed');
        expect(reversed.data).toMatchObject({
          reason: 'refund-failed',
          refund: { refundId, amount: PRICE_CENTS, failureReason: 'expired_or_canceled_card' },
          amountReversed: PRICE_CENTS,
          amountRefundedTotal: 0,
          creditsGivenBack: PACK_CREDITS,
          creditsCredited: shortfallPolicy === 'debt' ? PACK_CREDITS : 10,
          creditsWriteOffReversed: shortfallPolicy === 'debt' ? 0 : 90,
        });
        expect(reversed.causedBy).toEqual({ stripeEventId: failed.id });
        const history = await stripe.withKey('audit').get(`/v1/audit/users/${userId}/history`).expect(200);
        expect(history.body.entries.at(-1)).toMatchObject({
          type: 'RefundReversed',
          delta: shortfallPolicy === 'debt' ? PACK_CREDITS : 10,
          balanceAfter: 10,
          chargeId: paymentIntentId.replace(/^pi_/, 'ch_'),
          reason: 'refund-failed',
          stripeEventId: failed.id,
        });
        const report = await healthCheckOf(testApp, { users: userId });
        expect(checkOf(report, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });
        expect(checkOf(report, 'transaction-integrity')).toMatchObject({ status: 'ok', findingsCount: 0 });
      });

      it('applies a later, smaller refund of the charge after a refund of it failed', async () => {
        const { userId, paymentIntentId } = await paidUser();
        await stripe.deliver(refundReported(paymentIntentId, 500, minutesAgo(10))).expect(200);
        const canceled = refundUpdated(
          { ...failedRefund(paymentIntentId, stripeId('re'), 500, minutesAgo(10)), status: 'canceled' },
          { created: minutesAgo(8), previousAttributes: { status: 'requires_action' } },
        );
        expect((await stripe.deliver(canceled).expect(200)).body).toMatchObject({ status: 'credited' });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });

        const smaller = await stripe.deliver(refundReported(paymentIntentId, 200, minutesAgo(5))).expect(200);

        expect(smaller.body).toMatchObject({ status: 'debited', userId });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 80, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'partially_refunded',
          amountRefunded: 200,
          creditsTakenBack: 20,
        });
      });

      it('takes nothing back for a refund whose failure was delivered before its charge.refunded', async () => {
        const { userId, paymentIntentId } = await paidUser();
        const refund = failedRefund(paymentIntentId, stripeId('re'), 300, minutesAgo(10));

        const early = await stripe.deliver(refundFailed(refund, { created: minutesAgo(5) })).expect(200);
        const late = await stripe.deliver(refundReported(paymentIntentId, 300, minutesAgo(10))).expect(200);

        expect(early.body).toMatchObject({ status: 'credited', reason: expect.stringContaining('0 credits') });
        expect(late.body).toMatchObject({ status: 'duplicate' });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'completed',
          amountRefunded: 0,
          creditsTakenBack: 0,
        });
        expect(await stripe.ledgerTypesOf(userId)).toEqual(['RechargeCompleted', 'RefundReversed']);
      });

      it('gives back the difference when a later charge.refunded reports less, and nothing again for the failure', async () => {
        const { userId, paymentIntentId } = await paidUser();
        const first = failedRefund(paymentIntentId, stripeId('re'), 500, minutesAgo(10));
        await stripe.deliver(refundReported(paymentIntentId, 500, minutesAgo(10))).expect(200);

        // The first refund failed 8 minutes ago; a second one of 200 was made 5 minutes ago; its report comes first.
        const lower = await stripe.deliver(refundReported(paymentIntentId, 200, minutesAgo(5))).expect(200);
        const failure = await stripe.deliver(refundFailed(first, { created: minutesAgo(8) })).expect(200);

        expect(lower.body).toMatchObject({ status: 'credited', reason: expect.stringContaining('reports less') });
        expect(failure.body).toMatchObject({ status: 'credited', reason: expect.stringContaining('0 credits') });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 80, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'partially_refunded',
          amountRefunded: 200,
          creditsTakenBack: 20,
        });
      });
    });

    describe('currencies', () => {
      it('records as failed, taking nothing back, a lost dispute’s closing in another currency than its recharge', async () => {
        const { userId, paymentIntentId } = await paidUser();
        const disputeId = stripeId('dp');

        const lost = disputeClosed({ id: disputeId, payment_intent: paymentIntentId, currency: 'eur', status: 'lost' });
        const response = await stripe.deliver(lost).expect(200);

        expect(response.body).toMatchObject({
          status: 'failed',
          reason: `dispute ${disputeId} is in eur, its recharge in usd`,
          userId,
        });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'completed',
          amountRefunded: 0,
        });
      });

      it('records as failed, freezing nothing, a dispute opened in another currency than its recharge', async () => {
        const { userId, paymentIntentId } = await paidUser();
        const disputeId = stripeId('dp');

        const opened = disputeCreated({ id: disputeId, payment_intent: paymentIntentId, currency: 'eur' });
        const response = await stripe.deliver(opened).expect(200);

        expect(response.body).toMatchObject({
          status: 'failed',
          reason: `dispute ${disputeId} is in eur, its recharge in usd`,
        });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'completed',
          disputeId: null,
        });
      });

      it('records as failed, moving nothing, a refund failure in another currency than its recharge', async () => {
        const { userId, paymentIntentId } = await paidUser();
        await stripe.deliver(refund(paymentIntentId, 500)).expect(200);
        const refundId = stripeId('re');
        const inEuros = {
          id: refundId,
          charge: paymentIntentId.replace(/^pi_/, 'ch_'),
          payment_intent: paymentIntentId,
          amount: 500,
          currency: 'eur',
          created: Math.floor(Date.now() / 1000) - 600,
        };

        const response = await stripe.deliver(refundFailed(inEuros)).expect(200);

        expect(response.body).toMatchObject({
          status: 'failed',
          reason: `refund ${refundId} is in eur, its recharge in usd`,
        });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 50, frozenCredits: 0 });
      });
    });

    describe('disputes', () => {
      it('freezes the recharge’s remaining credits while open and releases them when won', async () => {
        const { userId, paymentIntentId } = await paidUser();
        await stripe.consume(userId, 40, `render-${randomUUID()}`).expect(201);
        const disputeId = stripeId('dp');

        const opened = await stripe.deliver(disputeCreated({ id: disputeId, payment_intent: paymentIntentId }));
        expect(opened.status).toBe(200);
        expect(opened.body).toMatchObject({ status: 'frozen', userId });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 60, frozenCredits: 60 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({ status: 'disputed', disputeId });
        const refused = await stripe.consume(userId, 1, `render-${randomUUID()}`).expect(402);
        expect(refused.body).toMatchObject({ balance: 60, frozenCredits: 60 });

        const won = disputeClosed({ id: disputeId, payment_intent: paymentIntentId, status: 'won' });
        expect((await stripe.deliver(won).expect(200)).body).toMatchObject({ status: 'unfrozen' });
        expect((await stripe.deliver(won).expect(200)).body).toMatchObject({ status: 'duplicate' });
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 60, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({ status: 'completed' });
        await stripe.consume(userId, 60, `render-${randomUUID()}`).expect(201);
      });

      it('releases an inquiry closed without a chargeback, and freezes nothing for an opening delivered after', async () => {
        const { userId, paymentIntentId } = await paidUser();
        const disputeId = stripeId('dp');
        const opened = disputeCreated({ id: disputeId, payment_intent: paymentIntentId });
        await stripe.deliver(opened).expect(200);

        const closed = disputeClosed({ id: disputeId, payment_intent: paymentIntentId, status: 'warning_closed' });
        expect((await stripe.deliver(closed).expect(200)).body).toMatchObject({ status: 'unfrozen' });
        const otherId = stripeId('dp');
        const lateOther = disputeCreated({ id: otherId, payment_intent: paymentIntentId });
        const otherClosed = disputeClosed({
          id: otherId,
          payment_intent: paymentIntentId,
          status: 'won',
        });
        expect((await stripe.deliver(otherClosed).expect(200)).body).toMatchObject({ status: 'unfrozen' });
        expect((await stripe.deliver(lateOther).expect(200)).body).toMatchObject({ status: 'ignored' });

        expect(await stripe.balanceOf(userId)).toEqual({ balance: PACK_CREDITS, frozenCredits: 0 });
      });

      it('takes back only the disputed share of a partial dispute when lost, releasing what it froze', async () => {
        const { userId, paymentIntentId } = await paidUser();
        await stripe.consume(userId, 30, `render-${randomUUID()}`).expect(201);
        const disputeId = stripeId('dp');
        const disputedCents = 400; // 40 % of the 10.00 paid: 40 of the pack's 100 credits.
        const partial = { id: disputeId, payment_intent: paymentIntentId, amount: disputedCents };

        const opened = await stripe.deliver(disputeCreated(partial)).expect(200);
        expect(opened.body).toMatchObject({ status: 'frozen', userId });
        // As the issue says: the opening freezes what remains of the recharge (70 after 30 spent), whatever the amount.
        expect(await stripe.balanceOf(userId)).toEqual({ balance: 70, frozenCredits: 70 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({ status: 'disputed', disputeId });

        const lost = disputeClosed({ ...partial, status: 'lost' });
        expect((await stripe.deliver(lost).expect(200)).body).toMatchObject({ status: 'debited', userId });
        expect((await stripe.deliver(lost).expect(200)).body).toMatchObject({ status: 'duplicate' });

        expect(await stripe.balanceOf(userId)).toEqual({ balance: 30, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'partially_refunded',
          disputeId: null,
          amountRefunded: disputedCents,
          creditsTakenBack: 40,
        });
        const ledger = await stripe.admin().get(`/v1/users/${userId}/events`).query({ limit: 10 }).expect(200);
        const refunded = ledger.body.events.find((event: { type: string }) => event.type === 'RechargeRefunded');
        expect(refunded.data).toMatchObject({
          reason: 'dispute-lost',
          amountRefundedTotal: disputedCents,
          creditsTakenBack: 40,
          creditsDebited: 40,
          creditsUnfrozen: 70,
          shortfallCredits: 0,
        });
        await stripe.consume(userId, 30, `render-${randomUUID()}`).expect(201);
        await stripe.consume(userId, 1, `render-${randomUUID()}`).expect(402);
      });

      it('takes the disputed credits back when lost, as a refund would', async () => {
        const { userId, paymentIntentId } = await paidUser();
        await stripe.consume(userId, 40, `render-${randomUUID()}`).expect(201);
        const disputeId = stripeId('dp');
        await stripe.deliver(disputeCreated({ id: disputeId, payment_intent: paymentIntentId })).expect(200);

        const lost = disputeClosed({ id: disputeId, payment_intent: paymentIntentId, status: 'lost' });
        expect((await stripe.deliver(lost).expect(200)).body).toMatchObject({ status: 'debited', userId });

        const expected = shortfallPolicy === 'debt' ? -40 : 0;
        expect(await stripe.balanceOf(userId)).toEqual({ balance: expected, frozenCredits: 0 });
        expect(await stripe.rechargeOf(userId, paymentIntentId)).toMatchObject({
          status: 'refunded',
          disputeId: null,
          creditsTakenBack: PACK_CREDITS,
        });
      });
    });
  });
});
