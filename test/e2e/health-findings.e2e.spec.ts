import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { creditsStreamId } from '@libs/credits';
import { loadConfig } from '@libs/config';
import type { SqlDriver } from '@libs/event-store';
import { PROJECTIONS, READ_MODEL_DB } from '@projections';
import request from 'supertest';
import { type Report, type ReportedCheck, checkOf, healthCheckOf } from '../support/health-check-client';
import {
  chargeRefunded,
  checkoutSessionCompleted,
  disputeCreated,
  packCheckoutCompleted,
  stripeId,
} from '../support/stripe-events';
import { WEBHOOK_SECRET, stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import {
  TEST_API_KEYS,
  type TestApp,
  bearer,
  grantBonus,
  projectionsCaughtUp,
  startTestApp,
} from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Every finding the health check can make, made on purpose through the real
 * app over HTTP (and, for what no API call can do, in SQL as a bug or a
 * hand-made "fix" would): each is reported with the right kind and severity,
 * names the user (or payment, or Stripe delivery) it concerns, and leaves a
 * healthy neighbour unnamed. Each group has an app of its own: a corrupt
 * event stays in the store, and stops that app's projector for good.
 */
const HOUR_MS = 3_600_000;
const YEAR_MS = 365 * 24 * HOUR_MS;

const newUserId = (role: string) => `${role}-${randomUUID()}`;
const http = (testApp: TestApp) => request(testApp.app.getHttpServer());
/** The read model and the event store share this database. */
const sqlOf = (testApp: TestApp) => testApp.app.get<SqlDriver>(READ_MODEL_DB);

/** `times` consumptions of `amount` credits each, one after the other. */
async function consume(testApp: TestApp, userId: string, times: number, amount = 1): Promise<void> {
  for (let index = 0; index < times; index++) {
    const reference = `upload-${randomUUID()}`;
    await http(testApp)
      .post(`/v1/users/${userId}/consumptions`)
      .set('Authorization', bearer('consume'))
      .set('Idempotency-Key', reference)
      .send({ feature: 'video_generation', reference, amount })
      .expect(201);
  }
}

/**
 * `GET /v1/admin/health-check` as it is, without waiting for the projector
 * (healthCheckOf waits, and a projector stopped by a corrupt event never
 * catches up).
 */
async function reportOf(testApp: TestApp, query: Record<string, string> = {}): Promise<Report> {
  const response = await http(testApp)
    .get('/v1/admin/health-check')
    .query(query)
    .set('Authorization', bearer('audit'))
    .expect(200);
  return response.body as Report;
}

/** What a check found, as kind and user: what a reader of the report acts on. */
function kindsAndUsersOf(check: ReportedCheck): Array<{ kind: string; userId?: string }> {
  return check.findings.map(({ kind, userId }) => ({ kind, userId }));
}

/** Every user any check of the report names. */
function usersNamedIn(report: Report): Set<string> {
  const named = report.checks.flatMap((check) => check.findings.map((finding) => finding.userId));
  return new Set(named.filter((userId) => userId !== undefined));
}

/**
 * Appends, behind the app's back, a copy of one of the user's events at the
 * stream's next version, changed as asked; with a fresh idempotency key unless
 * told to keep the copied one.
 */
async function appendCopyInSql(
  testApp: TestApp,
  userId: string,
  copy: { ofVersion: number; type?: string; schemaVersion?: number; data?: object; sameIdempotencyKey?: boolean },
): Promise<void> {
  const metadataChanges = copy.sameIdempotencyKey ? {} : { idempotencyKey: `sql-${randomUUID()}` };
  await sqlOf(testApp).query(
    `insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
     select stream_id, (select max(stream_version) + 1 from events where stream_id = $1), gen_random_uuid(),
            coalesce($3::text, type), coalesce($4::int, schema_version), data || $5::jsonb, metadata || $6::jsonb
     from events where stream_id = $1 and stream_version = $2`,
    [
      creditsStreamId(userId),
      copy.ofVersion,
      copy.type ?? null,
      copy.schemaVersion ?? null,
      JSON.stringify(copy.data ?? {}),
      JSON.stringify(metadataChanges),
    ],
  );
}

async function setOccurredAtInSql(testApp: TestApp, userId: string, versions: number[], at: Date): Promise<void> {
  await sqlOf(testApp).query(
    `update events set metadata = jsonb_set(metadata, '{occurredAt}', to_jsonb($3::text))
     where stream_id = $1 and stream_version = any($2::int[])`,
    [creditsStreamId(userId), versions, at.toISOString()],
  );
}

describe.each(storeKindsUnderTest())('health check findings on %s', (kind) => {
  describe('transaction integrity: streams that cannot be folded', () => {
    let testApp: TestApp;
    let report: Report;
    const users = {
      unknownType: newUserId('unknown-type'),
      unknownSchema: newUserId('unknown-schema'),
      duplicateKey: newUserId('duplicate-key'),
      versionGap: newUserId('version-gap'),
      overdraft: newUserId('overdraft'),
      chainBroken: newUserId('chain-broken'),
      neighbour: newUserId('neighbour'),
    };

    beforeAll(async () => {
      testApp = await startTestApp(kind);
      // Versions 1 (bonus of 50), 2 and 3 (3 credits each) for every user. The
      // neighbour goes last: the projector's checkpoint is then on its event,
      // never on the one deleted below (a checkpoint must stay a stored position).
      for (const userId of Object.values(users)) {
        await grantBonus(testApp, userId, 50);
        await consume(testApp, userId, 2, 3);
      }
      // Corrupt only once everything is projected: the first unparsable or
      // overdrawing event stops the projector (ProjectionInvariantError). Each copy lands at version 4.
      await projectionsCaughtUp(testApp.app);
      await sqlOf(testApp).query('update ledger_entries set delta = delta + 1 where user_id = $1 and version = 2', [
        users.chainBroken,
      ]);
      await sqlOf(testApp).query('delete from events where stream_id = $1 and stream_version = 2', [
        creditsStreamId(users.versionGap),
      ]);
      await appendCopyInSql(testApp, users.duplicateKey, { ofVersion: 2, sameIdempotencyKey: true });
      await appendCopyInSql(testApp, users.overdraft, { ofVersion: 2, data: { amount: 1000 } });
      await appendCopyInSql(testApp, users.unknownType, { ofVersion: 3, type: 'CreditsTransferred' });
      await appendCopyInSql(testApp, users.unknownSchema, { ofVersion: 3, schemaVersion: 99 });
      report = await reportOf(testApp);
    });

    afterAll(async () => {
      await testApp?.close();
    });

    const integrityFindingOf = (userId: string) =>
      checkOf(report, 'transaction-integrity').findings.find((finding) => finding.userId === userId);

    it('reports an event of an unknown type as event-unparsable, at its version', () => {
      expect(integrityFindingOf(users.unknownType)).toMatchObject({
        kind: 'event-unparsable',
        severity: 'failed',
        version: 4,
        detail: expect.stringContaining('CreditsTransferred'),
      });
    });

    it('reports an event of an unknown schema version as event-unparsable, at its version', () => {
      expect(integrityFindingOf(users.unknownSchema)).toMatchObject({
        kind: 'event-unparsable',
        severity: 'failed',
        version: 4,
        detail: expect.stringContaining('schema version 99'),
      });
    });

    it('reports an idempotency key used twice in a stream as duplicate-idempotency-key', () => {
      expect(integrityFindingOf(users.duplicateKey)).toMatchObject({
        kind: 'duplicate-idempotency-key',
        severity: 'failed',
        version: 4,
        detail: expect.stringContaining('used at versions 2 and 4'),
      });
    });

    it('reports a deleted event as a version-gap at the version after it', () => {
      expect(integrityFindingOf(users.versionGap)).toMatchObject({
        kind: 'version-gap',
        severity: 'failed',
        version: 3,
        detail: 'version 3 follows version 1',
      });
    });

    it('reports a consumption of more than the balance as balance-rule-broken', () => {
      expect(integrityFindingOf(users.overdraft)).toMatchObject({
        kind: 'balance-rule-broken',
        severity: 'failed',
        version: 4,
      });
    });

    it('reports a ledger row whose delta was changed as ledger-chain-broken, at that row', () => {
      expect(integrityFindingOf(users.chainBroken)).toMatchObject({
        kind: 'ledger-chain-broken',
        severity: 'failed',
        version: 2,
      });
    });

    it('fails, naming each corrupt stream once and never the healthy neighbour', () => {
      const integrity = checkOf(report, 'transaction-integrity');

      expect(integrity.status).toBe('failed');
      expect(report.status).toBe('failed');
      expect(integrity.findingsCount).toBe(6);
      expect(integrity.findings.map((finding) => finding.userId).sort()).toEqual(
        Object.values(users)
          .filter((userId) => userId !== users.neighbour)
          .sort(),
      );
      expect(usersNamedIn(report)).not.toContain(users.neighbour);
    });
  });

  describe('read model vs replay: rows that disagree with their stream', () => {
    let testApp: TestApp;

    beforeAll(async () => {
      testApp = await startTestApp(kind);
    });

    afterAll(async () => {
      await testApp?.close();
    });

    // Drifts the tampering test of health-check.e2e.spec.ts does not make. Every user: a bonus of 50,
    // then two consumptions of 3 (versions 1 to 3, balance 44).
    it.each([
      {
        tampering: 'its balance row deleted',
        sql: 'delete from balances where user_id = $1',
        found: 'stream-without-balance-row',
      },
      {
        tampering: 'its balance row a version ahead of the stream',
        sql: 'update balances set version = version + 1 where user_id = $1',
        found: 'balance-ahead-of-stream',
      },
      {
        tampering: 'its balance row a version behind what the projector passed',
        sql: 'update balances set version = version - 1 where user_id = $1',
        found: 'balance-behind-checkpoint',
      },
      {
        tampering: 'its ledger rows deleted',
        sql: 'delete from ledger_entries where user_id = $1',
        found: 'stream-without-ledger-row',
      },
      {
        // Delta and balance-after moved together: the chain holds, the last balance is wrong.
        tampering: 'its last ledger row 5 credits richer',
        sql: 'update ledger_entries set delta = delta + 5, balance_after = balance_after + 5 where user_id = $1 and version = 3',
        found: 'ledger-balance-differs',
      },
    ])('names a user with $tampering as $found', async ({ sql, found }) => {
      const tampered = newUserId('tampered');
      const neighbour = newUserId('neighbour');
      for (const userId of [tampered, neighbour]) {
        await grantBonus(testApp, userId, 50);
        await consume(testApp, userId, 2, 3);
      }
      await projectionsCaughtUp(testApp.app);
      await sqlOf(testApp).query(sql, [tampered]);

      const report = await healthCheckOf(testApp, { users: `${tampered},${neighbour}` });

      expect(checkOf(report, 'read-model-vs-replay').status).toBe('failed');
      expect(kindsAndUsersOf(checkOf(report, 'read-model-vs-replay'))).toEqual([{ kind: found, userId: tampered }]);
      expect(usersNamedIn(report)).toEqual(new Set([tampered]));
    });
  });

  describe('data anomalies', () => {
    let testApp: TestApp;
    const stripe = stripeWebhookClient(() => testApp);

    beforeAll(async () => {
      testApp = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest({ refundShortfall: 'debt' }) } });
    });

    afterAll(async () => {
      await testApp?.close();
    });

    /** A user who did nothing unusual: a bonus of 50 and three consumptions of 1. */
    async function healthyNeighbour(): Promise<string> {
      const userId = newUserId('neighbour');
      await grantBonus(testApp, userId, 50);
      await consume(testApp, userId, 3);
      return userId;
    }

    /** The report of these users' streams only: each test sees its own users, whatever the others left. */
    const anomaliesOf = async (users: string[], query: Record<string, string> = {}) =>
      checkOf(await healthCheckOf(testApp, { users: users.join(','), ...query }), 'data-anomalies');

    it('warns of a bonus above amountMax, naming its user and version', async () => {
      const generous = newUserId('generous');
      await grantBonus(testApp, generous, 500);
      const neighbour = await healthyNeighbour();

      const anomalies = await anomaliesOf([generous, neighbour], { amountMax: '100' });

      expect(anomalies.status).toBe('warning');
      expect(anomalies.findings).toEqual([
        expect.objectContaining({ kind: 'amount-above-threshold', severity: 'warning', userId: generous, version: 1 }),
      ]);
    });

    it('warns once per burst of more than burstMax consumptions within burstWindow seconds', async () => {
      const hasty = newUserId('hasty');
      await grantBonus(testApp, hasty, 50);
      await consume(testApp, hasty, 8);
      // Two bursts of four: versions 2 to 5 an hour ago, 6 to 9 now.
      await setOccurredAtInSql(testApp, hasty, [2, 3, 4, 5], new Date(Date.now() - HOUR_MS));
      // Three consumptions: at burstMax, not above it.
      const neighbour = await healthyNeighbour();

      const anomalies = await anomaliesOf([hasty, neighbour], { burstMax: '3', burstWindow: '60' });

      expect(anomalies.status).toBe('warning');
      expect(anomalies.findings.map(({ kind, userId, version }) => ({ kind, userId, version }))).toEqual([
        { kind: 'consumption-burst', userId: hasty, version: 5 },
        { kind: 'consumption-burst', userId: hasty, version: 9 },
      ]);
    });

    it('warns of an event decided a year in the future', async () => {
      const timeTraveller = newUserId('time-traveller');
      await grantBonus(testApp, timeTraveller, 50);
      await setOccurredAtInSql(testApp, timeTraveller, [1], new Date(Date.now() + YEAR_MS));
      const neighbour = await healthyNeighbour();

      const anomalies = await anomaliesOf([timeTraveller, neighbour]);

      expect(anomalies.status).toBe('warning');
      expect(anomalies.findings).toEqual([
        expect.objectContaining({ kind: 'event-in-future', severity: 'warning', userId: timeTraveller, version: 1 }),
      ]);
    });

    it('fails on a negative balance row that no refund debt explains', async () => {
      const tampered = newUserId('tampered');
      await grantBonus(testApp, tampered, 50);
      const neighbour = await healthyNeighbour();
      await projectionsCaughtUp(testApp.app);
      await sqlOf(testApp).query('update balances set balance = -5 where user_id = $1', [tampered]);

      const anomalies = await anomaliesOf([tampered, neighbour]);

      expect(anomalies.status).toBe('failed');
      expect(kindsAndUsersOf(anomalies)).toEqual([{ kind: 'negative-balance-without-debt', userId: tampered }]);
    });

    it('counts a refund debt as refund-debts without naming it', async () => {
      // Paid 100 credits, spent them all, then refunded in full: the debt policy leaves -100.
      const debtor = newUserId('debtor');
      const paymentIntentId = stripeId('pi');
      await stripe.deliver(packCheckoutCompleted(debtor, paymentIntentId)).expect(200);
      await consume(testApp, debtor, 1, 100);
      const fullRefund = chargeRefunded({
        id: paymentIntentId.replace(/^pi_/, 'ch_'),
        payment_intent: paymentIntentId,
        amount_refunded: 1000,
      });
      expect((await stripe.deliver(fullRefund).expect(200)).body).toMatchObject({ status: 'debited' });
      expect(await stripe.balanceOf(debtor)).toEqual({ balance: -100, frozenCredits: 0 });
      const neighbour = await healthyNeighbour();

      const report = await healthCheckOf(testApp, { users: [debtor, neighbour].join(',') });

      expect(checkOf(report, 'data-anomalies')).toMatchObject({
        status: 'ok',
        findingsCount: 0,
        counts: expect.objectContaining({ 'refund-debts': 1 }),
      });
      expect(checkOf(report, 'read-model-vs-replay').status).toBe('ok');
    });
  });

  describe('recharge status: what is still in flight', () => {
    let testApp: TestApp;
    const stripe = stripeWebhookClient(() => testApp);

    beforeAll(async () => {
      testApp = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest() } });
    });

    afterAll(async () => {
      await testApp?.close();
    });

    /** Recharge status is not filtered by user: each test picks out the findings of its own ids. */
    const rechargeStatusOf = async (query: Record<string, string> = {}) =>
      checkOf(await healthCheckOf(testApp, query), 'recharge-status');

    /** A user who bought the 100-credit pack; the recharge id is the payment intent's. */
    async function paidUser(): Promise<{ userId: string; rechargeId: string }> {
      const userId = newUserId('payer');
      const rechargeId = stripeId('pi');
      await stripe.deliver(packCheckoutCompleted(userId, rechargeId)).expect(200);
      return { userId, rechargeId };
    }

    async function disputedUser(): Promise<{ userId: string; rechargeId: string }> {
      const paid = await paidUser();
      const opened = await stripe.deliver(disputeCreated({ payment_intent: paid.rechargeId })).expect(200);
      expect(opened.body).toMatchObject({ status: 'frozen' });
      return paid;
    }

    it('warns of an open dispute, naming its user and recharge', async () => {
      const disputed = await disputedUser();
      const neighbour = await paidUser();

      const rechargeStatus = await rechargeStatusOf();

      expect(rechargeStatus.status).toBe('warning');
      expect(rechargeStatus.findings).toContainEqual(
        expect.objectContaining({ kind: 'dispute-open', severity: 'warning', ...disputed }),
      );
      expect(rechargeStatus.findings.map((finding) => finding.userId)).not.toContain(neighbour.userId);
    });

    it('calls a dispute open for longer than staleAfter dispute-open-too-long', async () => {
      const old = await disputedUser();
      const recent = await disputedUser();
      await projectionsCaughtUp(testApp.app);
      await sqlOf(testApp).query(`update recharges set disputed_at = now() - interval '2 hours' where user_id = $1`, [
        old.userId,
      ]);

      const rechargeStatus = await rechargeStatusOf({ staleAfter: '3600' });

      const findingOf = (userId: string) => rechargeStatus.findings.find((finding) => finding.userId === userId);
      expect(findingOf(old.userId)).toMatchObject({ kind: 'dispute-open-too-long', rechargeId: old.rechargeId });
      expect(findingOf(old.userId)?.ageSeconds).toBeGreaterThanOrEqual(7200);
      expect(findingOf(recent.userId)).toMatchObject({ kind: 'dispute-open', rechargeId: recent.rechargeId });
    });

    it('warns of a payment parked because no user could be found for it, naming the payment', async () => {
      // A Checkout session of the pack that names no user and no customer.
      const parked = await stripe
        .deliver(checkoutSessionCompleted({ metadata: { packId: 'credits_100' } }))
        .expect(200);
      expect(parked.body).toMatchObject({ status: 'parked' });
      const paymentId = parked.body.rechargeId as string;

      const rechargeStatus = await rechargeStatusOf();

      expect(rechargeStatus.findings).toContainEqual(
        expect.objectContaining({ kind: 'payment-parked', severity: 'warning', paymentId }),
      );
    });

    it('fails on a Stripe delivery left received or failed for longer than staleAfter, not on a recent one', async () => {
      const unfinished = packCheckoutCompleted(newUserId('payer'));
      await stripe.deliver(unfinished).expect(200);
      // A refund of a payment never recorded: refused with 503 and recorded `failed`, for Stripe to retry.
      const failed = chargeRefunded({ payment_intent: stripeId('pi'), amount_refunded: 300 });
      const recentlyFailed = chargeRefunded({ payment_intent: stripeId('pi'), amount_refunded: 300 });
      await stripe.deliver(failed).expect(503);
      await stripe.deliver(recentlyFailed).expect(503);
      // As a crash between a delivery's steps would leave it, two hours ago.
      await sqlOf(testApp).query(
        `update stripe_deliveries set status = 'received', first_received_at = now() - interval '2 hours'
         where event_id = $1`,
        [unfinished.id],
      );
      await sqlOf(testApp).query(
        `update stripe_deliveries set first_received_at = now() - interval '2 hours' where event_id = $1`,
        [failed.id],
      );

      const rechargeStatus = await rechargeStatusOf({ staleAfter: '3600' });

      expect(rechargeStatus.status).toBe('failed');
      const deliveries = rechargeStatus.findings
        .filter((finding) => finding.stripeEventId !== undefined)
        .map(({ kind, severity, stripeEventId }) => ({ kind, severity, stripeEventId }));
      expect(deliveries).toHaveLength(2);
      expect(deliveries).toEqual(
        expect.arrayContaining([
          { kind: 'delivery-unfinished', severity: 'failed', stripeEventId: unfinished.id },
          { kind: 'delivery-failed', severity: 'failed', stripeEventId: failed.id },
        ]),
      );
    });

    // The recharge's row changes with the refund: the age must still come from the dispute's opening.
    it('counts a dispute’s age from its opening, not from a later partial refund of the recharge', async () => {
      const disputed = await disputedUser();
      await sleep(1500);
      const before = await rechargeStatusOf({ staleAfter: '1' });
      expect(before.findings).toContainEqual(
        expect.objectContaining({ kind: 'dispute-open-too-long', userId: disputed.userId }),
      );
      const partialRefund = chargeRefunded({ payment_intent: disputed.rechargeId, amount_refunded: 100 });
      expect((await stripe.deliver(partialRefund).expect(200)).body).toMatchObject({ status: 'debited' });

      const rechargeStatus = await rechargeStatusOf({ staleAfter: '1' });

      const finding = rechargeStatus.findings.find((candidate) => candidate.userId === disputed.userId);
      expect(finding).toMatchObject({ kind: 'dispute-open-too-long', rechargeId: disputed.rechargeId });
    });
  });

  describe('configuration', () => {
    const malformedSecret = 'not-a-secret';
    let testApp: TestApp;
    let report: Report;

    beforeAll(async () => {
      // ROLE=api: no projector in this process, as when the projector process is down.
      // No STRIPE_API_KEY; the second webhook secret is not a whsec_ secret.
      testApp = await startTestApp(kind, {
        config: {
          role: 'api',
          apiKeys: TEST_API_KEYS,
          stripe: stripeConfigUnderTest({ webhookSecrets: [WEBHOOK_SECRET, malformedSecret] }),
        },
      });
      const userId = newUserId('waiting');
      await grantBonus(testApp, userId, 50);
      // Recorded an hour ago and never projected: an hour behind, whatever the limit (30 s by default).
      await sqlOf(testApp).query(`update events set recorded_at = now() - interval '1 hour' where stream_id = $1`, [
        creditsStreamId(userId),
      ]);
      report = await reportOf(testApp);
    });

    afterAll(async () => {
      await testApp?.close();
    });

    const findingsOfKind = (findingKind: string) =>
      checkOf(report, 'configuration').findings.filter((finding) => finding.kind === findingKind);

    it('fails on a malformed webhook secret, naming its position but never its text', () => {
      expect(checkOf(report, 'configuration').status).toBe('failed');
      expect(findingsOfKind('webhook-secret-malformed')).toEqual([
        expect.objectContaining({ severity: 'failed', detail: expect.stringContaining('entry 2') }),
      ]);
      expect(checkOf(report, 'configuration').counts['webhook-secrets']).toBe(1);
      expect(JSON.stringify(report)).not.toContain(malformedSecret);
    });

    it('warns that STRIPE_API_KEY is not set', () => {
      expect(findingsOfKind('stripe-api-key-missing')).toEqual([expect.objectContaining({ severity: 'warning' })]);
    });

    it('fails on each projection further behind than the lag limit', () => {
      expect(findingsOfKind('projector-lagging')).toEqual(
        PROJECTIONS.map(({ name }) => expect.objectContaining({ severity: 'failed', projection: name, lagEvents: 1 })),
      );
      expect(findingsOfKind('projector-lagging').every((finding) => Number(finding.lagSeconds) >= 3600)).toBe(true);
    });

    it('reports nothing of what is set right', () => {
      expect(findingsOfKind('api-keys-missing')).toEqual([]);
      expect(findingsOfKind('webhook-secret-missing')).toEqual([]);
      expect(findingsOfKind('catalog-malformed')).toEqual([]);
    });
  });

  describe('configuration: what is missing', () => {
    let report: Report;

    beforeAll(async () => {
      // No webhook secret, no API_KEYS (as in the embedded mode), a catalog with no price.
      const emptyCatalog = { ...loadConfig({}).stripe.catalog, packs: [], plans: [] };
      const testApp = await startTestApp(kind, {
        config: { stripe: stripeConfigUnderTest({ webhookSecrets: [], catalog: emptyCatalog }) },
      });
      try {
        report = await healthCheckOf(testApp);
      } finally {
        await testApp.close();
      }
    });

    const findingsOfKind = (findingKind: string) =>
      checkOf(report, 'configuration').findings.filter((finding) => finding.kind === findingKind);

    it('fails when no webhook secret is set', () => {
      expect(checkOf(report, 'configuration').status).toBe('failed');
      expect(findingsOfKind('webhook-secret-missing')).toEqual([expect.objectContaining({ severity: 'failed' })]);
    });

    it('warns when API_KEYS is not set, and when the catalog has no price', () => {
      expect(findingsOfKind('api-keys-missing')).toEqual([expect.objectContaining({ severity: 'warning' })]);
      expect(findingsOfKind('catalog-empty')).toEqual([expect.objectContaining({ severity: 'warning' })]);
    });
  });

  describe('the endpoint', () => {
    let testApp: TestApp;
    const path = '/v1/admin/health-check';

    beforeAll(async () => {
      testApp = await startTestApp(kind);
    });

    afterAll(async () => {
      await testApp?.close();
    });

    it.each([
      { query: { findings: '0' }, named: 'findings' },
      { query: { since: 'yesterday' }, named: 'since' },
      { query: { users: 'a b' }, named: 'users' },
      { query: { repair: 'maybe' }, named: 'repair' },
    ])('answers 400 problem+json for $query', async ({ query, named }) => {
      const response = await http(testApp).get(path).query(query).set('Authorization', bearer('audit')).expect(400);

      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({ status: 400, detail: expect.stringContaining(named) });
      expect(response.body.type).toMatch(/\/problems\/invalid-request$/);
    });

    // Express reads a parameter given twice as an array: it must be refused, not reach the options.
    it('answers 400, not 500, to a users parameter given twice', async () => {
      const response = await http(testApp)
        .get(`${path}?users=${newUserId('first')}&users=${newUserId('second')}`)
        .set('Authorization', bearer('audit'));

      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    });

    it('answers 401 without an API key, 403 to a read key, and 403 to a repair asked with an audit key', async () => {
      await http(testApp).get(path).expect(401);
      await http(testApp).get(path).set('Authorization', bearer('read')).expect(403);
      const repair = await http(testApp)
        .get(path)
        .query({ repair: 'true' })
        .set('Authorization', bearer('audit'))
        .expect(403);
      expect(repair.body).toMatchObject({ requiredScope: 'admin' });
    });

    it('lists at most `findings` findings per check but counts them all', async () => {
      const first = newUserId('generous');
      const second = newUserId('generous');
      await grantBonus(testApp, first, 50);
      await grantBonus(testApp, second, 50);

      const report = await healthCheckOf(testApp, { users: `${first},${second}`, amountMax: '10', findings: '1' });

      expect(checkOf(report, 'data-anomalies')).toMatchObject({
        findingsCount: 2,
        counts: expect.objectContaining({ 'amount-above-threshold': 2 }),
      });
      expect(checkOf(report, 'data-anomalies').findings).toHaveLength(1);
    });

    it('replays only the users asked for and names no one else', async () => {
      const asked = newUserId('asked');
      const other = newUserId('other');
      await grantBonus(testApp, asked, 50);
      await consume(testApp, asked, 2);
      await grantBonus(testApp, other, 50);

      const report = await healthCheckOf(testApp, { users: asked, amountMax: '10' });

      expect(report).toMatchObject({ streamsReplayed: 1, eventsReplayed: 3 });
      expect(kindsAndUsersOf(checkOf(report, 'data-anomalies'))).toEqual([
        { kind: 'amount-above-threshold', userId: asked },
      ]);
      expect(usersNamedIn(report)).toEqual(new Set([asked]));
    });
  });
});
