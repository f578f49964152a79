import { randomUUID } from 'node:crypto';
import type { SqlDriver } from '@libs/event-store';
import { READ_MODEL_DB } from '@projections';
import request from 'supertest';
import { checkOf, healthCheckOf, statusesOf } from '../support/health-check-client';
import { type FakeStripeApi, startFakeStripeApi } from '../support/fake-stripe-api';
import { packPaymentOnStripe, refundOnStripe } from '../support/stripe-payments-on-stripe';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { TEST_API_KEYS, type TestApp, bearer, grantBonus, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * The health check over HTTP on a store filled through the real API and
 * signed webhooks, then the read model tampered with in SQL, as a bug or a
 * hand-made "fix" would: each drift is found, named and repaired, and the
 * event store is left as it was, byte for byte.
 */
describe.each(storeKindsUnderTest())('health check and repair on %s', (kind) => {
  let testApp: TestApp;
  let stripeApi: FakeStripeApi;
  const stripe = stripeWebhookClient(() => testApp);
  const users: string[] = [];

  beforeAll(async () => {
    stripeApi = await startFakeStripeApi();
    const stripeConfig = stripeConfigUnderTest({ apiKey: stripeApi.apiKey, apiBase: new URL(stripeApi.url) });
    testApp = await startTestApp(kind, { config: { stripe: stripeConfig, apiKeys: TEST_API_KEYS } });
    for (let index = 0; index < 12; index++) users.push(await activeUser(index));
  });

  afterAll(async () => {
    await testApp?.close();
    await stripeApi?.close();
  });

  const http = () => request(testApp.app.getHttpServer());
  const db = () => testApp.app.get<SqlDriver>(READ_MODEL_DB);

  /** A bonus, a few consumptions, and for every third user a pack bought through Checkout and refunded. */
  async function activeUser(index: number): Promise<string> {
    const userId = `user-${index}-${randomUUID()}`;
    await grantBonus(testApp, userId, 50);
    for (let consume = 0; consume < (index % 4) + 1; consume++) {
      await stripe.consume(userId, 3, `${userId}-upload-${consume}`).expect(201);
    }
    if (index % 3 === 0) {
      // Paid and refunded twenty minutes ago: past the grace the check gives webhooks still on their way.
      const payment = packPaymentOnStripe(userId, 1200);
      const refund = refundOnStripe(payment, 1100);
      stripeApi.addObjects(...payment.objects, ...refund.objects);
      await stripe.deliver(payment.event).expect(200);
      await stripe.deliver(refund.event).expect(200);
    }
    return userId;
  }

  async function eventStoreFingerprint(): Promise<{ rows: number; digest: string }> {
    const [row] = await db().query<{ rows: number; digest: string }>(
      `select count(*)::int as rows, md5(coalesce(string_agg(events::text, '|' order by global_position), '')) as digest
       from events`,
    );
    return row;
  }

  it('reports every check ok on a healthy system', async () => {
    const report = await healthCheckOf(testApp);

    expect(statusesOf(report)).toEqual({
      'read-model-vs-replay': 'ok',
      'transaction-integrity': 'ok',
      'recharge-status': 'ok',
      'stripe-payment-sync': 'ok',
      configuration: 'ok',
      'data-anomalies': 'ok',
    });
    expect(report.status).toBe('ok');
    expect(report.streamsReplayed).toBe(12);
    expect(checkOf(report, 'stripe-payment-sync').counts).toMatchObject({ 'checkout-sessions': 4, refunds: 4 });
    expect(checkOf(report, 'read-model-vs-replay').findings).toEqual([]);
  });

  it('names each user whose rows were tampered with, repairs exactly those, and leaves the event store as it was', async () => {
    const [changedBalance, deletedLedgerRow, , changedRecharge] = users;
    const ghost = `ghost-${randomUUID()}`;
    await db().query('update balances set balance = balance + 7 where user_id = $1', [changedBalance]);
    await db().query('update recharges set credits_taken_back = 0 where user_id = $1', [changedRecharge]);
    await db().query('delete from ledger_entries where user_id = $1 and version = 2', [deletedLedgerRow]);
    await db().query(
      `insert into balances (user_id, balance, version, last_position, last_event_at, consumes_count, recharges_count, bonuses_count)
       values ($1, 100, 1, 1, now(), 0, 0, 1)`,
      [ghost],
    );
    const storeBefore = await eventStoreFingerprint();

    const found = checkOf(await healthCheckOf(testApp), 'read-model-vs-replay');

    expect(found.status).toBe('failed');
    expect(found.findings.map(({ kind, userId }) => ({ kind, userId }))).toEqual(
      expect.arrayContaining([
        { kind: 'balance-differs', userId: changedBalance },
        { kind: 'ledger-rows-missing', userId: deletedLedgerRow },
        { kind: 'read-model-without-stream', userId: ghost },
        { kind: 'recharge-differs', userId: changedRecharge },
      ]),
    );
    expect(new Set(found.findings.map((finding) => finding.userId))).toEqual(
      new Set([changedBalance, deletedLedgerRow, ghost, changedRecharge]),
    );

    await http()
      .get('/v1/admin/health-check')
      .query({ repair: 'true' })
      .set('Authorization', bearer('audit'))
      .expect(403);
    const repaired = await healthCheckOf(testApp, { repair: 'true' }, 'admin');

    expect(repaired.repair?.statusBeforeRepair).toBe('failed');
    expect(repaired.repair?.repairedUsers.map((user) => user.userId).sort()).toEqual(
      [changedBalance, deletedLedgerRow, ghost, changedRecharge].sort(),
    );
    expect(repaired.repair?.repairedUsers.every((user) => user.cleanAfterRepair)).toBe(true);
    expect(checkOf(repaired, 'read-model-vs-replay').status).toBe('ok');
    expect(checkOf(repaired, 'transaction-integrity').status).toBe('ok');
    const again = await healthCheckOf(testApp);
    expect(checkOf(again, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });
    expect(await eventStoreFingerprint()).toEqual(storeBefore);
    const [{ count }] = await db().query<{ count: number }>(
      'select count(*)::int as count from balances where user_id = $1',
      [ghost],
    );
    expect(count).toBe(0);
  });

  it('repairs while commands keep coming: the projector goes on, and the read model ends clean', async () => {
    const [, , busy, quiet] = users.slice(4);
    await db().query('update balances set balance = balance + 3 where user_id = $1', [busy]);
    const consumes = Array.from({ length: 30 }, (_, index) =>
      stripe.consume(index % 2 === 0 ? busy : quiet, 1, `${busy}-during-repair-${index}`).expect(201),
    );

    const [repaired] = await Promise.all([
      http()
        .get('/v1/admin/health-check')
        .query({ repair: 'true', users: `${busy},${quiet}` })
        .set('Authorization', bearer('admin')),
      ...consumes,
    ]);

    expect(repaired.status).toBe(200);
    const after = await healthCheckOf(testApp);
    expect(checkOf(after, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });
    expect(checkOf(after, 'configuration').findings).toEqual([]);
  });

  // Last: it corrupts the store for good.
  it('finds a stream that lost its first event, which the listing of streams cannot see', async () => {
    const victim = users[10];
    await db().query(`delete from events where stream_id = $1 and stream_version = 1`, [`credits-${victim}`]);

    const report = await healthCheckOf(testApp);

    expect(checkOf(report, 'transaction-integrity').findings).toEqual([
      expect.objectContaining({ kind: 'version-gap', userId: victim, version: 2 }),
    ]);
  });
});
