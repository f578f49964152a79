import { randomUUID } from 'node:crypto';
import request, { type Response } from 'supertest';
import { TEST_KEYS, type TestApp, bearer, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { storeKindsUnderTest } from '../support/test-stores';

/**
 * The credits API as its clients see it, over HTTP, on every event store. Each test works on users of its own, so
 * the tests share one app per store and never see each other's credits.
 */

type Scope = keyof typeof TEST_KEYS;
type Body = Record<string, unknown>;
type Movement = { userId: string; amount: number; balance: number; version: number };

/** The price list shipped in config/price-list.json. */
const FACE_SWAP_PRICE_CREDITS = 1;
const VIDEO_GENERATION_PRICE_CREDITS = 10;
const VIDEO_GENERATION_AMOUNT_MAX = 1000;

const REQUEST_BODY_LIMIT_BYTES = 64 * 1024;
const USER_ID_LENGTH_MAX = 128;
const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
const LIST_EVENTS_LIMIT_MAX = 1000;
const AMOUNT_CREDITS_MAX = 1_000_000_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GLOBAL_POSITION = /^[1-9][0-9]*$/;
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** Where the spec asks only for a 400 problem, not for a particular type of it. */

/** Path parameters a user id may not be: too long, or with a character outside A-Z a-z 0-9 . _ : @ - */
const INVALID_USER_IDS: Array<[string, string]> = [
  [`${USER_ID_LENGTH_MAX + 1} characters`, 'u'.repeat(USER_ID_LENGTH_MAX + 1)],
  ['an encoded slash', 'user%2F1'],
  ['an encoded space', 'user%201'],
  ['a non-ASCII letter', 'caf%C3%A9'],
];

describe.each(storeKindsUnderTest())('credits API on %s', (kind) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp(kind);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  const http = () => request(testApp.app.getHttpServer());

  function consume(userId: string, body: Body | string, options: { idempotencyKey?: string; scope?: Scope } = {}) {
    const call = http()
      .post(`/v1/users/${userId}/consumptions`)
      .set('Authorization', bearer(options.scope ?? 'consume'))
      .type('json');
    if (options.idempotencyKey !== undefined) call.set('Idempotency-Key', options.idempotencyKey);
    return call.send(body);
  }

  function grantBonus(userId: string, body: Body, options: { idempotencyKey?: string; scope?: Scope } = {}) {
    const call = http()
      .post(`/v1/users/${userId}/bonuses`)
      .set('Authorization', bearer(options.scope ?? 'grant'));
    if (options.idempotencyKey !== undefined) call.set('Idempotency-Key', options.idempotencyKey);
    return call.send(body);
  }

  function recharge(userId: string, body: Body, options: { scope?: Scope } = {}) {
    return http()
      .post(`/v1/users/${userId}/recharges`)
      .set('Authorization', bearer(options.scope ?? 'admin'))
      .send(body);
  }

  /** Waits for every command made so far to reach the read model, then reads it. */
  async function getBalance(userId: string, options: { scope?: Scope } = {}) {
    await projectionsCaughtUp(testApp.app);
    return http()
      .get(`/v1/users/${userId}/balance`)
      .set('Authorization', bearer(options.scope ?? 'read'));
  }

  function listEvents(userId: string, query = '', options: { scope?: Scope } = {}) {
    return http()
      .get(`/v1/users/${userId}/events${query}`)
      .set('Authorization', bearer(options.scope ?? 'audit'));
  }

  /** Given: a user no other test touches, holding this many credits from one recharge (none: no history). */
  async function givenUserWith(balanceCredits: number): Promise<string> {
    const userId = newUserId();
    if (balanceCredits > 0) expect((await recharge(userId, rechargeOf(balanceCredits))).status).toBe(201);
    return userId;
  }

  /** Then: the user's balance and stream version, as GET balance answers them. */
  async function expectBalance(userId: string, expected: { balance: number; version: number }): Promise<void> {
    const response = await getBalance(userId);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ userId, ...expected });
  }

  describe('POST /v1/users/{userId}/consumptions', () => {
    describe('when the balance covers the price', () => {
      it('charges the price of the price list and answers 201 with the movement', async () => {
        const userId = await givenUserWith(5);

        const response = await consume(userId, { feature: 'face_swap', reference: 'upload-1' });

        expectMovement(response, 201, { userId, amount: FACE_SWAP_PRICE_CREDITS, balance: 4, version: 2 });
        expect(response.headers['idempotent-replayed']).toBeUndefined();
        await expectBalance(userId, { balance: 4, version: 2 });
      });

      it('charges the price of the price list on a feature that allows an override, when no amount is sent', async () => {
        const userId = await givenUserWith(100);

        const response = await consume(userId, { feature: 'video_generation', reference: 'render-1' });

        expectMovement(response, 201, { userId, amount: VIDEO_GENERATION_PRICE_CREDITS, balance: 90, version: 2 });
      });

      it('charges the amount the caller names, on a feature that allows an override', async () => {
        const userId = await givenUserWith(100);

        const response = await consume(userId, { feature: 'video_generation', reference: 'render-1', amount: 25 });

        expectMovement(response, 201, { userId, amount: 25, balance: 75, version: 2 });
      });

      it("charges an override of exactly the feature's maximum, down to a balance of zero", async () => {
        const userId = await givenUserWith(VIDEO_GENERATION_AMOUNT_MAX);

        const response = await consume(userId, {
          feature: 'video_generation',
          reference: 'render-1',
          amount: VIDEO_GENERATION_AMOUNT_MAX,
        });

        expectMovement(response, 201, { userId, amount: VIDEO_GENERATION_AMOUNT_MAX, balance: 0, version: 2 });
      });

      it('charges again for another reference of the same feature', async () => {
        const userId = await givenUserWith(5);
        await consume(userId, { feature: 'face_swap', reference: 'upload-1' }).expect(201);

        const response = await consume(userId, { feature: 'face_swap', reference: 'upload-2' });

        expectMovement(response, 201, { userId, amount: 1, balance: 3, version: 3 });
      });

      it('charges the same feature and reference twice under two different Idempotency-Keys', async () => {
        const userId = await givenUserWith(5);
        const body = { feature: 'face_swap', reference: 'upload-1' };
        await consume(userId, body, { idempotencyKey: 'attempt-1' }).expect(201);

        const response = await consume(userId, body, { idempotencyKey: 'attempt-2' });

        expectMovement(response, 201, { userId, amount: 1, balance: 3, version: 3 });
      });

      it(`accepts an Idempotency-Key of ${IDEMPOTENCY_KEY_LENGTH_MAX} visible ASCII characters`, async () => {
        const userId = await givenUserWith(5);

        const response = await consume(
          userId,
          { feature: 'face_swap', reference: 'upload-1' },
          { idempotencyKey: '~'.repeat(IDEMPOTENCY_KEY_LENGTH_MAX) },
        );

        expect(response.status).toBe(201);
      });

      it(`accepts a body of exactly ${REQUEST_BODY_LIMIT_BYTES} bytes`, async () => {
        const userId = await givenUserWith(5);

        const response = await consume(userId, bodyOfSize(REQUEST_BODY_LIMIT_BYTES));

        expect(response.status).toBe(201);
      });
    });

    describe('when the same consumption is sent again', () => {
      it('replays it with the feature and reference as the key: 200, the identical body, nothing appended', async () => {
        const userId = await givenUserWith(5);
        const body = { feature: 'face_swap', reference: 'upload-1' };
        const first = await consume(userId, body).expect(201);

        const retry = await consume(userId, body);

        expect(retry.status).toBe(200);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.body).toEqual(first.body);
        await expectBalance(userId, { balance: 4, version: 2 });
      });

      it('replays it under the same Idempotency-Key', async () => {
        const userId = await givenUserWith(5);
        const body = { feature: 'face_swap', reference: 'upload-1', metadata: { model: 'v2' } };
        const first = await consume(userId, body, { idempotencyKey: 'job-7' }).expect(201);

        const retry = await consume(userId, body, { idempotencyKey: 'job-7' });

        expect(retry.status).toBe(200);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.body).toEqual(first.body);
        await expectBalance(userId, { balance: 4, version: 2 });
      });

      it('replays it even once the balance no longer covers its amount', async () => {
        const userId = await givenUserWith(VIDEO_GENERATION_PRICE_CREDITS);
        const body = { feature: 'video_generation', reference: 'render-1' };
        const first = await consume(userId, body).expect(201);

        const retry = await consume(userId, body);

        expect(retry.status).toBe(200);
        expect(retry.body).toEqual({ ...first.body, balance: 0 });
        await expectBalance(userId, { balance: 0, version: 2 });
      });

      it('replays it to every one of identical requests that arrive at once, and charges once', async () => {
        const userId = await givenUserWith(5);
        const body = { feature: 'face_swap', reference: 'upload-1' };

        const responses = await Promise.all(Array.from({ length: 5 }, () => consume(userId, body)));

        expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 201]);
        for (const response of responses) expect(response.body).toEqual(responses[0].body);
        await expectBalance(userId, { balance: 4, version: 2 });
      });
    });

    describe('when the idempotency key was already used with another payload', () => {
      it('refuses another amount for the same feature and reference with 409, and appends nothing', async () => {
        const userId = await givenUserWith(100);
        await consume(userId, { feature: 'video_generation', reference: 'render-1', amount: 20 }).expect(201);

        const response = await consume(userId, { feature: 'video_generation', reference: 'render-1', amount: 30 });

        expectProblem(response, {
          status: 409,
          type: '/problems/idempotency-key-reused',
          idempotencyKey: 'consume:video_generation:render-1',
        });
        await expectBalance(userId, { balance: 80, version: 2 });
      });

      it('refuses another reference under the same Idempotency-Key with 409', async () => {
        const userId = await givenUserWith(5);
        await consume(userId, { feature: 'face_swap', reference: 'upload-1' }, { idempotencyKey: 'job-7' }).expect(201);

        const response = await consume(
          userId,
          { feature: 'face_swap', reference: 'upload-2' },
          { idempotencyKey: 'job-7' },
        );

        expectProblem(response, {
          status: 409,
          type: '/problems/idempotency-key-reused',
          idempotencyKey: 'consume:job-7',
        });
        await expectBalance(userId, { balance: 4, version: 2 });
      });
    });

    describe('when the balance does not cover the price', () => {
      it('refuses with 402 insufficient-credits naming the balance, and appends nothing', async () => {
        const userId = await givenUserWith(5);

        const response = await consume(userId, { feature: 'video_generation', reference: 'render-1', amount: 6 });

        expectProblem(response, { status: 402, type: '/problems/insufficient-credits', balance: 5, requested: 6 });
        await expectBalance(userId, { balance: 5, version: 1 });
      });

      it('refuses a user with no history with 402 and a balance of 0', async () => {
        const userId = await givenUserWith(0);

        const response = await consume(userId, { feature: 'face_swap', reference: 'upload-1' });

        expectProblem(response, { status: 402, type: '/problems/insufficient-credits', balance: 0, requested: 1 });
        await expectBalance(userId, { balance: 0, version: 0 });
      });

      it('does not remember the refusal: the same request succeeds once the balance covers it', async () => {
        const userId = await givenUserWith(0);
        const body = { feature: 'face_swap', reference: 'upload-1' };
        await consume(userId, body).expect(402);
        await recharge(userId, rechargeOf(1)).expect(201);

        const response = await consume(userId, body);

        expectMovement(response, 201, { userId, amount: 1, balance: 0, version: 2 });
      });

      it('charges only what the balance covers when consumptions arrive at once', async () => {
        const userId = await givenUserWith(3);

        const responses = await Promise.all(
          Array.from({ length: 6 }, (_, index) =>
            consume(userId, { feature: 'face_swap', reference: `upload-${index}` }),
          ),
        );

        expect(responses.map((response) => response.status).sort()).toEqual([201, 201, 201, 402, 402, 402]);
        await expectBalance(userId, { balance: 0, version: 4 });
      });
    });

    describe('when the price list refuses the consumption', () => {
      it('refuses a feature it does not list with 404 unknown-feature, and appends nothing', async () => {
        const userId = await givenUserWith(100);

        const response = await consume(userId, { feature: 'teleportation', reference: 'trip-1' });

        expectProblem(response, { status: 404, type: '/problems/unknown-feature', feature: 'teleportation' });
        await expectBalance(userId, { balance: 100, version: 1 });
      });

      it('refuses any amount on a feature of fixed price with 422, even the price itself', async () => {
        const userId = await givenUserWith(100);

        const response = await consume(userId, {
          feature: 'face_swap',
          reference: 'upload-1',
          amount: FACE_SWAP_PRICE_CREDITS,
        });

        expectProblem(response, { status: 422, type: '/problems/amount-override-not-allowed', feature: 'face_swap' });
        await expectBalance(userId, { balance: 100, version: 1 });
      });

      it("refuses an amount above the feature's maximum with 422 naming the maximum", async () => {
        const userId = await givenUserWith(5000);

        const response = await consume(userId, {
          feature: 'video_generation',
          reference: 'render-1',
          amount: VIDEO_GENERATION_AMOUNT_MAX + 1,
        });

        expectProblem(response, {
          status: 422,
          type: '/problems/amount-override-not-allowed',
          feature: 'video_generation',
          amountMax: VIDEO_GENERATION_AMOUNT_MAX,
        });
        await expectBalance(userId, { balance: 5000, version: 1 });
      });
    });

    describe('when the request is invalid', () => {
      it.each<[string, Body, string]>([
        ['without a reference', { feature: 'face_swap' }, 'reference'],
        ['with an empty reference', { feature: 'face_swap', reference: '' }, 'reference'],
        ['without a feature', { reference: 'upload-1' }, 'feature'],
        ['with a feature in capitals', { feature: 'FACE_SWAP', reference: 'upload-1' }, 'feature'],
        ['with a fractional amount', { feature: 'video_generation', reference: 'r', amount: 1.5 }, 'amount'],
        ['with an amount of zero', { feature: 'video_generation', reference: 'r', amount: 0 }, 'amount'],
        ['with a negative amount', { feature: 'video_generation', reference: 'r', amount: -5 }, 'amount'],
        ['with the amount as a string', { feature: 'video_generation', reference: 'r', amount: '5' }, 'amount'],
        ['with metadata that is not an object', { feature: 'face_swap', reference: 'r', metadata: 'v2' }, 'metadata'],
        ['with a field the API does not know', { feature: 'face_swap', reference: 'r', colour: 'red' }, 'colour'],
      ])('refuses a body %s with 400 invalid-request naming the field, and appends nothing', async (_, body, field) => {
        const userId = await givenUserWith(100);

        const response = await consume(userId, body);

        expectProblem(response, { status: 400, type: '/problems/invalid-request' });
        expect(response.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
        await expectBalance(userId, { balance: 100, version: 1 });
      });

      it.each(INVALID_USER_IDS)('refuses a user id of %s with 400 invalid-user-id', async (_, userId) => {
        const response = await consume(userId, { feature: 'face_swap', reference: 'upload-1' });

        expectProblem(response, { status: 400, type: '/problems/invalid-user-id' });
      });

      it.each<[string, string]>([
        ['a space', 'job 7'],
        [`${IDEMPOTENCY_KEY_LENGTH_MAX + 1} characters`, 'k'.repeat(IDEMPOTENCY_KEY_LENGTH_MAX + 1)],
      ])('refuses an Idempotency-Key with %s with 400 invalid-idempotency-key', async (_, idempotencyKey) => {
        const userId = await givenUserWith(5);

        const response = await consume(userId, { feature: 'face_swap', reference: 'upload-1' }, { idempotencyKey });

        expectProblem(response, { status: 400, type: '/problems/invalid-idempotency-key' });
        await expectBalance(userId, { balance: 5, version: 1 });
      });

      it('refuses malformed JSON with 400 malformed-json', async () => {
        const userId = await givenUserWith(5);

        const response = await http()
          .post(`/v1/users/${userId}/consumptions`)
          .set('Authorization', bearer('consume'))
          .set('Content-Type', 'application/json')
          .send('{"feature": "face_swap", "reference": ');

        expectProblem(response, { status: 400, type: '/problems/malformed-json' });
        await expectBalance(userId, { balance: 5, version: 1 });
      });

      it('refuses metadata nested deeper than 16 levels with 400 invalid-request, not a crash', async () => {
        const userId = await givenUserWith(5);
        const deep = '{"a":'.repeat(3000) + '1' + '}'.repeat(3000);

        const response = await http()
          .post(`/v1/users/${userId}/consumptions`)
          .set('Authorization', bearer('consume'))
          .set('Content-Type', 'application/json')
          .send(`{"feature": "face_swap", "reference": "upload-1", "metadata": ${deep}}`);

        expectProblem(response, { status: 400, type: '/problems/invalid-request' });
        await expectBalance(userId, { balance: 5, version: 1 });
      });

      it.each(['gzip', 'deflate', 'br'])(
        'refuses a body that does not decode in its Content-Encoding (%s) with 400 undecodable-body',
        async (encoding) => {
          const userId = await givenUserWith(5);

          const response = await http()
            .post(`/v1/users/${userId}/consumptions`)
            .set('Authorization', bearer('consume'))
            .set('Content-Type', 'application/json')
            .set('Content-Encoding', encoding)
            .send('{"feature": "face_swap", "reference": "not compressed"}');

          expectProblem(response, { status: 400, type: '/problems/undecodable-body' });
          await expectBalance(userId, { balance: 5, version: 1 });
        },
      );

      it('answers headers over 16 KiB, which Node refuses before any route, with a 431 problem', async () => {
        const response = await http()
          .get('/v1/users/u/balance')
          .set('Authorization', bearer('read'))
          .set('X-Padding', 'x'.repeat(20 * 1024));

        expect(response.status).toBe(431);
        expect(response.headers['content-type']).toBe('application/problem+json');
        expect(JSON.parse(response.text)).toMatchObject({ type: '/problems/headers-too-large', status: 431 });
      });

      it('refuses an amount of null with 400 invalid-request', async () => {
        const userId = await givenUserWith(5);

        const response = await consume(userId, { feature: 'face_swap', reference: 'upload-1', amount: null });

        expectProblem(response, { status: 400, type: '/problems/invalid-request' });
      });

      it(`refuses a body over ${REQUEST_BODY_LIMIT_BYTES} bytes with 413 payload-too-large`, async () => {
        const userId = await givenUserWith(5);

        const response = await consume(userId, bodyOfSize(REQUEST_BODY_LIMIT_BYTES + 1));

        expectProblem(response, { status: 413, type: '/problems/payload-too-large' });
        await expectBalance(userId, { balance: 5, version: 1 });
      });
    });
  });

  describe('strings the ledger cannot store (a NUL, a lone surrogate) are refused with 400 naming where', () => {
    type Send = (userId: string) => Promise<Response>;
    const consumeWith =
      (body: Body): Send =>
      (userId) =>
        consume(userId, body);
    const CASES: Array<[string, Send, string]> = [
      ['a NUL in a reference', consumeWith({ feature: 'face_swap', reference: 'up\u0000load' }), 'body.reference'],
      [
        'a lone surrogate deep in metadata',
        consumeWith({ feature: 'face_swap', reference: 'r', metadata: { a: { b: ['ok', 'x\ud800'] } } }),
        'body.metadata.a.b[1]',
      ],
      [
        'a NUL in a metadata key',
        consumeWith({ feature: 'face_swap', reference: 'r', metadata: { ['k\u0000']: 'v' } }),
        'body.metadata.k\ufffd',
      ],
      [
        'a lone surrogate in a bonus reason',
        (userId) => grantBonus(userId, { amount: 1, reason: '\udc00' }, { idempotencyKey: randomUUID() }),
        'body.reason',
      ],
      [
        'a NUL in a recharge id',
        (userId) => recharge(userId, { ...rechargeOf(5), rechargeId: 'pi_\u0000' }),
        'body.rechargeId',
      ],
      [
        'a NUL in a query parameter',
        (userId) => http().get(`/v1/users/${userId}/ledger?cursor=%00`).set('Authorization', bearer('read')),
        'query.cursor',
      ],
      [
        'a NUL in a path segment',
        () => http().get('/v1/users/user%00x/balance').set('Authorization', bearer('read')),
        'path segment "user\ufffdx"',
      ],
      [
        'a lone surrogate in a path segment (invalid UTF-8)',
        () => http().get('/v1/users/user%ED%A0%80/balance').set('Authorization', bearer('read')),
        'path (malformed percent-encoding)',
      ],
    ];

    it.each(CASES)('%s', async (_, send, field) => {
      const userId = await givenUserWith(5);

      const response = await send(userId);

      expectProblem(response, { status: 400, type: '/problems/invalid-request' });
      expect(response.body.errors).toEqual([expect.objectContaining({ field })]);
      await expectBalance(userId, { balance: 5, version: 1 });
    });
  });

  describe('POST /v1/users/{userId}/bonuses', () => {
    describe('when the bonus is new', () => {
      it('grants the amount and answers 201 with the movement', async () => {
        const userId = await givenUserWith(0);

        const response = await grantBonus(userId, { amount: 50, reason: 'welcome bonus' }, { idempotencyKey: 'b-1' });

        expectMovement(response, 201, { userId, amount: 50, balance: 50, version: 1 });
        expect(response.headers['idempotent-replayed']).toBeUndefined();
        await expectBalance(userId, { balance: 50, version: 1 });
      });

      it('adds to the credits the user already has', async () => {
        const userId = await givenUserWith(30);

        const response = await grantBonus(userId, { amount: 20, reason: 'apology' }, { idempotencyKey: 'b-1' });

        expectMovement(response, 201, { userId, amount: 20, balance: 50, version: 2 });
      });

      it('keeps idempotency keys per user: the same key grants to two users', async () => {
        const [firstUserId, secondUserId] = [await givenUserWith(0), await givenUserWith(0)];
        const body = { amount: 5, reason: 'launch' };

        await grantBonus(firstUserId, body, { idempotencyKey: 'launch-2026' }).expect(201);
        const response = await grantBonus(secondUserId, body, { idempotencyKey: 'launch-2026' });

        expectMovement(response, 201, { userId: secondUserId, amount: 5, balance: 5, version: 1 });
      });
    });

    describe('when the same bonus is sent again', () => {
      it('replays it: 200, the identical body, Idempotent-Replayed: true, nothing appended', async () => {
        const userId = await givenUserWith(0);
        const body = { amount: 50, reason: 'welcome bonus', metadata: { campaign: 'launch' } };
        const first = await grantBonus(userId, body, { idempotencyKey: 'b-1' }).expect(201);

        const retry = await grantBonus(userId, body, { idempotencyKey: 'b-1' });

        expect(retry.status).toBe(200);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.body).toEqual(first.body);
        await expectBalance(userId, { balance: 50, version: 1 });
      });
    });

    describe('when the idempotency key was already used with another payload', () => {
      it.each<[string, Body]>([
        ['another amount', { amount: 51, reason: 'welcome bonus' }],
        ['another reason', { amount: 50, reason: 'apology' }],
      ])('refuses %s with 409 idempotency-key-reused, and appends nothing', async (_, body) => {
        const userId = await givenUserWith(0);
        await grantBonus(userId, { amount: 50, reason: 'welcome bonus' }, { idempotencyKey: 'b-1' }).expect(201);

        const response = await grantBonus(userId, body, { idempotencyKey: 'b-1' });

        expectProblem(response, { status: 409, type: '/problems/idempotency-key-reused', idempotencyKey: 'bonus:b-1' });
        await expectBalance(userId, { balance: 50, version: 1 });
      });
    });

    describe('when the request is invalid', () => {
      it.each<[string, string | undefined]>([
        ['without an Idempotency-Key', undefined],
        ['with an empty Idempotency-Key', ''],
      ])('refuses a bonus %s with 400 idempotency-key-required, and appends nothing', async (_, idempotencyKey) => {
        const userId = await givenUserWith(0);

        const response = await grantBonus(userId, { amount: 50, reason: 'welcome bonus' }, { idempotencyKey });

        expectProblem(response, { status: 400, type: '/problems/idempotency-key-required' });
        await expectBalance(userId, { balance: 0, version: 0 });
      });

      it.each<[string, Body, string]>([
        ['without a reason', { amount: 50 }, 'reason'],
        ['with an empty reason', { amount: 50, reason: '' }, 'reason'],
        ['with a reason of 201 characters', { amount: 50, reason: 'r'.repeat(201) }, 'reason'],
        ['without an amount', { reason: 'welcome bonus' }, 'amount'],
        ['with an amount of zero', { amount: 0, reason: 'welcome bonus' }, 'amount'],
        ['with a fractional amount', { amount: 1.5, reason: 'welcome bonus' }, 'amount'],
        ['with an amount over the maximum', { amount: AMOUNT_CREDITS_MAX + 1, reason: 'welcome bonus' }, 'amount'],
        ['with a field the API does not know', { amount: 50, reason: 'welcome bonus', expires: '2027' }, 'expires'],
      ])('refuses a body %s with 400 invalid-request naming the field', async (_, body, field) => {
        const userId = await givenUserWith(0);

        const response = await grantBonus(userId, body, { idempotencyKey: 'b-1' });

        expectProblem(response, { status: 400, type: '/problems/invalid-request' });
        expect(response.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
        await expectBalance(userId, { balance: 0, version: 0 });
      });
    });
  });

  describe('POST /v1/users/{userId}/recharges', () => {
    describe('when the recharge id is new', () => {
      it('adds the credits and answers 201 with the movement', async () => {
        const userId = await givenUserWith(0);

        const response = await recharge(userId, rechargeOf(500, `invoice-2026-${randomUUID()}`));

        expectMovement(response, 201, { userId, amount: 500, balance: 500, version: 1 });
        await expectBalance(userId, { balance: 500, version: 1 });
      });
    });

    describe('when the recharge id was already recorded for another user', () => {
      it('refuses it with 409 recharge-already-recorded: one payment is credited once in the ledger', async () => {
        const alice = await givenUserWith(0);
        const bob = await givenUserWith(0);
        const invoiceId = `invoice-${randomUUID()}`;
        await recharge(alice, rechargeOf(500, invoiceId)).expect(201);

        const response = await recharge(bob, rechargeOf(500, invoiceId));

        expectProblem(response, {
          status: 409,
          type: '/problems/recharge-already-recorded',
          rechargeId: invoiceId,
        });
        await expectBalance(bob, { balance: 0, version: 0 });
      });
    });

    describe('when a client chose an Idempotency-Key that looks like a recharge', () => {
      it('still records the recharge: keys are namespaced per kind of command', async () => {
        const userId = await givenUserWith(0);
        const invoiceId = `inv-${randomUUID()}`;
        await grantBonus(userId, { amount: 5, reason: 'promo' }, { idempotencyKey: `recharge:${invoiceId}` }).expect(
          201,
        );

        const response = await recharge(userId, rechargeOf(500, invoiceId));

        expectMovement(response, 201, { userId, amount: 500, balance: 505, version: 2 });
      });
    });

    describe('when the recharge id was already recorded', () => {
      it('replays the same recharge: 200, the identical body, Idempotent-Replayed: true, nothing appended', async () => {
        const userId = await givenUserWith(0);
        const invoiceId = `invoice-${randomUUID()}`;
        const first = await recharge(userId, rechargeOf(500, invoiceId)).expect(201);

        const retry = await recharge(userId, rechargeOf(500, invoiceId));

        expect(retry.status).toBe(200);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.body).toEqual(first.body);
        await expectBalance(userId, { balance: 500, version: 1 });
      });

      it.each<[string, Body]>([
        ['other credits', { credits: 600 }],
        ['another amount paid', { amountPaid: 1 }],
        ['another currency', { currency: 'eur' }],
      ])('refuses it with %s with 409 idempotency-key-reused, and appends nothing', async (_, change) => {
        const userId = await givenUserWith(0);
        const invoiceId = `invoice-${randomUUID()}`;
        await recharge(userId, rechargeOf(500, invoiceId)).expect(201);

        const response = await recharge(userId, { ...rechargeOf(500, invoiceId), ...change });

        expectProblem(response, {
          status: 409,
          type: '/problems/idempotency-key-reused',
          idempotencyKey: `recharge:${invoiceId}`,
        });
        await expectBalance(userId, { balance: 500, version: 1 });
      });
    });

    describe('when the request is invalid', () => {
      it.each<[string, Body, string]>([
        ['a currency in capitals', { ...rechargeOf(500), currency: 'USD' }, 'currency'],
        ['a currency of two letters', { ...rechargeOf(500), currency: 'us' }, 'currency'],
        ['a currency of four letters', { ...rechargeOf(500), currency: 'usdt' }, 'currency'],
        ['a currency that is a number', { ...rechargeOf(500), currency: 840 }, 'currency'],
        ['no recharge id', { credits: 500, amountPaid: 999, currency: 'usd' }, 'rechargeId'],
        ['credits of zero', { ...rechargeOf(0) }, 'credits'],
        ['a negative amount paid', { ...rechargeOf(500), amountPaid: -1 }, 'amountPaid'],
        ['a fractional amount paid', { ...rechargeOf(500), amountPaid: 9.99 }, 'amountPaid'],
        ['a field the API does not know', { ...rechargeOf(500), coupon: 'SPRING' }, 'coupon'],
      ])('refuses a recharge with %s with 400 invalid-request naming the field', async (_, body, field) => {
        const userId = await givenUserWith(0);

        const response = await recharge(userId, body);

        expectProblem(response, { status: 400, type: '/problems/invalid-request' });
        expect(response.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
        await expectBalance(userId, { balance: 0, version: 0 });
      });
    });
  });

  describe('GET /v1/users/{userId}/balance', () => {
    it('answers a balance of 0 at version 0 for a user with no history', async () => {
      const userId = newUserId();

      const response = await getBalance(userId);

      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        userId,
        balance: 0,
        frozenCredits: 0,
        heldCredits: 0,
        spendable: 0,
        byCategory: { paid: 0, promotional: 0 },
        expiring: [],
        version: 0,
        position: null,
        projectedAt: null,
      });
    });

    it('answers the sum of every movement, at the version of the last one', async () => {
      const userId = await givenUserWith(100);
      await grantBonus(userId, { amount: 20, reason: 'welcome bonus' }, { idempotencyKey: 'b-1' }).expect(201);
      const last = await consume(userId, { feature: 'video_generation', reference: 'render-1', amount: 45 }).expect(
        201,
      );

      const response = await getBalance(userId);

      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        userId,
        balance: 75,
        frozenCredits: 0,
        heldCredits: 0,
        // The bonus is spent first (promotional): 20 of the 45, the recharge the other 25.
        spendable: 75,
        byCategory: { paid: 75, promotional: 0 },
        expiring: [],
        version: 3,
        position: last.body.position,
        projectedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
    });

    it.each<[string, string]>([
      [`${USER_ID_LENGTH_MAX} characters`, `${randomUUID()}-`.padEnd(USER_ID_LENGTH_MAX, 'x')],
      ['every kind of character allowed', `Acme.user_42:eu@example-${randomUUID()}`],
    ])('accepts a user id of %s', async (_, userId) => {
      const response = await getBalance(userId);

      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        userId,
        balance: 0,
        frozenCredits: 0,
        heldCredits: 0,
        spendable: 0,
        byCategory: { paid: 0, promotional: 0 },
        expiring: [],
        version: 0,
        position: null,
        projectedAt: null,
      });
    });

    it.each(INVALID_USER_IDS)('refuses a user id of %s with 400 invalid-user-id', async (_, userId) => {
      const response = await getBalance(userId);

      expectProblem(response, { status: 400, type: '/problems/invalid-user-id' });
    });
  });

  describe('GET /v1/users/{userId}/events', () => {
    it('lists every movement in stream order, with its ids, data, idempotency key and times', async () => {
      const userId = await givenUserWith(0);
      const invoiceId = `invoice-${randomUUID()}`;
      const recharged = await recharge(userId, rechargeOf(100, invoiceId)).expect(201);
      const bonus = { amount: 20, reason: 'welcome' };
      const granted = await grantBonus(userId, bonus, { idempotencyKey: 'b-1' }).expect(201);
      const consumed = await consume(userId, {
        feature: 'face_swap',
        reference: 'upload-1',
        metadata: { model: 'v2' },
      }).expect(201);

      const response = await listEvents(userId);

      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        userId,
        nextFromVersion: null,
        events: [
          {
            ...recordedEvent(recharged, 3),
            type: 'RechargeCompleted',
            data: {
              rechargeId: invoiceId,
              credits: 100,
              amountPaid: 999,
              currency: 'usd',
              source: { kind: 'manual' },
              metadata: {},
              category: 'paid',
              priority: 200,
              debtPaidCredits: 0,
            },
            idempotencyKey: `recharge:${invoiceId}`,
            causedBy: { apiKey: 'admin-key' },
          },
          {
            ...recordedEvent(granted),
            type: 'BonusGranted',
            data: {
              amount: 20,
              reason: 'welcome',
              metadata: {},
              category: 'promotional',
              priority: 100,
              debtPaidCredits: 0,
            },
            idempotencyKey: 'bonus:b-1',
            causedBy: { apiKey: 'grant-key' },
          },
          {
            ...recordedEvent(consumed),
            type: 'CreditsConsumed',
            data: {
              amount: 1,
              feature: 'face_swap',
              reference: 'upload-1',
              metadata: { model: 'v2' },
              // The bonus is promotional: spent before the recharge's paid credits.
              drawnFrom: [{ grantId: granted.body.eventId, credits: 1 }],
            },
            idempotencyKey: 'consume:face_swap:upload-1',
            causedBy: { apiKey: 'consume-key' },
          },
        ],
      });
      const events = response.body.events as Array<{ position: string }>;
      const positions = events.map((event) => BigInt(event.position));
      expect(positions[0] < positions[1] && positions[1] < positions[2]).toBe(true);
    });

    it('answers no events and no next page for a user with no history', async () => {
      const userId = newUserId();

      const response = await listEvents(userId);

      expect(response.status).toBe(200);
      expect(response.body).toEqual({ userId, events: [], nextFromVersion: null });
    });

    describe('when the history spans several pages', () => {
      it('pages through it with fromVersion and limit, until no next page is left', async () => {
        const userId = await givenUserWithEvents(5);

        const pages = [];
        for (const query of ['?limit=2', '?fromVersion=3&limit=2', '?fromVersion=5&limit=2']) {
          const response = await listEvents(userId, query);
          expect(response.status).toBe(200);
          pages.push(response.body);
        }

        expect(pages.map(versionsAndNext)).toEqual([
          { versions: [1, 2], nextFromVersion: 3 },
          { versions: [3, 4], nextFromVersion: 5 },
          { versions: [5], nextFromVersion: null },
        ]);
      });

      it('answers no next page when the last page is exactly full', async () => {
        const userId = await givenUserWithEvents(4);

        const response = await listEvents(userId, '?fromVersion=3&limit=2');

        expect(versionsAndNext(response.body)).toEqual({ versions: [3, 4], nextFromVersion: null });
      });

      it('answers an empty page past the last version', async () => {
        const userId = await givenUserWithEvents(2);

        const response = await listEvents(userId, '?fromVersion=3');

        expect(versionsAndNext(response.body)).toEqual({ versions: [], nextFromVersion: null });
      });

      it(`accepts the largest page, of ${LIST_EVENTS_LIMIT_MAX} events`, async () => {
        const userId = await givenUserWithEvents(2);

        const response = await listEvents(userId, `?limit=${LIST_EVENTS_LIMIT_MAX}`);

        expect(versionsAndNext(response.body)).toEqual({ versions: [1, 2], nextFromVersion: null });
      });
    });

    it.each<[string, string, string]>([
      ['a limit of 0', '?limit=0', '/problems/invalid-page'],
      [`a limit of ${LIST_EVENTS_LIMIT_MAX + 1}`, `?limit=${LIST_EVENTS_LIMIT_MAX + 1}`, '/problems/invalid-page'],
      ['a fromVersion of 0', '?fromVersion=0', '/problems/invalid-page'],
      ['a fractional limit', '?limit=1.5', '/problems/invalid-page'],
      ['a limit in words', '?limit=ten', '/problems/invalid-page'],
      ['a hexadecimal limit', '?limit=0x10', '/problems/invalid-page'],
      ['a fromVersion in words', '?fromVersion=abc', '/problems/invalid-page'],
    ])('refuses %s with 400', async (_, query, type) => {
      const response = await listEvents(newUserId(), query);

      expectProblem(response, { status: 400, type });
    });

    it.each(INVALID_USER_IDS)('refuses a user id of %s with 400 invalid-user-id', async (_, userId) => {
      const response = await listEvents(userId);

      expectProblem(response, { status: 400, type: '/problems/invalid-user-id' });
    });

    /** Given: a user whose stream holds this many events (one recharge, then consumptions of 1 credit). */
    async function givenUserWithEvents(eventCount: number): Promise<string> {
      const userId = await givenUserWith(eventCount);
      for (let index = 1; index < eventCount; index++) {
        await consume(userId, { feature: 'face_swap', reference: `upload-${index}` }).expect(201);
      }
      return userId;
    }
  });

  describe('authentication and scopes', () => {
    type Route = { name: string; scope: Scope; send(userId: string, authorization?: string): request.Test };
    const ROUTES: Route[] = [
      {
        name: 'POST consumptions',
        scope: 'consume',
        send: (userId, authorization) =>
          withAuthorization(http().post(`/v1/users/${userId}/consumptions`), authorization).send({
            feature: 'face_swap',
            reference: 'upload-1',
          }),
      },
      {
        name: 'POST bonuses',
        scope: 'grant',
        send: (userId, authorization) =>
          withAuthorization(http().post(`/v1/users/${userId}/bonuses`), authorization)
            .set('Idempotency-Key', 'b-1')
            .send({ amount: 5, reason: 'welcome bonus' }),
      },
      {
        name: 'POST recharges',
        scope: 'admin',
        send: (userId, authorization) =>
          withAuthorization(http().post(`/v1/users/${userId}/recharges`), authorization).send(rechargeOf(5)),
      },
      {
        name: 'GET balance',
        scope: 'read',
        send: (userId, authorization) => withAuthorization(http().get(`/v1/users/${userId}/balance`), authorization),
      },
      {
        name: 'GET events',
        scope: 'audit',
        send: (userId, authorization) => withAuthorization(http().get(`/v1/users/${userId}/events`), authorization),
      },
    ];
    const routeNamed = (name: string) => ROUTES.find((route) => route.name === name)!;

    it.each(ROUTES)('$name without an Authorization header: 401 unauthorized', async (route) => {
      const response = await route.send(await givenUserWith(5));

      expectProblem(response, { status: 401, type: '/problems/unauthorized' });
    });

    it.each(ROUTES)('$name with a secret no key has: 401 unauthorized', async (route) => {
      const response = await route.send(await givenUserWith(5), 'Bearer not-a-key-of-this-service');

      expectProblem(response, { status: 401, type: '/problems/unauthorized' });
    });

    it.each(ROUTES)('$name with a valid secret in another scheme than Bearer: 401 unauthorized', async (route) => {
      const response = await route.send(await givenUserWith(5), `Basic ${TEST_KEYS.admin}`);

      expectProblem(response, { status: 401, type: '/problems/unauthorized' });
    });

    it.each<[Scope, string, Scope]>([
      ['read', 'POST consumptions', 'consume'],
      ['consume', 'POST bonuses', 'grant'],
      ['grant', 'POST recharges', 'admin'],
      ['audit', 'GET balance', 'read'],
      ['read', 'GET events', 'audit'],
    ])('the %s key on %s: 403 forbidden, naming the scope %s', async (scope, routeName, requiredScope) => {
      const response = await routeNamed(routeName).send(await givenUserWith(5), bearer(scope));

      expectProblem(response, { status: 403, type: '/problems/forbidden', requiredScope });
    });

    it('appends nothing for a request it refuses', async () => {
      const userId = await givenUserWith(5);

      await routeNamed('POST consumptions').send(userId).expect(401);
      await routeNamed('POST consumptions').send(userId, bearer('read')).expect(403);

      await expectBalance(userId, { balance: 5, version: 1 });
    });

    it('checks the key before the body: an invalid body without a key is 401', async () => {
      const response = await http().post(`/v1/users/${newUserId()}/consumptions`).send({ amount: 'lots' });

      expectProblem(response, { status: 401, type: '/problems/unauthorized' });
    });

    it.each(ROUTES)('$name with the key of its own scope: accepted', async (route) => {
      const response = await route.send(await givenUserWith(5), bearer(route.scope));

      expect([200, 201]).toContain(response.status);
    });

    it.each(ROUTES)('$name with the admin key: accepted', async (route) => {
      const response = await route.send(await givenUserWith(5), bearer('admin'));

      expect([200, 201]).toContain(response.status);
    });
  });

  describe('operations', () => {
    it.each(['/health/live', '/health/ready'])('GET %s answers 200 without a key', async (path) => {
      const response = await http().get(path);

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ok' });
    });

    it('GET /metrics answers 200 without a key, counting commands by type and outcome', async () => {
      const userId = await givenUserWith(0);
      await consume(userId, { feature: 'face_swap', reference: 'upload-1' }).expect(402);

      const response = await http().get('/metrics');

      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      expect(response.text).toContain('credits_commands_total{command="CompleteRecharge",outcome="recorded"}');
      expect(response.text).toContain(
        'credits_commands_total{command="ConsumeCredits",outcome="refused:insufficient-credits"}',
      );
    });

    it('GET /docs answers the Swagger UI without a key', async () => {
      const response = await http().get('/docs');

      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.text).toContain('swagger-ui');
    });

    it.each<[string, string | undefined]>([
      ['without a key', undefined],
      ['with the admin key', bearer('admin')],
    ])('an unknown route answers 404 not-found, %s', async (_, authorization) => {
      const response = await withAuthorization(http().get('/v1/no-such-route'), authorization);

      expectProblem(response, { status: 404, type: '/problems/not-found' });
    });
  });
});

function newUserId(): string {
  return `user-${randomUUID()}`;
}

function rechargeOf(credits: number, rechargeId = `invoice-${randomUUID()}`): Body {
  return { rechargeId, credits, amountPaid: 999, currency: 'usd' };
}

/** A valid consumption of face_swap whose JSON body is exactly this many bytes, padded in its metadata. */
function bodyOfSize(bytes: number): string {
  const body = (padding: string) =>
    JSON.stringify({ feature: 'face_swap', reference: 'upload-1', metadata: { padding } });
  const json = body('x'.repeat(bytes - body('').length));
  expect(Buffer.byteLength(json)).toBe(bytes);
  return json;
}

function withAuthorization(call: request.Test, authorization: string | undefined): request.Test {
  return authorization === undefined ? call : call.set('Authorization', authorization);
}

/** A movement answer: the given fields, a fresh event id and a 64-bit global position as a string. */
function expectMovement(response: Response, status: 200 | 201, expected: Movement): void {
  expect(response.status).toBe(status);
  expect(response.body).toEqual({
    ...expected,
    eventId: expect.stringMatching(UUID),
    position: expect.stringMatching(GLOBAL_POSITION),
  });
}

/** An RFC 9457 problem: its media type, a title, the HTTP status in the body, the request path as its instance. */
function expectProblem(response: Response, expected: { status: number; type: string; [extension: string]: unknown }) {
  expect(response.status).toBe(expected.status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json(;|$)/);
  expect(response.body).toMatchObject({ ...expected, title: expect.any(String), instance: pathOf(response) });
}

function pathOf(response: Response): string {
  const url = new URL(response.request.url);
  return `${url.pathname}${url.search}`;
}

/** The fields of a listed event that the command's own answer predicts, and its type's schema version. */
function recordedEvent(movement: Response, schemaVersion = 2) {
  return {
    eventId: movement.body.eventId,
    version: movement.body.version,
    position: movement.body.position,
    schemaVersion,
    occurredAt: expect.stringMatching(ISO_TIMESTAMP),
    recordedAt: expect.stringMatching(ISO_TIMESTAMP),
  };
}

function versionsAndNext(page: { events: Array<{ version: number }>; nextFromVersion: number | null }) {
  return { versions: page.events.map((event) => event.version), nextFromVersion: page.nextFromVersion };
}
