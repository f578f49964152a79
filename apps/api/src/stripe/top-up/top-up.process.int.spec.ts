import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CreditsCommand, creditsStreamId, parseCreditsEvent, topUpRequestIdempotencyKey } from '@libs/credits';
import { MetricsRegistry } from '@libs/http';
import { crossingsOf, queueCrossings, setAutoTopUpSettings } from '@projections';
import Stripe from 'stripe';
import { type FakeStripeApi, startFakeStripeApi } from '../../../../../test/support/fake-stripe-api';
import { type ReadModelDatabase, openReadModelDatabase } from '../../../../../test/support/read-model-database';
import { stripeConfigUnderTest } from '../../../../../test/support/stripe-webhook-client';
import { storeKindsUnderTest } from '../../../../../test/support/test-stores';
import { CreditsMetrics } from '../../credits/credits-metrics';
import { CreditsCommandRunner } from '../../credits/credits-command.runner';
import { stripeApiClient } from '../stripe-api.client';
import { topUpIdempotencyKey } from './top-up-charge';
import { TOP_UP_CHARGE_WINDOW_MS, TopUpProcess } from './top-up.process';

/**
 * The top-up process between its steps, against the local Stripe-shaped server (Stripe's API cannot be reached from
 * here): a crash after any step, an answer from Stripe that never came back, two processes on one crossing and
 * settings changed under a pending top-up all end in one charge of what was asked for, and one outcome.
 */
describe.each(storeKindsUnderTest())('the top-up process on %s', (kind) => {
  let db: ReadModelDatabase;
  let fake: FakeStripeApi;
  let stripe: Stripe;
  let runner: CreditsCommandRunner;
  const catalog = stripeConfigUnderTest().catalog;
  const now = () => new Date().toISOString();

  beforeAll(async () => {
    fake = await startFakeStripeApi();
    stripe = stripeApiClient(stripeConfigUnderTest({ apiKey: fake.apiKey, apiBase: new URL(fake.url) }))!;
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(async () => {
    fake.reset();
    db = await openReadModelDatabase(kind);
    runner = new CreditsCommandRunner(db.store, 5, new CreditsMetrics(new MetricsRegistry()));
  });

  afterEach(async () => {
    await db?.close();
  });

  const processOf = (client: Stripe = stripe, timing: { leaseMs?: number; now?: () => Date } = {}) =>
    new TopUpProcess(db.driver, db.store, runner, client, catalog, { leaseMs: 60_000, retryAfterMs: 1, ...timing });

  /** A user with a saved card, 10 credits, and a crossing below 5 queued as the feed follower queues it. */
  async function crossingOf(paymentMethodId = 'pm_card_visa'): Promise<{ userId: string; crossingEventId: string }> {
    const userId = `user-${randomUUID()}`;
    await setAutoTopUpSettings(db.driver, userId, {
      enabled: true,
      belowCredits: 5,
      packId: 'credits_100',
      maxPerMonth: 2,
      stripeCustomerId: 'cus_process',
      paymentMethodId,
    });
    await run({
      type: 'GrantBonus',
      data: { userId, amount: 10, reason: 'test', metadata: {} },
      metadata: { idempotencyKey: `bonus:${randomUUID()}`, now: now() },
    });
    const crossingEventId = await run({
      type: 'ConsumeCredits',
      data: { userId, feature: 'face_swap', reference: 'r', requestedAmount: 6, price: anyAmount, metadata: {} },
      metadata: { idempotencyKey: `consume:${randomUUID()}`, now: now() },
    });
    await queueCrossings(db.driver, [
      { crossingEventId, userId, globalPosition: '1', spendableCredits: 4, belowCredits: 5 },
    ]);
    return { userId, crossingEventId };
  }

  async function run(command: CreditsCommand): Promise<string> {
    const result = await runner.run(command);
    if (result.kind === 'refused') throw new Error(JSON.stringify(result.error));
    return result.outcome.eventId;
  }

  async function typesOf(userId: string): Promise<string[]> {
    const types: string[] = [];
    for await (const stored of db.store.readStream(creditsStreamId(userId))) types.push(parseCreditsEvent(stored).type);
    return types;
  }

  const intentsCreated = () => new Set(fake.paymentIntentRequests().map((sent) => sent.headers['idempotency-key']));

  it('charges once and records one outcome when Stripe’s answer is lost and the crossing is worked again', async () => {
    const { userId } = await crossingOf();
    // Stripe charges, then the connection drops before the answer arrives.
    const losingAnswers = withPaymentIntents(stripe, async (create) => {
      await create();
      throw new Stripe.errors.StripeConnectionError({ message: 'socket hang up' });
    });
    expect(await processOf(losingAnswers).runOnce()).toMatchObject({ requested: 1, retried: 1, charged: 0 });
    expect(await typesOf(userId)).toEqual(['BonusGranted', 'CreditsConsumed', 'TopUpRequested']);
    await sleep(5);
    expect(await processOf().runOnce()).toMatchObject({ requested: 0, charged: 1 });
    expect(intentsCreated().size).toBe(1);
    expect(await typesOf(userId)).toEqual(['BonusGranted', 'CreditsConsumed', 'TopUpRequested', 'TopUpSucceeded']);
    const [crossing] = await crossingsOf(db.driver, userId);
    expect(crossing).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('charges a top-up the stream recorded before a crash, even with automatic top-up turned off since', async () => {
    const { userId, crossingEventId } = await crossingOf();
    // A process recorded the request, then died before marking the crossing: it is still `due`, with no top-up.
    await run({
      type: 'RequestTopUp',
      data: {
        userId,
        crossingEventId,
        belowCredits: 5,
        packId: 'credits_100',
        credits: 100,
        amount: 1000,
        currency: 'usd',
        customerId: 'cus_process',
        paymentMethodId: 'pm_card_visa',
        maxPerMonth: 2,
      },
      metadata: { idempotencyKey: topUpRequestIdempotencyKey(crossingEventId), now: now() },
    });
    await setAutoTopUpSettings(db.driver, userId, {
      enabled: false,
      belowCredits: 5,
      packId: 'credits_100',
      maxPerMonth: 2,
    });
    // Skipping it would leave the top-up pending for ever, and refuse every later one.
    expect(await processOf().runOnce()).toMatchObject({ requested: 0, charged: 1, skipped: 0 });
    expect(await typesOf(userId)).toEqual(['BonusGranted', 'CreditsConsumed', 'TopUpRequested', 'TopUpSucceeded']);
    expect(intentsCreated().size).toBe(1);
  });

  it('charges what the stream recorded, not settings changed since the request', async () => {
    const { userId } = await crossingOf('pm_card_visa');
    const failing = withPaymentIntents(stripe, () =>
      Promise.reject(new Stripe.errors.StripeConnectionError({ message: 'connect ECONNREFUSED' })),
    );
    await processOf(failing).runOnce();
    await setAutoTopUpSettings(db.driver, userId, {
      enabled: true,
      belowCredits: 5,
      packId: 'credits_500',
      maxPerMonth: 2,
      stripeCustomerId: 'cus_other',
      paymentMethodId: 'pm_card_mastercard',
    });
    await sleep(5);
    expect(await processOf().runOnce()).toMatchObject({ charged: 1 });
    const [sent] = fake.paymentIntentRequests();
    expect(sent.params).toMatchObject({
      customer: 'cus_process',
      payment_method: 'pm_card_visa',
      metadata: { packId: 'credits_100' },
    });
  });

  it('charges once when two processes work one crossing whose lease ran out under the first', async () => {
    const { userId } = await crossingOf();
    const passes = await Promise.all(
      [processOf(stripe, { leaseMs: 1 }), processOf(stripe, { leaseMs: 1 })].map(async (process, index) => {
        await sleep(index * 3);
        return process.runOnce();
      }),
    );
    expect(passes.reduce((sum, pass) => sum + pass.charged, 0)).toBeGreaterThanOrEqual(1);
    const keys = intentsCreated();
    expect(keys.size).toBe(1);
    const types = await typesOf(userId);
    expect(types.filter((type) => type === 'TopUpRequested')).toHaveLength(1);
    expect(types.filter((type) => type === 'TopUpSucceeded')).toHaveLength(1);
    const [topUpKey] = keys;
    const [crossing] = await crossingsOf(db.driver, userId);
    expect(topUpKey).toBe(topUpIdempotencyKey(crossing.topUpId!));
  });

  it('never charges a top-up asked for longer ago than Stripe keeps its key', async () => {
    const { userId } = await crossingOf();
    const failing = withPaymentIntents(stripe, () =>
      Promise.reject(new Stripe.errors.StripeConnectionError({ message: 'connect ECONNREFUSED' })),
    );
    await processOf(failing).runOnce();
    fake.reset();
    await sleep(5);
    const later = () => new Date(Date.now() + TOP_UP_CHARGE_WINDOW_MS + 60_000);
    expect(await processOf(stripe, { now: later }).runOnce()).toMatchObject({ failed: 1 });
    expect(fake.paymentIntentRequests()).toHaveLength(0);
    const [crossing] = await crossingsOf(db.driver, userId);
    expect(crossing).toMatchObject({ status: 'failed', detail: expect.stringMatching(/^charge_window_passed/) });
    expect((await typesOf(userId)).slice(-1)).toEqual(['TopUpFailed']);
  });
});

const anyAmount = { credits: 1, amountOverride: { amountMax: 1_000 } };

/** The client, its payment intents' `create` replaced by `create(original)`. */
function withPaymentIntents(
  stripe: Stripe,
  create: (original: () => Promise<Stripe.PaymentIntent>) => Promise<Stripe.PaymentIntent>,
): Stripe {
  const paymentIntents = new Proxy(stripe.paymentIntents, {
    get(target, property, receiver) {
      if (property !== 'create') return Reflect.get(target, property, receiver) as unknown;
      return (...args: Parameters<Stripe['paymentIntents']['create']>) => create(() => target.create(...args));
    },
  });
  return new Proxy(stripe, {
    get(target, property, receiver) {
      return property === 'paymentIntents' ? paymentIntents : (Reflect.get(target, property, receiver) as unknown);
    },
  });
}
