import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { packCheckoutCompleted, stripeId } from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, startTestApp } from '../support/test-app';
import { describeOnPostgres, postgresUrlUnderTest } from '../support/test-stores';

/**
 * PostgreSQL unavailable while Stripe delivers: the webhook must answer 5xx
 * (so Stripe retries) and the retry, once the database is back, must credit
 * the payment exactly once. The outage is real: the test database refuses
 * connections and its sessions are terminated, as in a failover.
 */
describeOnPostgres('Stripe webhook while PostgreSQL is unavailable', () => {
  let testApp: TestApp;
  const stripe = stripeWebhookClient(() => testApp);

  beforeAll(async () => {
    testApp = await startTestApp('postgres', { config: { stripe: stripeConfigUnderTest() } });
  });

  afterAll(async () => {
    await setConnectionsAllowed(databaseName(), true).catch(() => undefined);
    await testApp?.close();
  });

  function databaseName(): string {
    const location = testApp.config.eventStore;
    if (location.kind !== 'postgres') throw new Error('expected a PostgreSQL test app');
    return new URL(location.connectionString).pathname.slice(1);
  }

  it('answers 5xx during the outage, and the retry after it credits once', async () => {
    const userId = `user-${randomUUID()}`;
    const paymentIntentId = stripeId('pi');
    const session = packCheckoutCompleted(userId, paymentIntentId);

    await setConnectionsAllowed(databaseName(), false);
    const duringOutage = await stripe.deliver(session);
    await setConnectionsAllowed(databaseName(), true);

    expect(duringOutage.status).toBe(503);
    expect(duringOutage.headers['retry-after']).toBe('1');
    expect(duringOutage.body.type).toMatch(/\/problems\/stripe-delivery-failed$/);
    const retried = await eventually(async () => {
      const response = await stripe.deliver(session);
      return response.status === 200 ? response : undefined;
    });
    expect(retried.body).toMatchObject({ status: 'credited', userId, rechargeId: paymentIntentId });
    expect((await stripe.deliver(session).expect(200)).body).toMatchObject({ status: 'duplicate' });
    expect(await stripe.balanceOf(userId)).toEqual({ balance: 100, frozenCredits: 0 });
    expect(await stripe.ledgerTypesOf(userId)).toEqual(['RechargeCompleted']);
  });
});

/** Refuses (or allows again) new connections to the database, and ends the ones it has. */
async function setConnectionsAllowed(database: string, allowed: boolean): Promise<void> {
  const admin = new Client({ connectionString: postgresUrlUnderTest() });
  await admin.connect();
  try {
    await admin.query(`alter database "${database}" with allow_connections ${allowed}`);
    if (!allowed) {
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [database]);
    }
  } finally {
    await admin.end();
  }
}

/** The app's pool reconnects on its own after the outage: retry as Stripe would, for a few seconds. */
async function eventually<T>(attempt: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error('no success before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
