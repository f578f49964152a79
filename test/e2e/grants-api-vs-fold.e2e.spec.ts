import { randomUUID } from 'node:crypto';
import { GRANT_CATEGORIES, isUnexpiredAt, spendableCredits } from '@libs/credits';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import request from 'supertest';
import { foldOf, writeBonus } from '../support/expiring-grants';
import { type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * Written as a review of the grants API: the balance's spendable, byCategory and expiring against the domain's own
 * reckoning at the same moment; GET grants paging and state filters; the void endpoint under concurrency.
 */
type Body = Record<string, unknown>;

describe.each(storeKindsUnderTest())('the grants API against the domain on %s', (kind) => {
  let testApp: TestApp;
  let store: EventStore;

  beforeAll(async () => {
    testApp = await startTestApp(kind);
    store = testApp.app.get<EventStore>(EVENT_STORE);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());
  const newUserId = () => `grants-review-${randomUUID()}`;
  const grantBonus = (userId: string, body: Body) =>
    http()
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer('grant'))
      .set('Idempotency-Key', randomUUID())
      .send({ reason: 'review', ...body });
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
  const voidGrant = (userId: string, grantId: string) =>
    http()
      .post(`/v1/users/${userId}/grants/${grantId}/void`)
      .set('Authorization', bearer('admin'))
      .send({ reason: 'review' });

  async function balanceOf(userId: string) {
    await projectionsCaughtUp(testApp.app);
    return (await http().get(`/v1/users/${userId}/balance`).set('Authorization', bearer('read')).expect(200)).body;
  }

  /** Every page of GET grants for a state, following nextCursor. */
  async function allPages(userId: string, status: string, limit: number) {
    await projectionsCaughtUp(testApp.app);
    const grants: Array<Record<string, unknown>> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `status=${status}&limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`;
      const response = await http()
        .get(`/v1/users/${userId}/grants?${query}`)
        .set('Authorization', bearer('read'))
        .expect(200);
      grants.push(...response.body.grants);
      cursor = response.body.nextCursor;
      pages += 1;
      if (pages > 50) throw new Error('paging does not end');
    } while (cursor !== null);
    return grants;
  }

  // PINS: with a grant past its expiry not yet recorded (the expiry process is off), a spent one, a voided one,
  // paid and promotional bonuses and a recharge, the balance's spendable equals the domain's spendableCredits at
  // that moment, byCategory equals the unexpired active grants' remainders, and expiring lists the unexpired ones.
  it("balance: spendable, byCategory and expiring agree with the domain's fold at the same moment", async () => {
    const userId = newUserId();
    await writeBonus(store, userId, { amount: 40, decidedAt: new Date(Date.now() - 5_000), expiresIn: 'PT1S' });
    await recharge(userId, 100).expect(201);
    await grantBonus(userId, { amount: 30, category: 'paid', expiresIn: 'P10D' }).expect(201);
    const promo = await grantBonus(userId, { amount: 20, expiresIn: 'P2D', priority: 5 }).expect(201);
    await grantBonus(userId, { amount: 15 }).expect(201);
    await consume(userId, 25).expect(201);
    const voided = await grantBonus(userId, { amount: 9 }).expect(201);
    await voidGrant(userId, voided.body.eventId).expect(201);

    const balance = await balanceOf(userId);
    const now = new Date();
    const state = await foldOf(store, userId);
    const live = [...state.grants.byId.values()].filter((grant) => isUnexpiredAt(grant, now.getTime()));
    const byCategory = Object.fromEntries(
      GRANT_CATEGORIES.map((category) => [
        category,
        live.filter((grant) => grant.category === category).reduce((sum, grant) => sum + grant.remaining, 0),
      ]),
    );

    expect(balance).toMatchObject({
      balance: state.balance,
      spendable: spendableCredits(state, now.toISOString()),
      byCategory,
    });
    expect(balance.spendable).toBe(100 + 30 + 20 + 15 - 25);
    expect(state.grants.byId.get(promo.body.eventId)).toMatchObject({ remaining: 0, spent: 20 });
    expect(balance.expiring.map((grant: { credits: number }) => grant.credits)).toEqual([30]);
  });

  // PINS: paging by cursor with each state filter returns every grant once, in order, and the pages of all the
  // states together are the pages of `all`, each grant in the state viewOf gives it.
  it('GET grants: paging through each state filter returns each grant once, the states partition `all`', async () => {
    const userId = newUserId();
    for (let index = 0; index < 3; index++) {
      await writeBonus(store, userId, { amount: 5, decidedAt: new Date(Date.now() - 5_000), expiresIn: 'PT1S' });
    }
    await writeBonus(store, userId, {
      amount: 5,
      spend: 5,
      decidedAt: new Date(Date.now() - 5_000),
      expiresIn: 'PT1S',
    });
    await recharge(userId, 10).expect(201);
    for (let index = 0; index < 4; index++) await grantBonus(userId, { amount: 3 + index, priority: 1 }).expect(201);
    await consume(userId, 7).expect(201);
    const toVoid = await grantBonus(userId, { amount: 2 }).expect(201);
    await voidGrant(userId, toVoid.body.eventId).expect(201);

    const all = await allPages(userId, 'all', 1000);
    for (const limit of [1, 2, 3]) {
      expect(await allPages(userId, 'all', limit)).toEqual(all);
      const byState = new Map<string, Array<Record<string, unknown>>>();
      for (const state of ['active', 'depleted', 'expired', 'voided']) {
        const page = await allPages(userId, state, limit);
        expect(page.every((grant) => grant.state === state)).toBe(true);
        byState.set(state, page);
      }
      const union = [...byState.values()].flat();
      expect(new Set(union.map((grant) => grant.grantId))).toEqual(new Set(all.map((grant) => grant.grantId)));
      expect(union.length).toBe(all.length);
    }
    // 3 lapsed bonuses (expired, not recorded), 1 lapsed spent to nothing and the 2 bonuses the consumption
    // emptied (depleted), 2 bonuses and the recharge (active), the voided one.
    const counts: Record<string, number> = {};
    for (const grant of all) counts[grant.state as string] = (counts[grant.state as string] ?? 0) + 1;
    expect(counts).toEqual({ expired: 3, depleted: 3, active: 3, voided: 1 });
  });

  // PINS: a void racing consumptions of the same bonus: every credit of the bonus is either spent or voided, once;
  // the read model and the balance equal the fold afterwards.
  it('void racing consumptions: each credit of the bonus is spent or voided once, read model equals the fold', async () => {
    const userId = newUserId();
    const bonus = await grantBonus(userId, { amount: 50, priority: 0 }).expect(201);
    await recharge(userId, 100).expect(201);

    const results = await Promise.all([
      ...Array.from({ length: 8 }, () => consume(userId, 4)),
      voidGrant(userId, bonus.body.eventId.toUpperCase()),
      ...Array.from({ length: 8 }, () => consume(userId, 4)),
    ]);

    expect(results.map((response) => response.status).filter((status) => status >= 300)).toEqual([]);
    const state = await foldOf(store, userId);
    const grant = state.grants.byId.get(bonus.body.eventId)!;
    expect(grant).toMatchObject({ status: 'voided', remaining: 0 });
    expect(grant.spent + grant.voided).toBe(50);
    expect(state.balance).toBe(150 - 16 * 4 - grant.voided);

    const all = await allPages(userId, 'all', 1000);
    expect(
      all.map((row) => ({
        grantId: row.grantId,
        spent: row.spentCredits,
        voided: row.voidedCredits,
        left: row.remainingCredits,
      })),
    ).toEqual(
      [...state.grants.byId.values()]
        .sort((a, b) => a.sequence - b.sequence)
        .map((g) => ({ grantId: g.grantId, spent: g.spent, voided: g.voided, left: g.remaining })),
    );
    expect((await balanceOf(userId)).balance).toBe(state.balance);
  });

  // PINS: hostile inputs to the grants endpoints are refused, never defaulted.
  it.each([
    ['status=ACTIVE'],
    ['status='],
    ['limit=0'],
    ['limit=1001'],
    ['limit=1e2'],
    [`cursor=${Buffer.from('grant:2147483648').toString('base64url')}`],
    [`cursor=${Buffer.from('ledger:1').toString('base64url')}`],
    [`cursor=${Buffer.from('grant:-1').toString('base64url')}`],
  ])('GET grants?%s is refused with 400', async (query) => {
    await http().get(`/v1/users/${newUserId()}/grants?${query}`).set('Authorization', bearer('read')).expect(400);
  });

  it.each<[string, Body]>([
    ['a priority given as a string', { priority: '10' }],
    ['a null category', { category: null }],
    ['a null expiresAt', { expiresAt: null }],
    ['an amount of 1.5', { amount: 1.5 }],
    ['an expiresAt as a number', { expiresAt: 4102444800000 }],
  ])('POST bonuses refuses %s with 400', async (_, body) => {
    await grantBonus(newUserId(), { amount: 5, ...body }).expect(400);
  });

  it('a read-scope key cannot void; a grant of another user is unknown', async () => {
    const owner = newUserId();
    const bonus = await grantBonus(owner, { amount: 5 }).expect(201);
    await http()
      .post(`/v1/users/${owner}/grants/${bonus.body.eventId}/void`)
      .set('Authorization', bearer('read'))
      .send({ reason: 'x' })
      .expect(403);
    const other = newUserId();
    await grantBonus(other, { amount: 1 }).expect(201);
    const response = await voidGrant(other, bonus.body.eventId);
    expect(response.status).toBe(404);
    expect((await foldOf(store, owner)).grants.byId.get(bonus.body.eventId)).toMatchObject({ status: 'active' });
  });
});
