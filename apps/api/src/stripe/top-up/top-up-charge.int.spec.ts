import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import {
  AUTHENTICATING_PAYMENT_METHOD,
  DECLINING_PAYMENT_METHOD,
  type FakeStripeApi,
  startFakeStripeApi,
} from '../../../../../test/support/fake-stripe-api';
import { stripeConfigUnderTest } from '../../../../../test/support/stripe-webhook-client';
import { stripeApiClient } from '../stripe-api.client';
import { type TopUpCharge, chargeTopUp, topUpIdempotencyKey } from './top-up-charge';

/**
 * A top-up's off-session charge through the real `stripe` client, against the local Stripe-shaped server (Stripe's
 * API cannot be reached from here): one charge per top-up id however often asked, a declined card and one that
 * needs authentication reported as failed, again without a second charge.
 */
describe('an automatic top-up’s charge (against a local Stripe-shaped server, not Stripe)', () => {
  let fake: FakeStripeApi;
  let stripe: Stripe;

  beforeAll(async () => {
    fake = await startFakeStripeApi();
    stripe = stripeApiClient(stripeConfigUnderTest({ apiKey: fake.apiKey, apiBase: new URL(fake.url) }))!;
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(() => fake.reset());

  const chargeOf = (paymentMethodId: string): TopUpCharge => ({
    userId: `user-${randomUUID()}`,
    topUpId: randomUUID(),
    packId: 'credits_500',
    customerId: 'cus_saved',
    paymentMethodId,
    amount: 1000,
    currency: 'usd',
  });

  it('charges the saved card off session, with the pack’s metadata, once per top-up however often asked', async () => {
    const charge = chargeOf('pm_card_visa');
    const first = await chargeTopUp(stripe, charge);
    const again = await chargeTopUp(stripe, charge);
    expect(first).toEqual({ kind: 'submitted', paymentIntentId: expect.stringMatching(/^pi_/), status: 'succeeded' });
    expect(again).toEqual(first);
    const sent = fake.paymentIntentRequests();
    expect(sent).toHaveLength(2);
    expect(sent.map((request) => request.headers['idempotency-key'])).toEqual(
      Array(2).fill(topUpIdempotencyKey(charge.topUpId)),
    );
    expect(sent[0].params).toMatchObject({
      amount: '1000',
      currency: 'usd',
      customer: 'cus_saved',
      payment_method: 'pm_card_visa',
      off_session: 'true',
      confirm: 'true',
      metadata: { userId: charge.userId, packId: 'credits_500', quantity: '1', topUpId: charge.topUpId },
    });
  });

  it('reports a declined card as failed, and the same top-up again as the same failure, not a second charge', async () => {
    const charge = chargeOf(DECLINING_PAYMENT_METHOD);
    const failed = await chargeTopUp(stripe, charge);
    expect(failed).toMatchObject({ kind: 'failed', reason: 'card_declined', paymentIntentId: expect.any(String) });
    expect(await chargeTopUp(stripe, charge)).toEqual(failed);
  });

  it('reports a card that needs its holder to authenticate as failed: an off-session charge cannot ask', async () => {
    const failed = await chargeTopUp(stripe, chargeOf(AUTHENTICATING_PAYMENT_METHOD));
    expect(failed).toMatchObject({ kind: 'failed', reason: 'authentication_required' });
  });
});
