import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CreditsState, type StoredEvent, evolve, initialState, parseCreditsEvent } from '@libs/credits';
import request, { type Response } from 'supertest';
import { loadConfig } from '@libs/config';
import { TEST_KEYS, type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Grants through the HTTP API, on every store: bonus terms, the spend order the events record, what the balance
 * and the grants list show (grants past their expiry left out at once, before their expiry is recorded), voids,
 * and the grants read model equal to the domain's fold of the stream.
 */
type Scope = keyof typeof TEST_KEYS;
type Body = Record<string, unknown>;

describe.each(storeKindsUnderTest())('grants on %s', (kind) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp(kind);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());

  const grantBonus = (userId: string, body: Body, key = randomUUID(), scope: Scope = 'grant') =>
    http()
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer(scope))
      .set('Idempotency-Key', key)
      .send(body);
  const recharge = (userId: string, credits: number) =>
    http()
      .post(`/v1/users/${userId}/recharges`)
      .set('Authorization', bearer('admin'))
      .send({ rechargeId: `invoice-${randomUUID()}`, credits, amountPaid: credits * 10, currency: 'usd' });
  const consume = (userId: string, amount: number) =>
    http()
      .post(`/v1/users/${userId}/consumptions`)
      .set('Authorization', bearer('consume'))
      .send({ feature: 'video_generation', reference: `render-${randomUUID()}`, amount });
  const voidGrant = (
    userId: string,
    grantId: string,
    body: Body = { reason: 'granted by mistake' },
    scope: Scope = 'admin',
  ) => http().post(`/v1/users/${userId}/grants/${grantId}/void`).set('Authorization', bearer(scope)).send(body);

  async function balanceOf(userId: string) {
    await projectionsCaughtUp(testApp.app);
    return (await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200)).body;
  }

  async function grantsOf(userId: string, status = 'all') {
    await projectionsCaughtUp(testApp.app);
    const response = await http()
      .get(`/v1/users/${userId}/grants?status=${status}`)
      .set('Authorization', bearer('read'))
      .expect(200);
    return response.body.grants as Array<Record<string, unknown>>;
  }

  async function eventsOf(userId: string) {
    const response = await http().get(`/v1/users/${userId}/events`).set('Authorization', bearer('audit')).expect(200);
    return response.body.events as Array<Record<string, unknown> & { type: string; data: Record<string, unknown> }>;
  }

  it('spends the bonus before the pack, records where each credit came from, and shows what is left of each', async () => {
    const userId = newUserId();
    const pack = await recharge(userId, 100).expect(201);
    const welcome = await grantBonus(userId, { amount: 20, reason: 'welcome', expiresIn: 'P30D' }).expect(201);
    await consume(userId, 25).expect(201);

    const consumed = (await eventsOf(userId)).find((event) => event.type === 'CreditsConsumed')!;
    expect(consumed.data.drawnFrom).toEqual([
      { grantId: welcome.body.eventId, credits: 20 },
      { grantId: pack.body.eventId, credits: 5 },
    ]);
    const balance = await balanceOf(userId);
    expect(balance).toMatchObject({
      balance: 95,
      spendable: 95,
      byCategory: { paid: 95, promotional: 0 },
      expiring: [],
    });
    const grants = await grantsOf(userId);
    expect(grants).toEqual([
      expect.objectContaining({
        grantId: pack.body.eventId,
        category: 'paid',
        priority: 200,
        expiresAt: null,
        state: 'active',
        grantedCredits: 100,
        spentCredits: 5,
        remainingCredits: 95,
      }),
      expect.objectContaining({
        grantId: welcome.body.eventId,
        category: 'promotional',
        priority: 100,
        expiresAt: expect.stringMatching(/Z$/),
        state: 'depleted',
        grantedCredits: 20,
        spentCredits: 20,
        remainingCredits: 0,
      }),
    ]);
  });

  it('lists the next grants to expire with the balance, soonest first', async () => {
    const userId = newUserId();
    const later = await grantBonus(userId, { amount: 5, reason: 'later', expiresAt: '2099-01-01T00:00:00Z' }).expect(
      201,
    );
    const sooner = await grantBonus(userId, { amount: 7, reason: 'sooner', expiresIn: 'P7D' }).expect(201);

    const balance = await balanceOf(userId);

    expect(balance.expiring).toEqual([
      { grantId: sooner.body.eventId, credits: 7, expiresAt: expect.any(String) },
      { grantId: later.body.eventId, credits: 5, expiresAt: '2099-01-01T00:00:00.000Z' },
    ]);
    expect(balance.byCategory).toEqual({ paid: 0, promotional: 12 });
  });

  it('never spends a grant past its expiry, and leaves it out of what may be spent before its expiry is recorded', async () => {
    const userId = newUserId();
    await grantBonus(userId, { amount: 10, reason: 'flash', expiresIn: 'PT1S' }).expect(201);
    await sleep(1_100);

    const refused = await consume(userId, 1);

    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ type: '/problems/insufficient-credits', balance: 10, spendable: 0 });
    expect(await balanceOf(userId)).toMatchObject({ balance: 10, spendable: 0, byCategory: { promotional: 0 } });
    expect(await grantsOf(userId, 'expired')).toEqual([
      expect.objectContaining({ state: 'expired', status: 'active', remainingCredits: 10 }),
    ]);
    expect(await grantsOf(userId, 'active')).toEqual([]);
  });

  it.each<[string, Body, number, string]>([
    ['an expiry in the past', { expiresAt: '2020-01-01T00:00:00Z' }, 422, '/problems/invalid-grant-terms'],
    ['a duration that is not ISO 8601', { expiresIn: 'thirty days' }, 422, '/problems/invalid-grant-terms'],
    [
      'both expiresAt and expiresIn',
      { expiresAt: '2099-01-01T00:00:00Z', expiresIn: 'P1D' },
      422,
      '/problems/invalid-grant-terms',
    ],
    ['an unknown category', { category: 'gift' }, 400, '/problems/invalid-request'],
    ['a priority that is not a whole number', { priority: 'high' }, 400, '/problems/invalid-request'],
    ['a priority above 1000', { priority: 1001 }, 400, '/problems/invalid-request'],
  ])('refuses a bonus with %s', async (_, terms, status, type) => {
    const response = await grantBonus(newUserId(), { amount: 5, reason: 'welcome', ...terms });

    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ type });
  });

  describe('POST /v1/users/{userId}/grants/{grantId}/void', () => {
    it('removes what is left of a bonus once: a second void answers the first', async () => {
      const userId = newUserId();
      const bonus = await grantBonus(userId, { amount: 30, reason: 'sales-led', category: 'paid' }).expect(201);
      await consume(userId, 10).expect(201);

      const voided = await voidGrant(userId, bonus.body.eventId);
      const again = await voidGrant(userId, bonus.body.eventId.toUpperCase(), { reason: 'another reason' });

      expect(voided.status).toBe(201);
      expect(voided.body).toMatchObject({ amount: 20, balance: 0 });
      expect(again.status).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(voided.body);
      expect(await grantsOf(userId, 'voided')).toEqual([
        expect.objectContaining({ state: 'voided', voidedCredits: 20, spentCredits: 10, remainingCredits: 0 }),
      ]);
    });

    it.each<[string, (userId: string, packGrantId: string) => Promise<Response>, number, string]>([
      ["a recharge's grant", (userId, pack) => voidGrant(userId, pack), 409, '/problems/grant-not-closable'],
      ['a grant the user does not hold', (userId) => voidGrant(userId, randomUUID()), 404, '/problems/unknown-grant'],
      ['a grant id that is not a UUID', (userId) => voidGrant(userId, 'grant-1'), 400, '/problems/invalid-grant-id'],
      ['no reason', (userId, pack) => voidGrant(userId, pack, {}), 400, '/problems/invalid-request'],
      [
        'a key without the admin scope',
        (userId, pack) => voidGrant(userId, pack, undefined, 'grant'),
        403,
        '/problems/forbidden',
      ],
    ])('refuses %s', async (_, call, status, type) => {
      const userId = newUserId();
      const pack = await recharge(userId, 10).expect(201);

      const response = await call(userId, pack.body.eventId);

      expect(response.status).toBe(status);
      expect(response.body).toMatchObject({ type });
    });
  });

  it('keeps every grant in the read model as the domain folds the stream', async () => {
    const userId = newUserId();
    await recharge(userId, 50).expect(201);
    await grantBonus(userId, { amount: 40, reason: 'a', expiresIn: 'P1D', priority: 10 }).expect(201);
    const other = await grantBonus(userId, { amount: 15, reason: 'b' }).expect(201);
    await consume(userId, 45).expect(201);
    await consume(userId, 3).expect(201);
    await voidGrant(userId, other.body.eventId).expect(201);
    await consume(userId, 12).expect(201);

    let state: CreditsState = initialState();
    for (const event of await eventsOf(userId)) {
      const { eventId, version, position, schemaVersion, type, data, idempotencyKey, occurredAt } = event;
      const stored = {
        id: eventId,
        type,
        schemaVersion,
        data,
        metadata: { idempotencyKey, occurredAt, payloadFingerprint: '' },
        streamId: `credits-${userId}`,
        streamVersion: version,
        globalPosition: position,
      } as StoredEvent;
      state = evolve(state, parseCreditsEvent(stored));
    }
    const folded = [...state.grants.byId.values()].map((grant) => ({
      grantId: grant.grantId,
      remainingCredits: grant.remaining,
      spentCredits: grant.spent,
      grantedCredits: grant.granted,
    }));

    expect(await grantsOf(userId)).toEqual(
      expect.arrayContaining(folded.map((expected) => expect.objectContaining(expected))),
    );
    expect((await grantsOf(userId)).length).toBe(folded.length);
  });
});

describe.each(storeKindsUnderTest())('the expiry process in the app on %s', (kind) => {
  let testApp: TestApp;

  beforeAll(async () => {
    const projector = loadConfig({}).projector;
    testApp = await startTestApp(kind, {
      config: { projector: { ...projector, grantExpiry: { ...projector.grantExpiry, intervalMs: 50 } } },
    });
  });

  afterAll(async () => {
    await testApp?.close();
  });

  it('records the expiry of a grant once due, and the balance and read model follow', async () => {
    const http = () => request(testApp.app.getHttpServer());
    const userId = newUserId();
    const granted = await http()
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', randomUUID())
      .send({ amount: 10, reason: 'flash', expiresIn: 'PT1S' })
      .expect(201);

    const deadline = Date.now() + 10_000;
    let events: Array<{ type: string; data: Record<string, unknown> }> = [];
    while (!events.some((event) => event.type === 'CreditsExpired') && Date.now() < deadline) {
      await sleep(50);
      events = (await http().get(`/v1/users/${userId}/events`).set('Authorization', bearer('audit'))).body.events;
    }
    await projectionsCaughtUp(testApp.app);
    const balance = await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200);
    const expired = await http()
      .get(`/v1/users/${userId}/grants?status=expired`)
      .set('Authorization', bearer('read'))
      .expect(200);

    expect(events.filter((event) => event.type === 'CreditsExpired')).toEqual([
      expect.objectContaining({ data: { grantId: granted.body.eventId, expiresAt: expect.any(String), credits: 10 } }),
    ]);
    expect(balance.body).toMatchObject({ balance: 0, spendable: 0 });
    expect(expired.body.grants).toEqual([
      expect.objectContaining({
        status: 'expired',
        expiredCredits: 10,
        remainingCredits: 0,
        closedAt: expect.any(String),
      }),
    ]);
  });
});

function newUserId(): string {
  return `grants-${randomUUID()}`;
}
