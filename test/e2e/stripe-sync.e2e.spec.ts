import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlEventStore } from '@libs/event-store';
import { READ_MODEL_MIGRATIONS } from '@projections';
import Stripe from 'stripe';
import { STRIPE_API, stripeApiClient } from '../../apps/api/src/stripe/stripe-api.client';
import { StripeIngestion } from '../../apps/api/src/stripe/stripe-ingestion.service';
import type { SyncOptions } from '../../apps/api/src/stripe/sync-stripe-events/sync-stripe-events.arguments';
import { syncStripeEvents } from '../../apps/api/src/stripe/sync-stripe-events/sync-stripe-events';
import { foldEveryStream } from '../support/credits-history';
import { type FakeStripeApi, startFakeStripeApi } from '../support/fake-stripe-api';
import {
  chargeRefunded,
  checkoutSessionCompleted,
  invoicePaid,
  paymentIntentSucceeded,
  stripeEvent,
  stripeId,
} from '../support/stripe-events';
import { WEBHOOK_SECRET, stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';
import { type CliRun, builtCli, runCli } from '../support/cli-process';

/**
 * Recovering missed webhooks: the sync lists events through the real `stripe`
 * client, from a local Stripe-shaped server (test/support/fake-stripe-api.ts)
 * since Stripe's API cannot be reached from the machines the tests run on,
 * and feeds them through the webhook's ingestion. Catalog:
 * config/stripe-catalog.json (credits_100 = 100 credits, basic_monthly = 1,000 a period).
 */
const HOUR_S = 3600;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const newUser = () => `user-${randomUUID()}`;
const hoursAgo = (hours: number): SyncOptions => ({
  since: new Date(Date.now() - hours * HOUR_S * 1000),
  types: undefined,
});

/** A paid Checkout session of the 100-credit pack, as the checkout helper sets it up, created `secondsAgo`. */
function packPayment(userId: string, secondsAgo: number) {
  const paymentIntentId = stripeId('pi');
  const event = checkoutSessionCompleted(
    { client_reference_id: userId, payment_intent: paymentIntentId, metadata: { userId, packId: 'credits_100' } },
    { created: nowSeconds() - secondsAgo },
  );
  return { event, paymentIntentId };
}

describe.each(storeKindsUnderTest())(
  "stripe sync against a local Stripe-shaped server on %s (Stripe's API is unreachable here)",
  (kind) => {
    let fake: FakeStripeApi;
    let testApp: TestApp;
    const webhook = stripeWebhookClient(() => testApp);

    beforeAll(async () => {
      fake = await startFakeStripeApi();
      const config = stripeConfigUnderTest({ apiKey: fake.apiKey, apiBase: new URL(fake.url) });
      testApp = await startTestApp(kind, { config: { stripe: config } });
    });

    afterAll(async () => {
      await testApp?.close();
      await fake?.close();
    });

    beforeEach(() => fake.reset());

    /** The sync as the CLI runs it, on the app's own client and ingestion; returns the summary and the printed lines. */
    async function sync(options: SyncOptions, stripe = testApp.app.get<Stripe>(STRIPE_API)) {
      const lines: string[] = [];
      const dependencies = {
        stripe,
        ingestion: testApp.app.get(StripeIngestion),
        log: (line: string) => lines.push(line),
      };
      const summary = await syncStripeEvents(dependencies, options);
      return { summary, lines };
    }

    it('credits every missed payment once, oldest first; a second run changes nothing', async () => {
      const [refunded, subscriber, direct, delivered] = [newUser(), newUser(), newUser(), newUser()];
      const payment = packPayment(refunded, 600);
      const refund = chargeRefunded({ payment_intent: payment.paymentIntentId }, { created: nowSeconds() - 100 });
      const invoice = invoicePaid(
        { shape: 'current', subscriptionMetadata: { userId: subscriber } },
        { created: nowSeconds() - 500 },
      );
      const intent = paymentIntentSucceeded(
        { metadata: { userId: direct, credits: '250' } },
        { created: nowSeconds() - 400 },
      );
      const alreadyDelivered = packPayment(delivered, 300).event;
      const unrelated = stripeEvent(
        'customer.created',
        { id: stripeId('cus'), object: 'customer' },
        { created: nowSeconds() - 200 },
      );
      await webhook.deliver(alreadyDelivered).expect(200);
      // Added out of order: the order of the sync comes from `created`, as on Stripe.
      fake.addEvents(refund, unrelated, alreadyDelivered, intent, invoice, payment.event);

      const first = await sync(hoursAgo(1));

      expect(first.lines).toEqual([
        `${payment.event.id} checkout.session.completed credited ${refunded}`,
        `${invoice.id} invoice.paid credited ${subscriber}`,
        `${intent.id} payment_intent.succeeded credited ${direct}`,
        `${alreadyDelivered.id} checkout.session.completed duplicate ${delivered} (payment already credited)`,
        `${unrelated.id} customer.created ignored (event type customer.created changes no credits)`,
        `${refund.id} charge.refunded debited ${refunded}`,
        expect.stringMatching(/^synced 6 Stripe events since .*: 3 credited, 1 debited, 1 duplicate, 1 ignored$/),
      ]);
      const balances = async () =>
        Promise.all([refunded, subscriber, direct, delivered].map((userId) => webhook.balanceOf(userId)));
      const ledgers = async () =>
        Promise.all([refunded, subscriber, direct, delivered].map((userId) => webhook.ledgerTypesOf(userId)));
      const afterFirst = { balances: await balances(), ledgers: await ledgers() };
      expect(afterFirst.balances.map(({ balance }) => balance)).toEqual([0, 1_000, 250, 100]);
      expect(afterFirst.ledgers.map((types) => types.length)).toEqual([2, 1, 1, 1]);

      const second = await sync(hoursAgo(1));

      expect(second.summary.outcomes).toMatchObject({ credited: 0, debited: 0, duplicate: 5, ignored: 1, failed: 0 });
      expect({ balances: await balances(), ledgers: await ledgers() }).toEqual(afterFirst);
      // The webhook's delivery, then one per sync: the record counts them, the ledger does not move.
      expect(await webhook.deliveryOf(alreadyDelivered.id)).toMatchObject({ status: 'credited', deliveries: 3 });
      expect(await webhook.deliveryOf(payment.event.id)).toMatchObject({ status: 'credited', deliveries: 2 });
    });

    it('pages through every event: 150 events are two lists of at most 100, processed in the order they were made', async () => {
      const userId = newUser();
      const events = Array.from({ length: 150 }, (_, index) =>
        paymentIntentSucceeded(
          { metadata: { userId, credits: String(index + 1) } },
          { created: nowSeconds() - 1_000 + index },
        ),
      );
      fake.addEvents(...[...events].reverse());

      const { summary, lines } = await sync(hoursAgo(1));

      expect(summary).toMatchObject({ eventsSeen: 150, outcomes: { credited: 150, failed: 0 } });
      expect(lines.slice(0, -1).map((line) => line.split(' ')[0])).toEqual(events.map((event) => event.id));
      const lists = fake.eventListRequests();
      expect(lists.map((list) => list.params.limit)).toEqual(['100', '100']);
      expect(lists[1].params.starting_after).toBe(events[50].id);
      expect(await webhook.balanceOf(userId)).toEqual({ balance: (150 * 151) / 2, frozenCredits: 0 });
    });

    it('asks Stripe only for the events since --since, of the --types given', async () => {
      const userId = newUser();
      const old = packPayment(userId, 2 * HOUR_S).event;
      const recent = packPayment(userId, 60).event;
      const renewal = invoicePaid(
        { shape: 'legacy', subscriptionMetadata: { userId } },
        { created: nowSeconds() - 30 },
      );
      fake.addEvents(old, recent, renewal);
      const options = { ...hoursAgo(1), types: ['checkout.session.completed'] };

      const { summary, lines } = await sync(options);

      expect(summary.eventsSeen).toBe(1);
      expect(lines[0]).toBe(`${recent.id} checkout.session.completed credited ${userId}`);
      expect(fake.eventListRequests()[0].params).toMatchObject({
        created: { gte: String(Math.floor(options.since.getTime() / 1000)) },
        types: ['checkout.session.completed'],
      });
    });

    it('records an event it cannot read as failed, and goes on with the others', async () => {
      const userId = newUser();
      const malformed = checkoutSessionCompleted(
        { client_reference_id: userId, amount_total: 10.5, metadata: { packId: 'credits_100' } },
        { created: nowSeconds() - 120 },
      );
      const fine = packPayment(userId, 60).event;
      fake.addEvents(malformed, fine);

      const { summary, lines } = await sync(hoursAgo(1));

      expect(summary.outcomes).toMatchObject({ failed: 1, credited: 1 });
      expect(lines[0]).toMatch(new RegExp(`^${malformed.id} checkout.session.completed failed \\(.*amount_total`));
      expect(await webhook.deliveryOf(malformed.id)).toMatchObject({ status: 'failed' });
      expect(await webhook.balanceOf(userId)).toEqual({ balance: 100, frozenCredits: 0 });
    });

    describe('when a refund comes right after the payment it refunds', () => {
      function syncOn(app: TestApp) {
        const lines: string[] = [];
        const dependencies = {
          stripe: app.app.get<Stripe>(STRIPE_API),
          ingestion: app.app.get(StripeIngestion),
          log: (line: string) => lines.push(line),
        };
        return syncStripeEvents(dependencies, hoursAgo(1)).then((summary) => ({ summary, lines }));
      }

      function missedPaymentAndRefund() {
        const userId = newUser();
        const payment = packPayment(userId, 60);
        const refund = chargeRefunded({ payment_intent: payment.paymentIntentId }, { created: nowSeconds() - 59 });
        fake.addEvents(payment.event, refund);
        return { userId, payment, refund };
      }

      it('applies the refund once the read model shows the payment', async () => {
        const { userId, refund } = missedPaymentAndRefund();

        const { summary, lines } = await syncOn(testApp);

        expect(summary.outcomes).toMatchObject({ credited: 1, debited: 1, failed: 0 });
        expect(lines).toContain(`${refund.id} charge.refunded debited ${userId}`);
      });

      it('records the refund as failed when the read model does not catch up in time (no projector running)', async () => {
        const config = { role: 'api' as const, stripe: testApp.config.stripe, readYourWritesTimeoutMs: 200 };
        const apiOnly = await startTestApp(kind, { config });
        try {
          const { refund } = missedPaymentAndRefund();

          const { summary, lines } = await syncOn(apiOnly);

          expect(summary.outcomes).toMatchObject({ credited: 1, failed: 1 });
          expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${refund.id} charge.refunded failed \\(`)));
          expect(await stripeWebhookClient(() => apiOnly).deliveryOf(refund.id)).toMatchObject({ status: 'failed' });
        } finally {
          await apiOnly.close();
        }
      });
    });

    it("throws Stripe's authentication error for a key Stripe refuses, having fed nothing", async () => {
      const userId = newUser();
      fake.addEvents(packPayment(userId, 60).event);
      const wrongKey = stripeApiClient({ ...testApp.config.stripe, apiKey: 'sk_test_notTheRightKey0123' })!;

      await expect(sync(hoursAgo(1), wrongKey)).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
      expect(await webhook.ledgerTypesOf(userId)).toEqual([]);
    });
  },
);

const CLI = builtCli('api/src/stripe/stripe.cli.js');

/** `npm run stripe -- ...` as a real process (built by jest's global setup); never throws on a non-zero exit. */
function stripeCli(env: Record<string, string>, ...args: string[]): Promise<CliRun> {
  return runCli(CLI, { LOG_LEVEL: 'silent', ...env }, ...args);
}

/** A port nothing listens on: Stripe unreachable. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("npm run stripe -- sync, as a real process on the embedded PGlite store, against a local Stripe-shaped server (Stripe's API is unreachable here)", () => {
  let fake: FakeStripeApi;
  const environment = (dataDir: string, changes: Record<string, string> = {}) => ({
    DATA_DIR: dataDir,
    STRIPE_API_KEY: fake.apiKey,
    STRIPE_API_BASE: fake.url,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...changes,
  });
  const freshDataDir = () => mkdtempSync(join(tmpdir(), 'credits-stripe-sync-'));

  beforeAll(async () => {
    fake = await startFakeStripeApi();
  });

  afterAll(async () => {
    await fake?.close();
  });

  beforeEach(() => fake.reset());

  it('credits a missed payment and exits 0; run again, it credits nothing new', async () => {
    const dataDir = freshDataDir();
    const userId = newUser();
    const payment = packPayment(userId, 60).event;
    const charge = stripeEvent('charge.succeeded', { id: stripeId('ch') }, { created: nowSeconds() - 30 });
    fake.addEvents(payment, charge);

    const first = await stripeCli(environment(dataDir), 'sync', '--since', '1h');
    const second = await stripeCli(environment(dataDir), 'sync', '--since=1h');

    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.split('\n')).toEqual([
      `${payment.id} checkout.session.completed credited ${userId}`,
      `${charge.id} charge.succeeded ignored (a charge is credited through its payment intent or Checkout session)`,
      expect.stringMatching(/^synced 2 Stripe events since .*: 1 credited, 1 ignored$/),
      '',
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`${payment.id} checkout.session.completed duplicate ${userId}`);
    expect(second.stdout).toMatch(/: 1 duplicate, 1 ignored\n$/);
    const { store } = await openSqlEventStore(
      { kind: 'pglite', dataDir: join(dataDir, 'pglite') },
      READ_MODEL_MIGRATIONS,
    );
    try {
      expect((await foldEveryStream(store)).get(userId)?.balance).toBe(100);
    } finally {
      await store.close();
    }
  });

  it('exits 1 when an event failed, naming it', async () => {
    const malformed = checkoutSessionCompleted({ amount_total: -1, client_reference_id: newUser() });
    fake.addEvents(malformed);

    const run = await stripeCli(environment(freshDataDir()), 'sync', '--since', '30m');

    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`${malformed.id} checkout.session.completed failed (`);
    expect(run.stdout).toMatch(/: 1 failed\n$/);
  });

  describe('exits 2 when it cannot run, and never prints the key', () => {
    it('without STRIPE_API_KEY', async () => {
      const run = await stripeCli(environment(freshDataDir(), { STRIPE_API_KEY: '' }), 'sync', '--since', '1h');

      expect(run).toMatchObject({ code: 2, stdout: '' });
      expect(run.stderr).toContain('STRIPE_API_KEY is not set');
    });

    it('for a key Stripe refuses', async () => {
      const wrongKey = 'sk_test_refusedKey0123456789';
      const run = await stripeCli(environment(freshDataDir(), { STRIPE_API_KEY: wrongKey }), 'sync', '--since', '1h');

      expect(run.code).toBe(2);
      expect(run.stderr).toContain('Invalid API Key provided');
      expect(run.stdout + run.stderr).not.toContain(wrongKey);
      expect(run.stdout + run.stderr).not.toContain(wrongKey.slice(-4));
    });

    it('when Stripe cannot be reached', async () => {
      const unreachable = `http://127.0.0.1:${await closedPort()}`;
      const run = await stripeCli(
        environment(freshDataDir(), { STRIPE_API_BASE: unreachable }),
        'sync',
        '--since',
        '1h',
      );

      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/could not be reached \(StripeConnectionError\)/);
      expect(run.stdout + run.stderr).not.toContain(fake.apiKey);
    });

    it.each([
      [['sync', '--since', '31d'], /more than 30 days back/],
      [['sync'], /--since is required/],
      [['refund', '--since', '1h'], /unknown command "refund"/],
    ])('for %j', async (args, message) => {
      const run = await stripeCli(environment(freshDataDir()), ...args);

      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('usage: npm run stripe -- sync --since');
      expect(fake.requests).toEqual([]);
    });
  });
});
