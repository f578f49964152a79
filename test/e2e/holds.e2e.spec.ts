import { randomUUID } from 'node:crypto';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import request from 'supertest';
import { writeHold } from '../support/expiring-grants';
import { TEST_KEYS, type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Holds through the HTTP API, on every store: a job's life (hold, capture what it used, the rest released at
 * once), release, the answers to a hold ended already, what the balance and the holds list show, the preview
 * that writes nothing, and bad input.
 */
type Scope = keyof typeof TEST_KEYS;
type Body = Record<string, unknown>;

describe.each(storeKindsUnderTest())('holds on %s', (kind) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp(kind);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());
  const post = (path: string, body: Body = {}, scope: Scope = 'consume') =>
    http().post(path).set('Authorization', bearer(scope)).send(body);
  const recharge = (userId: string, credits: number) =>
    post(
      `/v1/users/${userId}/recharges`,
      { rechargeId: `invoice-${randomUUID()}`, credits, amountPaid: credits * 10, currency: 'usd' },
      'admin',
    ).expect(201);
  const hold = (userId: string, amount: number, extra: Body = {}) =>
    post(`/v1/users/${userId}/holds`, {
      feature: 'video_generation',
      reference: `job-${randomUUID()}`,
      amount,
      ...extra,
    });
  const capture = (userId: string, holdId: string, body: Body = {}) =>
    post(`/v1/users/${userId}/holds/${holdId}/capture`, body);
  const release = (userId: string, holdId: string) => post(`/v1/users/${userId}/holds/${holdId}/release`);

  async function read(path: string) {
    await projectionsCaughtUp(testApp.app);
    return (await http().get(path).set('Authorization', bearer('read')).expect(200)).body;
  }

  async function eventTypesOf(userId: string): Promise<string[]> {
    const response = await http().get(`/v1/users/${userId}/events`).set('Authorization', bearer('audit')).expect(200);
    return (response.body.events as Array<{ type: string }>).map((event) => event.type);
  }

  it("a job's life: hold, capture what it used, the rest released in the same event; the balance shows each step", async () => {
    const userId = newUserId();
    await recharge(userId, 100);

    const placed = await hold(userId, 30).expect(201);
    expect(placed.body).toMatchObject({ userId, status: 'active', amount: 30, capturedAmount: 0, balance: 100 });
    expect(placed.body.holdId).toBe(placed.body.eventId);
    expect(Date.parse(placed.body.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(placed.body.drawnFrom).toEqual([{ grantId: expect.any(String), credits: 30 }]);
    expect(await read(`/v1/users/${userId}/balance`)).toMatchObject({ balance: 100, heldCredits: 30, spendable: 70 });

    const overdraw = await post(`/v1/users/${userId}/consumptions`, {
      feature: 'video_generation',
      reference: 'too-much',
      amount: 71,
    }).expect(402);
    expect(overdraw.body).toMatchObject({ type: expect.stringContaining('insufficient-credits'), heldCredits: 30 });

    const holdId = placed.body.holdId as string;
    const captured = await capture(userId, holdId, { amount: 12 }).expect(201);
    expect(captured.body).toMatchObject({ holdId, status: 'captured', capturedAmount: 12, balance: 88 });
    expect(await read(`/v1/users/${userId}/balance`)).toMatchObject({ balance: 88, heldCredits: 0, spendable: 88 });

    const again = await capture(userId, holdId, { amount: 12 }).expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toMatchObject({ eventId: captured.body.eventId, capturedAmount: 12 });
    const other = await capture(userId, holdId, { amount: 13 }).expect(409);
    expect(other.body).toMatchObject({ type: expect.stringContaining('hold-already-captured'), capturedAmount: 12 });
    await release(userId, holdId).expect(409);

    expect(await eventTypesOf(userId)).toEqual(['RechargeCompleted', 'CreditsHeld', 'HoldCaptured']);
    const ledger = await read(`/v1/users/${userId}/ledger`);
    expect(ledger.entries.slice(0, 2)).toMatchObject([
      { eventType: 'HoldCaptured', delta: -12, balanceAfter: 88, holdId },
      { eventType: 'CreditsHeld', delta: 0, balanceAfter: 100, holdId },
    ]);
  });

  it('a release returns every credit; a second release answers the first, a capture after it is refused', async () => {
    const userId = newUserId();
    await recharge(userId, 50);
    const { holdId } = (await hold(userId, 20).expect(201)).body as { holdId: string };

    const released = await release(userId, holdId).expect(201);
    expect(released.body).toMatchObject({ status: 'released', balance: 50 });
    expect((await release(userId, holdId).expect(200)).body).toMatchObject({ eventId: released.body.eventId });
    const refused = await capture(userId, holdId).expect(409);
    expect(refused.body.type).toContain('hold-already-released');
    expect(await read(`/v1/users/${userId}/balance`)).toMatchObject({ balance: 50, heldCredits: 0, spendable: 50 });
  });

  it('refuses a hold beyond what may be spent, other holds left out, and a capture of nothing or too much', async () => {
    const userId = newUserId();
    await recharge(userId, 40);
    const { holdId } = (await hold(userId, 30).expect(201)).body as { holdId: string };
    const short = await hold(userId, 11).expect(402);
    expect(short.body).toMatchObject({ heldCredits: 30, spendable: 10 });

    for (const amount of [0, 31]) {
      const wrong = await capture(userId, holdId, { amount }).expect(422);
      expect(wrong.body).toMatchObject({ type: expect.stringContaining('invalid-capture-amount'), heldAmount: 30 });
    }
    await capture(userId, holdId, { amount: 1.5 }).expect(400);
    await capture(userId, randomUUID()).expect(404);
    await capture(userId, 'not-a-uuid').expect(400);
  });

  it('takes expiresIn up to the bound, and refuses a longer one or one that is not a duration', async () => {
    const userId = newUserId();
    await recharge(userId, 40);
    const day = await hold(userId, 1, { expiresIn: 'PT24H' }).expect(201);
    expect(Date.parse(day.body.expiresAt) - Date.now()).toBeGreaterThan(23.9 * 3_600_000);
    expect((await hold(userId, 1, { expiresIn: 'PT24H1S' }).expect(422)).body.type).toContain('invalid-hold-terms');
    expect((await hold(userId, 1, { expiresIn: 'soon' }).expect(422)).body.type).toContain('invalid-hold-terms');
    await hold(userId, 1, { expiresIn: 'PT0S' }).expect(422);
  });

  it('answers the same hold request again with the first hold, by its key', async () => {
    const userId = newUserId();
    await recharge(userId, 40);
    const key = randomUUID();
    const body = { feature: 'video_generation', reference: 'job-1', amount: 5 };
    const first = await post(`/v1/users/${userId}/holds`, body).set('Idempotency-Key', key).expect(201);
    const second = await post(`/v1/users/${userId}/holds`, body).set('Idempotency-Key', key).expect(200);
    expect(second.body.holdId).toBe(first.body.holdId);
    expect(await eventTypesOf(userId)).toEqual(['RechargeCompleted', 'CreditsHeld']);
  });

  it('lists holds by state, with what each reserved and how it ended', async () => {
    const userId = newUserId();
    await recharge(userId, 100);
    const ids: string[] = [];
    for (const amount of [10, 20, 30])
      ids.push(((await hold(userId, amount).expect(201)).body as { holdId: string }).holdId);
    await capture(userId, ids[0], { amount: 4 }).expect(201);
    await release(userId, ids[1]).expect(201);

    const all = await read(`/v1/users/${userId}/holds?status=all`);
    expect(all.holds).toMatchObject([
      { holdId: ids[0], state: 'captured', amount: 10, capturedAmount: 4 },
      { holdId: ids[1], state: 'released', amount: 20 },
      { holdId: ids[2], state: 'active', amount: 30, endedAt: null },
    ]);
    const active = await read(`/v1/users/${userId}/holds`);
    expect(active.holds.map((held: { holdId: string }) => held.holdId)).toEqual([ids[2]]);
    const paged = await read(`/v1/users/${userId}/holds?status=all&limit=2`);
    expect(paged.holds).toHaveLength(2);
    expect(paged.nextCursor).toEqual(expect.any(String));
    await http().get(`/v1/users/${userId}/holds?status=soon`).set('Authorization', bearer('read')).expect(400);
  });

  it('previews a consumption and a hold: price, grants and balance after, writing nothing', async () => {
    const userId = newUserId();
    await recharge(userId, 25);
    await hold(userId, 5).expect(201);
    const before = await eventTypesOf(userId);

    const fits = await post(`/v1/users/${userId}/consumptions/preview`, { feature: 'video_generation' }).expect(200);
    expect(fits.body).toMatchObject({ wouldSucceed: true, amount: 10, balance: 25, spendable: 20, balanceAfter: 15 });
    expect(fits.body.drawnFrom).toEqual([{ grantId: expect.any(String), credits: 10 }]);
    const holdFits = await post(`/v1/users/${userId}/holds/preview`, { feature: 'video_generation', amount: 20 });
    expect(holdFits.status).toBe(200);
    expect(holdFits.body).toMatchObject({ wouldSucceed: true, amount: 20, balanceAfter: 25, spendableAfter: 0 });
    const tooMuch = await post(`/v1/users/${userId}/consumptions/preview`, {
      feature: 'video_generation',
      amount: 21,
    }).expect(200);
    expect(tooMuch.body).toMatchObject({
      wouldSucceed: false,
      refusal: { type: 'insufficient-credits', heldCredits: 5 },
    });
    const unknown = await post(`/v1/users/${userId}/consumptions/preview`, { feature: 'no_such_feature' }).expect(200);
    expect(unknown.body.refusal).toMatchObject({ type: 'unknown-feature' });

    expect(await eventTypesOf(userId)).toEqual(before);
  });

  it('documents holds and the previews in the OpenAPI document', async () => {
    const document = (await http().get('/docs-json').expect(200)).body as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/users/{userId}/holds',
        '/v1/users/{userId}/holds/{holdId}/capture',
        '/v1/users/{userId}/holds/{holdId}/release',
        '/v1/users/{userId}/holds/preview',
        '/v1/users/{userId}/consumptions/preview',
      ]),
    );
    expect(Object.keys(document.components.schemas.PlaceHoldRequest.properties)).toEqual(
      expect.arrayContaining(['feature', 'reference', 'amount', 'expiresIn']),
    );
    expect(Object.keys(document.components.schemas.HoldResponse.properties)).toEqual(
      expect.arrayContaining(['holdId', 'status', 'amount', 'capturedAmount', 'expiresAt', 'drawnFrom']),
    );
  });

  it('reports holds overdue for release on /metrics and fails /health/ready past the bound', async () => {
    // Due for ten minutes, the expiry process off (as startTestApp runs it): nothing releases it.
    await writeHold(testApp.app.get<EventStore>(EVENT_STORE), newUserId(), {
      amount: 10,
      held: 4,
      decidedAt: new Date(Date.now() - 601_000),
      expiresIn: 'PT1S',
    });
    await projectionsCaughtUp(testApp.app);

    const ready = await http().get('/health/ready');
    const metrics = await http().get('/metrics').expect(200);

    expect(ready.status).toBe(503);
    // The expiry process's readiness check covers holds as it does grants (its message is in the service log).
    expect(JSON.stringify(ready.body)).toContain('grant-expiry');
    const lag = /^credits_hold_expiry_lag_seconds (\S+)$/m.exec(metrics.text);
    expect(Number(lag?.[1])).toBeGreaterThanOrEqual(600);
    expect(metrics.text).toMatch(/^credits_holds_due [1-9]/m);
  });

  it('needs the consume scope to hold and capture, read to list', async () => {
    const userId = newUserId();
    await post(`/v1/users/${userId}/holds`, { feature: 'video_generation', reference: 'x' }, 'read').expect(403);
    await http().get(`/v1/users/${userId}/holds`).set('Authorization', bearer('consume')).expect(403);
  });
});

function newUserId(): string {
  return `holds-${randomUUID()}`;
}
