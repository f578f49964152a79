import { randomUUID } from 'node:crypto';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { GrantExpiry, READ_MODEL_DB } from '@projections';
import request from 'supertest';
import { expiriesByHold, writeHold } from '../support/expiring-grants';
import { type ReportedCheck, checkOf, healthCheckOf } from '../support/health-check-client';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * The health check of holds, on every store: each hold of the holds read model against the stream's fold
 * (tampered rows are drift, and the repair rebuilds them), held credits per grant, and a hold past its expiry by
 * more than the grace period with no HoldExpired reported as hold-expiry-overdue. The apps run with the expiry
 * process off (startTestApp), as when it is stopped.
 */
const HOUR_MS = 3_600_000;

const newUserId = (role: string) => `${role}-${randomUUID()}`;

function kindsAndUsersOf(check: ReportedCheck): Array<{ kind: string; userId?: string }> {
  return check.findings.map(({ kind, userId }) => ({ kind, userId }));
}

describe.each(storeKindsUnderTest())('health check of holds on %s', (kind) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp(kind);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());
  const sql = () => testApp.app.get<SqlDriver>(READ_MODEL_DB);
  const store = () => testApp.app.get<EventStore>(EVENT_STORE);

  /** A bonus of 50, a hold of 20 captured for 5, and a hold of 10 still active: versions 1 to 4. */
  async function userWithHolds(role: string): Promise<string> {
    const userId = newUserId(role);
    await http()
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', `bonus-${randomUUID()}`)
      .send({ amount: 50, reason: 'welcome' })
      .expect(201);
    const hold = (amount: number) =>
      http()
        .post(`/v1/users/${userId}/holds`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'video_generation', reference: `job-${randomUUID()}`, amount })
        .expect(201);
    const first = await hold(20);
    await http()
      .post(`/v1/users/${userId}/holds/${first.body.holdId}/capture`)
      .set('Authorization', bearer('consume'))
      .send({ amount: 5 })
      .expect(201);
    await hold(10);
    return userId;
  }

  it.each([
    {
      tampering: 'a captured hold shown active',
      sql: `update holds set status = 'active' where user_id = $1 and sequence = 2`,
      found: ['hold-differs'],
    },
    {
      tampering: 'an active hold with another amount',
      sql: 'update holds set amount = amount + 1 where user_id = $1 and sequence = 4',
      found: ['hold-differs'],
    },
    {
      tampering: 'a hold row deleted',
      sql: 'delete from holds where user_id = $1 and sequence = 4',
      found: ['hold-differs'],
    },
    {
      tampering: 'held credits moved on its grant',
      sql: 'update grants set held = held - 1, remaining = remaining + 1 where user_id = $1',
      found: ['grant-differs'],
    },
  ])(
    'reports a user with $tampering as $found, and the repair rebuilds the rows',
    async ({ sql: tampering, found }) => {
      const tampered = await userWithHolds('tampered');
      const neighbour = await userWithHolds('neighbour');
      await projectionsCaughtUp(testApp.app);
      await sql().query(tampering, [tampered]);
      const users = { users: `${tampered},${neighbour}` };

      const report = await healthCheckOf(testApp, users);

      const readModel = checkOf(report, 'read-model-vs-replay');
      expect(readModel.status).toBe('failed');
      expect(kindsAndUsersOf(readModel)).toEqual(found.map((kind) => ({ kind, userId: tampered })));
      const repaired = await healthCheckOf(testApp, { ...users, repair: 'true' }, 'admin');
      expect(repaired.repair).toEqual({
        statusBeforeRepair: 'failed',
        repairedUsers: [{ userId: tampered, eventsReplayed: 4, cleanAfterRepair: true }],
      });
    },
  );

  it('reports a hold past its expiry by more than the grace period with no HoldExpired, and no longer once released', async () => {
    const now = Date.now();
    const overdue = await writeHold(store(), newUserId('overdue'), {
      amount: 10,
      held: 4,
      decidedAt: new Date(now - 3 * HOUR_MS),
      expiresIn: 'PT1H',
    });
    const recent = await writeHold(store(), newUserId('recent'), {
      amount: 10,
      held: 4,
      decidedAt: new Date(now - HOUR_MS - 60_000),
      expiresIn: 'PT1H',
    });
    const users = { users: `${overdue.userId},${recent.userId}` };

    const report = await healthCheckOf(testApp, users);
    const rechargeStatus = checkOf(report, 'recharge-status');
    expect(rechargeStatus.findings.filter((finding) => finding.kind === 'hold-expiry-overdue')).toEqual([
      expect.objectContaining({ userId: overdue.userId, holdId: overdue.holdId, credits: 4, severity: 'failed' }),
    ]);
    expect(rechargeStatus.counts['hold-expiries-due']).toBe(1);
    expect(checkOf(report, 'read-model-vs-replay')).toMatchObject({ status: 'ok', findingsCount: 0 });

    await projectionsCaughtUp(testApp.app);
    await new GrantExpiry(store(), sql()).runOnce();
    expect((await expiriesByHold(store())).get(overdue.holdId)).toBe(1);
    const after = checkOf(await healthCheckOf(testApp, users), 'recharge-status');
    expect(after.findings.filter((finding) => finding.kind === 'hold-expiry-overdue')).toEqual([]);
  });
});
