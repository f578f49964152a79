import { randomUUID } from 'node:crypto';
import { loadConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { KurrentDbEventStore } from '../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from '../../libs/event-store/src/kurrentdb/testing/kurrentdb-model';
import { READ_MODEL_DB, balanceProjection, rebuildProjection } from '@projections';
import request from 'supertest';
import { checkOf, healthCheckOf } from '../support/health-check-client';
import { type TestApp, bearer, grantBonus, projectionsCaughtUp, startTestAppOnKurrentDb } from '../support/test-app';
import { describeOnKurrentDb, describeOnPostgres } from '../support/test-stores';

/** Polls this rare: in these suites the projector catches up when the store's append signal wakes it. */
const IDLE_POLL_MS = 60_000;

/**
 * The API and its in-process projector with the events in KurrentDB and the
 * read model in PostgreSQL: commands over HTTP, the projector following the
 * store, the health check's replay and repair, the audit history, a rebuild.
 */
function onKurrentDb(start: () => Promise<TestApp>): void {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());
  const db = () => testApp.app.get<SqlDriver>(READ_MODEL_DB);

  beforeAll(async () => {
    testApp = await start();
  });

  afterAll(async () => {
    await testApp?.close();
  });

  async function userWithActivity(): Promise<string> {
    const userId = `user-${randomUUID()}`;
    await grantBonus(testApp, userId, 50);
    for (const [reference, amount] of [
      ['render-1', 30],
      ['render-2', 5],
    ] as const) {
      await http()
        .post(`/v1/users/${userId}/consumptions`)
        .set('Authorization', bearer('consume'))
        .send({ feature: 'video_generation', reference, amount })
        .expect(201);
    }
    return userId;
  }

  it('consumes and grants over HTTP, and the projector brings the balance up to date', async () => {
    const userId = await userWithActivity();

    await projectionsCaughtUp(testApp.app, 5_000);

    const balance = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);
    expect(balance.body).toMatchObject({ balance: 15, version: 3 });
  });

  it('replays the audit history from the store', async () => {
    const userId = await userWithActivity();

    const history = await http()
      .get(`/v1/audit/users/${userId}/history`)
      .set('Authorization', bearer('audit'))
      .expect(200);

    expect(history.body).toMatchObject({ userId, balance: 15, version: 3 });
    const entries = history.body.entries as Array<{ type: string; delta: number; balanceAfter: number }>;
    expect(entries.map(({ type, delta, balanceAfter }) => [type, delta, balanceAfter])).toEqual([
      ['BonusGranted', 50, 50],
      ['CreditsConsumed', -30, 20],
      ['CreditsConsumed', -5, 15],
    ]);
  });

  it('finds the read model equal to the replay, and repairs a tampered user from the store', async () => {
    const userId = await userWithActivity();

    expect(checkOf(await healthCheckOf(testApp), 'read-model-vs-replay')).toMatchObject({ status: 'ok' });

    await db().query('update balances set balance = balance + 7 where user_id = $1', [userId]);
    const found = checkOf(await healthCheckOf(testApp), 'read-model-vs-replay');
    expect(found.findings.map(({ kind, userId }) => ({ kind, userId }))).toEqual([{ kind: 'balance-differs', userId }]);
    const repaired = await healthCheckOf(testApp, { repair: 'true' }, 'admin');
    expect(repaired.repair?.repairedUsers).toEqual([{ userId, eventsReplayed: 3, cleanAfterRepair: true }]);
    expect(checkOf(await healthCheckOf(testApp), 'read-model-vs-replay')).toMatchObject({ status: 'ok' });
  });

  function recharge(userId: string, rechargeId: string) {
    return http()
      .post(`/v1/users/${userId}/recharges`)
      .set('Authorization', bearer('admin'))
      .send({ rechargeId, credits: 500, amountPaid: 999, currency: 'usd' });
  }

  async function balanceOf(userId: string): Promise<{ balance: number; version: number }> {
    await projectionsCaughtUp(testApp.app, 5_000);
    const response = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);
    return { balance: response.body.balance, version: response.body.version };
  }

  /** What the SQL stores answer too: their unique index on event ids refuses the recharge's event in a second stream. */
  function expectRechargeAlreadyRecorded(response: request.Response, rechargeId: string): void {
    expect(response.status).toBe(409);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json(;|$)/);
    expect(response.body).toMatchObject({ status: 409, type: '/problems/recharge-already-recorded', rechargeId });
  }

  it('credits one payment to one user only: a second user is refused with 409 recharge-already-recorded', async () => {
    const [alice, bob] = [`user-${randomUUID()}`, `user-${randomUUID()}`];
    const rechargeId = `invoice-${randomUUID()}`;
    await recharge(alice, rechargeId).expect(201);

    expectRechargeAlreadyRecorded(await recharge(bob, rechargeId), rechargeId);

    await recharge(alice, rechargeId).expect(200);
    expect(await balanceOf(alice)).toEqual({ balance: 500, version: 1 });
    expect(await balanceOf(bob)).toEqual({ balance: 0, version: 0 });
  });

  it('credits one payment to exactly one of two users completing it concurrently', async () => {
    for (let round = 0; round < 5; round++) {
      const users = [`user-${randomUUID()}`, `user-${randomUUID()}`];
      const rechargeId = `invoice-${randomUUID()}`;

      const responses = await Promise.all(users.map((userId) => recharge(userId, rechargeId)));

      expect(responses.map((response) => response.status).sort()).toEqual([201, 409]);
      const credited = responses.findIndex((response) => response.status === 201);
      expectRechargeAlreadyRecorded(responses[1 - credited], rechargeId);
      expect(await balanceOf(users[credited])).toEqual({ balance: 500, version: 1 });
      expect(await balanceOf(users[1 - credited])).toEqual({ balance: 0, version: 0 });
    }
    expect(checkOf(await healthCheckOf(testApp), 'read-model-vs-replay')).toMatchObject({ status: 'ok' });
  });

  it('rebuilds a projection from the store and swaps it in while the projector runs', async () => {
    const userId = await userWithActivity();
    const store = testApp.app.get<EventStore>(EVENT_STORE);

    await rebuildProjection(db(), store, balanceProjection, { batchSize: 7 });

    const balance = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);
    expect(balance.body).toMatchObject({ balance: 15, version: 3 });
    expect(checkOf(await healthCheckOf(testApp), 'read-model-vs-replay')).toMatchObject({ status: 'ok' });
  });
}

const config = { projector: { ...loadConfig({}).projector, idlePollMs: IDLE_POLL_MS } };

/**
 * KurrentDB replaced by an in-memory model of its client calls: no server can
 * run here. It checks the adapter's shell and the app wired on it, not the
 * server (the suite below does, when EVENTSTORE_URL is set).
 */
describeOnPostgres('the app on KurrentDB, replaced by an in-memory model of its client calls', () => {
  const model = new KurrentDbModel();
  const warnings: string[] = [];
  const store = new KurrentDbEventStore(model, { warn: (message) => warnings.push(message) });
  let testApp: TestApp;

  onKurrentDb(async () => {
    testApp = await startTestAppOnKurrentDb({ kurrentDbStore: store, config });
    return testApp;
  });

  it('subscribes again after a dropped connection, and catches up from its checkpoint', async () => {
    const subscriptionsBefore = model.subscriptionsMade;
    model.dropSubscriptions();
    // Appended while no subscription is live: only the checkpoint knows the projector has not read it.
    const userId = `user-${randomUUID()}`;
    await grantBonus(testApp, userId, 9);

    // The projector polls every minute: catching up within seconds is the new subscription's caught-up signal.
    await projectionsCaughtUp(testApp.app, 5_000);

    expect(model.subscriptionsMade).toBe(subscriptionsBefore + 1);
    expect(warnings).toEqual(['KurrentDB subscription dropped; subscribing again']);
    const balance = await request(testApp.app.getHttpServer())
      .get(`/v1/users/${userId}/balance`)
      .set('Authorization', bearer('read'))
      .expect(200);
    expect(balance.body).toMatchObject({ balance: 9, version: 1 });
  });
});

describeOnKurrentDb('the app on a KurrentDB server (EVENTSTORE_URL)', () => {
  onKurrentDb(() => startTestAppOnKurrentDb({ config }));
});
