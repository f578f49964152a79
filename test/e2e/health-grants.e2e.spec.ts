import { randomUUID } from 'node:crypto';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { GrantExpiry, READ_MODEL_DB } from '@projections';
import request from 'supertest';
import { expiriesByGrant, writeBonus } from '../support/expiring-grants';
import { type Report, type ReportedCheck, checkOf, healthCheckOf } from '../support/health-check-client';
import { disputeCreated, packCheckoutCompleted, stripeId } from '../support/stripe-events';
import { stripeConfigUnderTest, stripeWebhookClient } from '../support/stripe-webhook-client';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * The health check of grants, on every store: the replay compares every
 * grant of the grants read model (and each user's debt and dispute freezes)
 * with the stream's fold, reports a tampered row as drift and repairs it; and
 * a grant past its expiry by more than the grace period, with credits left
 * and no CreditsExpired, is reported as grant-expiry-overdue. The apps run
 * with the expiry process off (startTestApp), as when it is stopped.
 */
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

const newUserId = (role: string) => `${role}-${randomUUID()}`;

/** What a check found, as kind and user: what a reader of the report acts on. */
function kindsAndUsersOf(check: ReportedCheck): Array<{ kind: string; userId?: string }> {
  return check.findings.map(({ kind, userId }) => ({ kind, userId }));
}

function usersNamedIn(report: Report): Set<string> {
  const named = report.checks.flatMap((check) => check.findings.map((finding) => finding.userId));
  return new Set(named.filter((userId) => userId !== undefined));
}

describe.each(storeKindsUnderTest())('health check of grants on %s', (kind) => {
  let testApp: TestApp;
  const stripe = stripeWebhookClient(() => testApp);

  beforeAll(async () => {
    testApp = await startTestApp(kind, { config: { stripe: stripeConfigUnderTest() } });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());
  const sql = () => testApp.app.get<SqlDriver>(READ_MODEL_DB);
  const store = () => testApp.app.get<EventStore>(EVENT_STORE);

  async function grantBonus(userId: string, amount: number, expiresIn?: string): Promise<string> {
    const response = await http()
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', `bonus-${randomUUID()}`)
      .send({ amount, reason: 'welcome', ...(expiresIn === undefined ? {} : { expiresIn }) })
      .expect(201);
    return response.body.eventId as string;
  }

  async function consume(userId: string, amount: number): Promise<void> {
    await http()
      .post(`/v1/users/${userId}/consumptions`)
      .set('Authorization', bearer('consume'))
      .send({ feature: 'video_generation', reference: `render-${randomUUID()}`, amount })
      .expect(201);
  }

  /** Two grants, one of them expiring in 30 days, and a consumption drawing from both: versions 1 to 3. */
  async function userWithGrants(role: string): Promise<string> {
    const userId = newUserId(role);
    await grantBonus(userId, 20, 'P30D');
    await grantBonus(userId, 30);
    await consume(userId, 25);
    return userId;
  }

  async function remainingOf(userId: string): Promise<number[]> {
    const rows = await sql().query<{ remaining: string }>(
      'select remaining::text as remaining from grants where user_id = $1 order by sequence',
      [userId],
    );
    return rows.map((row) => Number(row.remaining));
  }

  describe('grants read model vs replay', () => {
    it.each([
      {
        tampering: 'a grant with one credit more remaining',
        sql: 'update grants set remaining = remaining + 1 where user_id = $1 and sequence = 2',
        found: ['grant-differs'],
      },
      {
        tampering: 'a grant marked expired and its credits moved to expired',
        sql: `update grants set status = 'expired', expired = remaining, remaining = 0, frozen = 0
              where user_id = $1 and sequence = 2`,
        found: ['grant-differs'],
      },
      {
        tampering: 'a grant row deleted',
        sql: 'delete from grants where user_id = $1 and sequence = 1',
        found: ['grant-differs'],
      },
      {
        tampering: 'a debt the stream never recorded',
        sql: 'update grant_ledgers set debt = debt + 5 where user_id = $1',
        found: ['grant-ledger-differs'],
      },
      {
        tampering: 'its grant ledger row deleted',
        sql: 'delete from grant_ledgers where user_id = $1',
        found: ['grants-behind-checkpoint'],
      },
      {
        tampering: 'every grants row deleted',
        sql: 'delete from grant_ledgers where user_id = $1; delete from grants where user_id = $1',
        found: ['stream-without-grants-row'],
      },
    ])(
      'reports a user with $tampering as $found, and the repair rebuilds the rows',
      async ({ sql: tampering, found }) => {
        const tampered = await userWithGrants('tampered');
        const neighbour = await userWithGrants('neighbour');
        await projectionsCaughtUp(testApp.app);
        const remainingBefore = await remainingOf(tampered);
        for (const statement of tampering.split(';')) await sql().query(statement, [tampered]);
        const users = { users: `${tampered},${neighbour}` };

        const report = await healthCheckOf(testApp, users);

        const readModel = checkOf(report, 'read-model-vs-replay');
        expect(readModel.status).toBe('failed');
        expect(kindsAndUsersOf(readModel)).toEqual(found.map((kind) => ({ kind, userId: tampered })));
        expect(readModel.findings.every((finding) => finding.severity === 'failed')).toBe(true);
        expect(usersNamedIn(report)).toEqual(new Set([tampered]));

        const repaired = await healthCheckOf(testApp, { ...users, repair: 'true' }, 'admin');

        expect(repaired.repair).toEqual({
          statusBeforeRepair: 'failed',
          repairedUsers: [{ userId: tampered, eventsReplayed: 3, cleanAfterRepair: true }],
        });
        expect(checkOf(repaired, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });
        expect(await remainingOf(tampered)).toEqual(remainingBefore);
      },
    );

    it('names the grant and both figures when a grant’s remaining credits differ', async () => {
      const tampered = await userWithGrants('tampered');
      await projectionsCaughtUp(testApp.app);
      const [second] = await sql().query<{ grant_id: string }>(
        'select grant_id::text as grant_id from grants where user_id = $1 and sequence = 2',
        [tampered],
      );
      await sql().query('update grants set remaining = remaining + 1 where user_id = $1 and sequence = 2', [tampered]);

      const report = await healthCheckOf(testApp, { users: tampered });

      // 30 credits, 5 of them spent (the consumption of 25 drew first 20 from the grant that expires).
      expect(checkOf(report, 'read-model-vs-replay').findings).toEqual([
        expect.objectContaining({
          kind: 'grant-differs',
          severity: 'failed',
          userId: tampered,
          version: 3,
          readModel: 26,
          replayed: 25,
          detail: expect.stringContaining(`grant ${second.grant_id} at version 3: remaining: read model 26, stream 25`),
        }),
      ]);
    });

    it('compares an open dispute’s freezes, and reports them changed as grant-ledger-differs', async () => {
      const disputed = newUserId('disputed');
      const paymentIntentId = stripeId('pi');
      await stripe.deliver(packCheckoutCompleted(disputed, paymentIntentId)).expect(200);
      await grantBonus(disputed, 10, 'P30D');
      expect(
        (await stripe.deliver(disputeCreated({ payment_intent: paymentIntentId })).expect(200)).body,
      ).toMatchObject({
        status: 'frozen',
      });

      const before = await healthCheckOf(testApp, { users: disputed });
      expect(checkOf(before, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });

      await sql().query(`update grant_ledgers set disputes = '[]' where user_id = $1`, [disputed]);
      const after = await healthCheckOf(testApp, { users: disputed });
      expect(kindsAndUsersOf(checkOf(after, 'read-model-vs-replay'))).toEqual([
        { kind: 'grant-ledger-differs', userId: disputed },
      ]);
    });

    it('finds grants rows of a user who has no stream, and the repair deletes them', async () => {
      const ghost = newUserId('ghost');
      await sql().query(`insert into grant_ledgers (user_id, version, debt) values ($1, 1, 0)`, [ghost]);
      await sql().query(
        `insert into grants (user_id, grant_id, sequence, category, priority, granted, debt_paid, spent, expired,
           voided, taken_back, remaining, frozen, status, granted_at)
         values ($1, gen_random_uuid(), 1, 'promotional', 100, 10, 0, 0, 0, 0, 0, 10, 0, 'active', now())`,
        [ghost],
      );

      const report = await healthCheckOf(testApp);

      expect(kindsAndUsersOf(checkOf(report, 'read-model-vs-replay'))).toContainEqual({
        kind: 'read-model-without-stream',
        userId: ghost,
      });
      const repaired = await healthCheckOf(testApp, { users: ghost, repair: 'true' }, 'admin');
      expect(repaired.repair?.repairedUsers).toEqual([{ userId: ghost, eventsReplayed: 0, cleanAfterRepair: true }]);
      expect(await remainingOf(ghost)).toEqual([]);
    });
  });

  describe('grant-expiry-overdue', () => {
    /** The grant-expiry findings of these users' streams. */
    async function overdueOf(users: string[], query: Record<string, string> = {}) {
      const report = await healthCheckOf(testApp, { users: users.join(','), ...query });
      const rechargeStatus = checkOf(report, 'recharge-status');
      return {
        report,
        rechargeStatus,
        overdue: rechargeStatus.findings.filter((finding) => finding.kind === 'grant-expiry-overdue'),
      };
    }

    it('fails on a grant past its expiry by more than the grace period with credits left and no CreditsExpired', async () => {
      const now = Date.now();
      // Expired two hours ago, 7 of its 10 credits left.
      const overdue = await writeBonus(store(), newUserId('overdue'), {
        amount: 10,
        spend: 3,
        decidedAt: new Date(now - 3 * HOUR_MS),
        expiresIn: 'PT1H',
      });
      // Expired five minutes ago: within the default grace of an hour.
      const recent = await writeBonus(store(), newUserId('recent'), {
        amount: 10,
        decidedAt: new Date(now - 10 * MINUTE_MS),
        expiresIn: 'PT5M',
      });
      // Expired two hours ago, but every credit spent before: nothing to expire.
      const spent = await writeBonus(store(), newUserId('spent'), {
        amount: 10,
        spend: 10,
        decidedAt: new Date(now - 3 * HOUR_MS),
        expiresIn: 'PT1H',
      });
      const unexpired = newUserId('unexpired');
      await grantBonus(unexpired, 10, 'P1D');
      const users = [overdue.userId, recent.userId, spent.userId, unexpired];

      const { report, rechargeStatus, overdue: found } = await overdueOf(users);

      expect(rechargeStatus.status).toBe('failed');
      expect(report.status).toBe('failed');
      expect(found).toEqual([
        expect.objectContaining({
          kind: 'grant-expiry-overdue',
          severity: 'failed',
          userId: overdue.userId,
          grantId: overdue.grantId,
          expiresAt: overdue.expiresAt,
          credits: 7,
          detail: expect.stringContaining('no CreditsExpired'),
        }),
      ]);
      expect(Number(found[0].overdueSeconds)).toBeGreaterThanOrEqual(7200);
      expect(rechargeStatus.counts['grant-expiries-due']).toBe(1);
      // Not drift: the read model agrees with the stream, which holds no CreditsExpired.
      expect(checkOf(report, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });
    });

    it('takes the grace period from expiryGrace', async () => {
      const now = Date.now();
      const recent = await writeBonus(store(), newUserId('recent'), {
        amount: 10,
        decidedAt: new Date(now - 10 * MINUTE_MS),
        expiresIn: 'PT5M',
      });
      const older = await writeBonus(store(), newUserId('older'), {
        amount: 10,
        decidedAt: new Date(now - 3 * HOUR_MS),
        expiresIn: 'PT1H',
      });
      const users = [recent.userId, older.userId];

      const shortGrace = await overdueOf(users, { expiryGrace: '60' });
      const longGrace = await overdueOf(users, { expiryGrace: String(24 * 3600) });

      expect(shortGrace.overdue.map((finding) => finding.grantId).sort()).toEqual(
        [recent.grantId, older.grantId].sort(),
      );
      expect(longGrace.overdue).toEqual([]);
      // Counted, not reported (recharge status is not filtered by user: other tests' open disputes are in it).
      expect(longGrace.rechargeStatus.counts['grant-expiries-due']).toBe(2);
    });

    it('no longer reports a grant once its CreditsExpired is recorded', async () => {
      const overdue = await writeBonus(store(), newUserId('overdue'), {
        amount: 10,
        spend: 4,
        decidedAt: new Date(Date.now() - 3 * HOUR_MS),
        expiresIn: 'PT1H',
      });
      expect((await overdueOf([overdue.userId])).overdue).toHaveLength(1);

      // One pass of the expiry process, as the loop beside the projector runs it (it finds due grants in the read model).
      await projectionsCaughtUp(testApp.app);
      await new GrantExpiry(store(), sql()).runOnce();
      expect((await expiriesByGrant(store())).get(overdue.grantId)).toBe(1);

      const after = await overdueOf([overdue.userId]);
      expect(after.overdue).toEqual([]);
      expect(after.rechargeStatus.counts['grant-expiries-due']).toBeUndefined();
      expect(checkOf(after.report, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });
    });

    // The expiry process finds due grants in the grants read model: a row that hides one is drift, and the
    // stream still says the grant is overdue.
    it('reports a grant the read model hides from the expiry process as both drift and overdue', async () => {
      const hidden = await writeBonus(store(), newUserId('hidden'), {
        amount: 10,
        decidedAt: new Date(Date.now() - 3 * HOUR_MS),
        expiresIn: 'PT1H',
      });
      await projectionsCaughtUp(testApp.app);
      await sql().query('update grants set frozen = remaining where user_id = $1', [hidden.userId]);

      const { report, overdue } = await overdueOf([hidden.userId]);

      expect(overdue).toEqual([expect.objectContaining({ userId: hidden.userId, grantId: hidden.grantId })]);
      expect(kindsAndUsersOf(checkOf(report, 'read-model-vs-replay'))).toEqual([
        { kind: 'grant-differs', userId: hidden.userId },
      ]);
    });

    it('refuses an expiryGrace that is not a whole number from 1', async () => {
      const response = await http()
        .get('/v1/admin/health-check')
        .query({ expiryGrace: '0' })
        .set('Authorization', bearer('audit'))
        .expect(400);

      expect(response.body).toMatchObject({ status: 400, detail: expect.stringContaining('expiry-grace') });
    });
  });

  describe('a grants model merely behind its stream', () => {
    let apiOnly: TestApp;

    beforeAll(async () => {
      // ROLE=api: no projector in this process, as while the projector is down or behind.
      apiOnly = await startTestApp(kind, { config: { role: 'api' } });
    });

    afterAll(async () => {
      await apiOnly?.close();
    });

    it('is counted as not projected yet, not reported as drift', async () => {
      const userId = newUserId('waiting');
      await request(apiOnly.app.getHttpServer())
        .post(`/v1/users/${userId}/bonuses`)
        .set('Authorization', bearer('grant'))
        .set('Idempotency-Key', `bonus-${randomUUID()}`)
        .send({ amount: 10, reason: 'welcome', expiresIn: 'P1D' })
        .expect(201);

      const response = await request(apiOnly.app.getHttpServer())
        .get('/v1/admin/health-check')
        .query({ users: userId })
        .set('Authorization', bearer('audit'))
        .expect(200);

      const readModel = checkOf(response.body as Report, 'read-model-vs-replay');
      expect(readModel).toMatchObject({ status: 'ok', findingsCount: 0 });
      expect(readModel.counts['grants-rows-not-projected-yet']).toBe(1);
    });
  });
});
