import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { type TestApp, bearer, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * An auditor replays a user's history from the event store over HTTP, on
 * every store. The history is worked out by hand: a manual recharge of 100,
 * 30 spent, a bonus of 20, 5 spent: balances 100, 70, 90, 85.
 */
describe.each(storeKindsUnderTest())('audit history on %s', (kind) => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());
  const history = (userId: string, query: Record<string, string | number> = {}) =>
    http().get(`/v1/audit/users/${userId}/history`).query(query).set('Authorization', bearer('audit'));

  beforeAll(async () => {
    testApp = await startTestApp(kind);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  /** Each command a few milliseconds after the last, so that every event has a moment of its own. */
  async function userWithHistory(): Promise<string> {
    const userId = `user-${randomUUID()}`;
    const post = (path: string, scope: 'admin' | 'consume' | 'grant', body: object, key?: string) => {
      const call = http().post(`/v1/users/${userId}/${path}`).set('Authorization', bearer(scope));
      return (key === undefined ? call : call.set('Idempotency-Key', key)).send(body).expect(201);
    };
    await post('recharges', 'admin', { rechargeId: `r-${userId}`, credits: 100, amountPaid: 999, currency: 'usd' });
    await sleep(5);
    await post('consumptions', 'consume', { feature: 'video_generation', reference: 'render-1', amount: 30 });
    await sleep(5);
    await post('bonuses', 'grant', { amount: 20, reason: 'welcome' }, 'b-1');
    await sleep(5);
    await post('consumptions', 'consume', { feature: 'video_generation', reference: 'render-2', amount: 5 });
    return userId;
  }

  it('replays every event with its delta, running balance and cause, ending at the balance', async () => {
    const userId = await userWithHistory();

    const response = await history(userId).expect(200);

    expect(response.body).toMatchObject({ userId, balance: 85, version: 4, frozenCredits: 0, stop: {} });
    const entries = response.body.entries as Array<Record<string, unknown>>;
    expect(entries.map(({ type, delta, balanceAfter }) => [type, delta, balanceAfter])).toEqual([
      ['RechargeCompleted', 100, 100],
      ['CreditsConsumed', -30, 70],
      ['BonusGranted', 20, 90],
      ['CreditsConsumed', -5, 85],
    ]);
    expect(entries.map((entry) => entry.apiKey)).toEqual(['admin-key', 'consume-key', 'grant-key', 'consume-key']);
    expect(entries[1]).toMatchObject({
      version: 2,
      idempotencyKey: 'consume:video_generation:render-1',
      feature: 'video_generation',
      reference: 'render-1',
    });
  });

  it('stops at a version, or at a moment, giving the balance then', async () => {
    const userId = await userWithHistory();
    const whole = (await history(userId).expect(200)).body as { entries: Array<{ occurredAt: string }> };

    const atVersion = await history(userId, { atVersion: 2 }).expect(200);
    const asOf = await history(userId, { asOf: whole.entries[2].occurredAt }).expect(200);
    const before = await history(userId, { asOf: '2000-01-01T00:00:00Z' }).expect(200);

    expect(atVersion.body).toMatchObject({ balance: 70, version: 2, stop: { atVersion: 2 } });
    expect(asOf.body).toMatchObject({ balance: 90, version: 3 });
    expect(before.body).toMatchObject({ balance: 0, version: 0, entries: [] });
  });

  it('answers CSV that parses back to the same entries', async () => {
    const userId = await userWithHistory();
    const json = await history(userId).expect(200);

    const csv = await history(userId, { format: 'csv' }).expect(200);

    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const rows = parse(csv.text, { columns: true }) as Array<Record<string, string>>;
    // CSV has no types: every value as text, a null as the empty field.
    const asText = (entry: Record<string, string | number | null>) =>
      Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, value === null ? '' : String(value)]));
    expect(rows).toEqual(json.body.entries.map(asText));
  });

  it('answers an empty history at balance 0 for a user with no events', async () => {
    const response = await history(`user-${randomUUID()}`).expect(200);

    expect(response.body).toMatchObject({ balance: 0, version: 0, entries: [] });
  });

  it.each([
    ['both asOf and atVersion', { asOf: '2026-01-01T00:00:00Z', atVersion: 1 }],
    ['an asOf that is not a time', { asOf: 'yesterday' }],
    ['an atVersion of 0', { atVersion: 0 }],
    ['an unknown format', { format: 'xml' }],
  ])('refuses %s with 400', async (_, query) => {
    const response = await history('user-1', query).expect(400);

    expect(response.body.type).toMatch(/\/problems\/invalid-request$/);
  });

  it('needs the audit scope', async () => {
    await http().get('/v1/audit/users/user-1/history').set('Authorization', bearer('read')).expect(403);
  });
});
