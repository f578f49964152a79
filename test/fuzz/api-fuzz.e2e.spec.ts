import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import request from 'supertest';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { READ_MODEL_DB } from '@projections';
import { STRIPE_WEBHOOK_PATH } from '../../apps/api/src/stripe/receive-webhook/stripe-webhook.http.controller';
import { ProblemDetailsFilter } from '../../libs/http/src/problems/problem-details.filter';
import { type FakeStripeApi, startFakeStripeApi } from '../support/fake-stripe-api';
import {
  chargeRefunded,
  checkoutSessionCompleted,
  disputeClosed,
  disputeCreated,
  invoicePaid,
  packCheckoutCompleted,
  paymentIntentSucceeded,
  signedBody,
  stripeId,
  subscriptionUpdated,
} from '../support/stripe-events';
import { OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, stripeConfigUnderTest } from '../support/stripe-webhook-client';
import { TEST_KEYS, type TestApp, projectionsCaughtUp, startTestApp } from '../support/test-app';
import { collect, storeKindsUnderTest } from '../support/test-stores';
import {
  type FuzzContext,
  type FuzzRequest,
  type OpenApiDocument,
  type Operation,
  type ValidValues,
  describeRequest,
  operationsOf,
  requestArbitrary,
  signedAsStripeSigns,
  undocumentedOperation,
  unknownRouteArbitrary,
  webhookRequestArbitrary,
} from './api-requests';
import { type JsonLike, abbreviated, token } from './hostile-values';

/**
 * Property-based fuzzing of every route of the real app (createApp, over HTTP
 * with supertest against app.getHttpServer()), on every store. The routes come
 * from the app's own OpenAPI document (GET /docs-json), so a new route is
 * fuzzed as soon as it is documented; the routes the app serves but leaves out
 * of the document (the Stripe webhook, /metrics, the docs pages) and the
 * catch-all of unknown routes are fuzzed too. Requests are drawn from each
 * operation's parameters and body schema: mostly-valid values (with valid API
 * keys and ids of seeded users, payments and deliveries, so that they get past
 * authentication to validation and the store) mixed with hostile ones (NUL and
 * other control characters, lone surrogates, 10,000-character strings, deep
 * nesting, 1e308, -0, 2**63, "NaN", arrays where objects go, repeated query
 * parameters, unknown fields), and wholly hostile ones.
 *
 * For every answer:
 * - never a 500, and no other 5xx unless the operation documents it or
 *   UNDOCUMENTED_5XX below allows it;
 * - every 4xx and 5xx is application/problem+json with `type`, `title` and the
 *   answer's `status`;
 * - a 4xx changes nothing: the number of events, the head position and every
 *   table of the database (events, read model, Stripe deliveries), compared
 *   after the projections caught up;
 * - the Stripe webhook refuses every delivery not signed as Stripe signs
 *   (no, wrong or stale signature) with 400 invalid-stripe-delivery (with any
 *   4xx problem when its body is in a Content-Encoding: it cannot be read);
 * - the server answers: no reset connection, no hang (ANSWER_TIMEOUT_MS).
 * A 2xx may change the store: the next request is compared with the new state.
 * A request Node's HTTP client refuses to send (NUL, CR or LF in a header) is
 * skipped. Behind a 5xx, the report names the exception the app's filter got.
 *
 * Environment:
 * - FUZZ_RUNS: requests per route and store (default 20; a route with no
 *   parameter and no body gets a fifth). A long run: `FUZZ_RUNS=2000`.
 * - FUZZ_SEED: fast-check's seed of the first route (the next routes take the
 *   next integers); default random, printed with every failure. The store's
 *   state depends on the routes before, so rerun the whole file with it.
 * - FUZZ_COLLECT=1: do not stop a route at its first failure (nor shrink it):
 *   send every request and list each distinct failure once, with the first
 *   request that showed it. For hunting, and for checking fixes.
 */

const FUZZ_RUNS = positiveIntegerFromEnv('FUZZ_RUNS') ?? 20;
const FUZZ_SEED = integerFromEnv('FUZZ_SEED') ?? Math.floor(Math.random() * 2 ** 31);
const FUZZ_COLLECT = process.env.FUZZ_COLLECT === '1';

/** How long fast-check may shrink a route's failure (each step is a request): bounds the time of a failing run. */
const SHRINKING_BUDGET_MS = 1500;

/** The request timeout: a route that hangs is a failure, not a stuck suite. */
const ANSWER_TIMEOUT_MS = 30_000;

/** Errors of Node's HTTP client, which refuses to send some values (NUL, CR or LF in a header): not the app's. */
const REFUSED_BY_CLIENT = new Set([
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_UNESCAPED_CHARACTERS',
  'ERR_INVALID_ARG_VALUE',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_URL',
]);

const isWebhook = (operation: Operation) => operation.method === 'post' && operation.path === STRIPE_WEBHOOK_PATH;

/**
 * 5xx a route may answer although its OpenAPI operation does not list them:
 * each is in the README's table of problems, for the routes named here. Any
 * other 5xx, and every 500, is a failure.
 */
const UNDOCUMENTED_5XX: Array<{ status: number; type: string; on: (operation: Operation) => boolean }> = [
  // A command that kept losing races with other writers: only commands (POST) write.
  { status: 503, type: '/problems/concurrency-conflict', on: (operation) => operation.method === 'post' },
  // A query whose minPosition (or X-Min-Position) was not projected within READ_YOUR_WRITES_TIMEOUT_MS.
  {
    status: 503,
    type: '/problems/projection-behind',
    on: (operation) => operation.parameters.some(({ name }) => /^(x-)?min-?position$/i.test(name)),
  },
  // The webhook: a transient failure, or a refund or dispute whose payment is not recorded yet (Stripe retries).
  { status: 503, type: '/problems/stripe-delivery-failed', on: isWebhook },
  // Not allowed: 503 store-unavailable (a passing fault of the store). The fuzzer makes no outage, so that answer
  // here would mean a hostile value taken for a passing fault: a request its client would retry for ever.
];

type Answer = { status: number; contentType: string; text: string };
type Fault = { kind: string; detail: string };

/** The store as a 4xx must leave it: events, head position, and a digest of every table's rows as JSON. */
type Snapshot = { events: number; head: string | undefined; tables: Record<string, { rows: number; digest: string }> };

describe.each(storeKindsUnderTest())(
  'hostile requests to every route of the real app, over HTTP (supertest against app.getHttpServer()), on %s',
  (kind) => {
    let fakeStripe: FakeStripeApi;
    let testApp: TestApp;
    let operations: Operation[];
    let undocumentedRoutes: string[];
    /** Watches the app's exception filter (calling it as it is), to name the exception behind a 500. */
    let filterCalls: jest.SpiedFunction<ProblemDetailsFilter['catch']>;

    beforeAll(async () => {
      filterCalls = jest.spyOn(ProblemDetailsFilter.prototype, 'catch');
      // Stripe's API is unreachable here: the checkout helper and the health check talk to a local stand-in.
      fakeStripe = await startFakeStripeApi();
      const stripe = stripeConfigUnderTest({ apiKey: fakeStripe.apiKey, apiBase: new URL(fakeStripe.url) });
      testApp = await startTestApp(kind, { config: { stripe } });
      const document = (await request(testApp.app.getHttpServer()).get('/docs-json').expect(200))
        .body as OpenApiDocument;
      const documented = operationsOf(document);
      const served = servedRoutes(testApp.app);
      const known = new Set(documented.map(({ method, path }) => `${method} ${path}`));
      const undocumented = served
        .map(({ method, path }) => undocumentedOperation(method, path))
        .filter(({ method, path }) => !known.has(`${method} ${path}`));
      undocumentedRoutes = undocumented.map(({ method, path }) => `${method.toUpperCase()} ${path}`);
      operations = [...documented, ...undocumented];
    });

    afterAll(async () => {
      await testApp?.close();
      await fakeStripe?.close();
      filterCalls?.mockRestore();
    });

    it('reads the routes from the OpenAPI document, which has some, and fuzzes the webhook left out of it', () => {
      expect(operations.filter(({ documented }) => documented).length).toBeGreaterThan(0);
      expect(undocumentedRoutes).toContain(`POST ${STRIPE_WEBHOOK_PATH}`);
    });

    it('fuzzes the routes of grants, holds, outbound webhooks, alerts and top-up with the rest', () => {
      const fuzzed = operations.map(({ method, path }) => `${method.toUpperCase()} ${path}`);
      expect(fuzzed).toEqual(
        expect.arrayContaining([
          'POST /v1/users/{userId}/grants/{grantId}/void',
          'GET /v1/users/{userId}/grants',
          'POST /v1/users/{userId}/holds',
          'POST /v1/users/{userId}/holds/{holdId}/capture',
          'POST /v1/users/{userId}/holds/{holdId}/release',
          'POST /v1/admin/webhook-endpoints',
          'PATCH /v1/admin/webhook-endpoints/{id}',
          'POST /v1/admin/webhook-deliveries/{id}/redeliver',
          'PUT /v1/users/{userId}/alerts',
          'PUT /v1/users/{userId}/auto-topup',
        ]),
      );
    });

    it(
      'answers no hostile request with a 500 or an undocumented 5xx, every error as problem+json, and a 4xx changes nothing',
      async () => {
        const app = testApp.app;
        const tables = await tablesOf(app);
        const unseeded = await snapshot(app, tables);
        const seeded = await seed(testApp);
        let current = await snapshot(app, tables);
        // The oracle of a 4xx sees what the seeding's 2xx changed: it is not comparing nothing with nothing.
        expect(await changeBetween(app, unseeded, current)).toMatch(/^events \d+ -> \d+ .*table balances/);
        const context: FuzzContext = {
          valid: validValuesOf(seeded, testApp),
          adminKey: TEST_KEYS.admin,
          otherKeys: Object.entries(TEST_KEYS)
            .filter(([scope]) => scope !== 'admin')
            .map(([, key]) => key),
          parameterNames: [...new Set(operations.flatMap(({ parameters }) => parameters.map(({ name }) => name)))],
        };
        const webhookSecrets = [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET];
        const statistics = { sent: 0, refusedByClient: 0, statuses: new Map<number, number>() };
        const collected = new Map<string, string>();

        /** Sends one request and judges its answer; the faults found, none when it passes. */
        async function exchange(fuzzRequest: FuzzRequest): Promise<Fault[]> {
          const before = current;
          filterCalls.mockClear();
          const sent = await send(app, fuzzRequest);
          if (sent === 'refused by the client') {
            statistics.refusedByClient += 1;
            return [];
          }
          statistics.sent += 1;
          if ('error' in sent) return [{ kind: 'no answer', detail: sent.error }];
          const answer = sent;
          statistics.statuses.set(answer.status, (statistics.statuses.get(answer.status) ?? 0) + 1);
          const faults = faultsOfAnswer(fuzzRequest, answer, webhookSecrets);
          current = await snapshot(app, tables);
          if (answer.status >= 400 && answer.status < 500) {
            const change = await changeBetween(app, before, current);
            if (change !== undefined) faults.push({ kind: `${answer.status} changed the store`, detail: change });
          }
          if (faults.length === 0) return [];
          if (answer.status >= 500 && filterCalls.mock.calls.length > 0) {
            faults.push({ kind: 'thrown', detail: exceptionName(filterCalls.mock.calls.at(-1)![0]) });
          }
          faults.push({ kind: 'answer', detail: describeAnswer(answer) });
          return faults;
        }

        const failures: string[] = [];
        const routes = [...operations.map((operation) => ({ operation })), { operation: undefined }];
        for (const [index, { operation }] of routes.entries()) {
          const name =
            operation === undefined ? 'unknown routes' : `${operation.method.toUpperCase()} ${operation.path}`;
          const arbitrary =
            operation === undefined
              ? unknownRouteArbitrary(operations, context)
              : isWebhook(operation)
                ? webhookRequestArbitrary(operation, stripeEvents(seeded), {
                    valid: webhookSecrets,
                    wrong: 'whsec_not_the_endpoint_secret_0123456789',
                  })
                : requestArbitrary(operation, context);
          const quiet = operation !== undefined && operation.parameters.length === 0 && operation.body === undefined;
          const numRuns = quiet ? Math.max(2, Math.ceil(FUZZ_RUNS / 5)) : FUZZ_RUNS;
          const seed = (FUZZ_SEED + index) | 0;
          let failedAt: number | undefined;
          const property = fc.asyncProperty(arbitrary, async (fuzzRequest) => {
            // Shrinking past its budget: every further candidate passes, so fast-check reports the smallest so far.
            if (failedAt !== undefined && Date.now() - failedAt > SHRINKING_BUDGET_MS) return;
            const faults = await exchange(fuzzRequest);
            if (faults.length === 0) return;
            if (!FUZZ_COLLECT) failedAt ??= Date.now();
            const judged = faults.map(({ kind, detail }) => `${kind}: ${detail}`).join('\n');
            // fast-check prints the (shrunk) request itself; a collected failure has no other report.
            if (!FUZZ_COLLECT) throw new Error(judged);
            const report = `${describeRequest(fuzzRequest)}\n${judged}`;
            const thrown = faults
              .find(({ kind }) => kind === 'thrown')
              ?.detail.replace(/\d+/g, 'N')
              .slice(0, 80);
            const key = `${name} | ${faults[0].kind}${thrown === undefined ? '' : ` | ${thrown}`}`;
            if (!collected.has(key)) collected.set(key, report);
          });
          const details = await fc.check(property, { numRuns, seed });
          if (details.failed) {
            const error =
              details.errorInstance instanceof Error ? details.errorInstance.message : details.errorInstance;
            failures.push(`${name} (seed ${seed}):\n${fc.defaultReportMessage(details) ?? 'failed'}\n${String(error)}`);
          }
        }

        if (FUZZ_COLLECT || process.env.FUZZ_RUNS !== undefined) {
          const statuses = [...statistics.statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`);
          process.stderr.write(
            `api fuzz on ${kind}: FUZZ_SEED=${FUZZ_SEED}, ${statistics.sent} requests answered ` +
              `(${statuses.join(', ')}), ${statistics.refusedByClient} refused by the HTTP client\n`,
          );
        }
        if (collected.size > 0) {
          failures.push(...[...collected].map(([key, report]) => `${key}\n${report}`));
        }
        if (failures.length > 0) {
          throw new Error(
            `FUZZ_SEED=${FUZZ_SEED}: ${failures.length} failure(s) on ${kind}\n\n${failures.join('\n\n')}`,
          );
        }
      },
      120_000 + FUZZ_RUNS * 40 * 200,
    );
  },
);

/** What the webhook refuses, the problem of every error, and the 5xx: the faults of one answer. */
function faultsOfAnswer(fuzzRequest: FuzzRequest, answer: Answer, webhookSecrets: string[]): Fault[] {
  const faults: Fault[] = [];
  const { operation } = fuzzRequest;
  const { status } = answer;
  let problem: { type?: unknown; title?: unknown; status?: unknown } | undefined;
  if (status === 431 && answer.contentType === '') {
    faults.push({
      kind: '431 from Node',
      detail: "Node's HTTP server refused the request line and headers (over its 16 KiB maxHeaderSize) with no problem",
    });
  } else if (status >= 400) {
    if (!answer.contentType.startsWith('application/problem+json')) {
      faults.push({ kind: `${status} not problem+json`, detail: `content-type "${answer.contentType}"` });
    }
    if (fuzzRequest.method !== 'head') {
      try {
        problem = JSON.parse(answer.text);
      } catch {
        faults.push({ kind: `${status} body not JSON`, detail: abbreviated(answer.text) });
      }
      if (problem !== undefined) {
        const { type, title } = problem;
        if (typeof type !== 'string' || typeof title !== 'string' || problem.status !== status) {
          faults.push({ kind: `${status} not a problem`, detail: 'type, title and the status are required' });
        }
      }
    }
  }
  const type = typeof problem?.type === 'string' ? problem.type : undefined;
  if (status === 500) {
    faults.push({ kind: `500 ${type ?? ''}`.trim(), detail: 'never a 500' });
  } else if (status >= 500) {
    const documented = operation.documentedStatuses.includes(status);
    const allowed = UNDOCUMENTED_5XX.some(
      (allow) => allow.status === status && allow.type === type && allow.on(operation),
    );
    if (!documented && !allowed) {
      faults.push({ kind: `${status} ${type ?? ''}`.trim(), detail: 'a 5xx the route does not document' });
    }
  }
  // A body sent in a Content-Encoding cannot be read, let alone verified: any 4xx problem refuses it (415 for an
  // encoding the server does not know). Any other delivery not signed as Stripe signs is invalid-stripe-delivery.
  const encoded = fuzzRequest.headers.some(
    ([name, value]) => name.toLowerCase() === 'content-encoding' && value.toLowerCase() !== 'identity',
  );
  if (
    isWebhook(operation) &&
    !signedAsStripeSigns(fuzzRequest, webhookSecrets) &&
    !(encoded && status >= 400 && status < 500)
  ) {
    if (status !== 400 || type !== '/problems/invalid-stripe-delivery') {
      faults.push({
        kind: `unsigned delivery answered ${status} ${type ?? ''}`.trim(),
        detail: 'a delivery not signed as Stripe signs must be 400 invalid-stripe-delivery',
      });
    }
  }
  return faults;
}

/** The exception the app's filter turned into the answer: its class and message. */
function exceptionName(exception: unknown): string {
  if (!(exception instanceof Error)) return abbreviated(String(exception));
  return abbreviated(`${exception.constructor.name}: ${exception.message}`, 300);
}

function describeAnswer(answer: Answer): string {
  return `${answer.status} ${answer.contentType} ${abbreviated(answer.text, 400)}`;
}

type Sent = Answer | { error: string } | 'refused by the client';

async function send(app: INestApplication, fuzzRequest: FuzzRequest): Promise<Sent> {
  const method = fuzzRequest.method as 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options' | 'head';
  try {
    const call = request(app.getHttpServer())
      [method](fuzzRequest.url)
      .timeout(ANSWER_TIMEOUT_MS)
      .buffer(true)
      .parse((response, done) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => done(null, text));
      });
    for (const [name, value] of fuzzRequest.headers) call.set(name, value);
    if (fuzzRequest.signing !== undefined) {
      const { secret, ageSeconds, overOtherBody } = fuzzRequest.signing;
      const body = fuzzRequest.body ?? '';
      const timestamp = Math.floor(Date.now() / 1000) - ageSeconds;
      call.set('Stripe-Signature', signedBody(overOtherBody ? `${body} ` : body, secret, timestamp).signature);
    }
    const response = fuzzRequest.body === undefined ? await call : await call.send(fuzzRequest.body);
    return {
      status: response.status,
      contentType: String(response.headers['content-type'] ?? ''),
      text: typeof response.body === 'string' ? response.body : '',
    };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && REFUSED_BY_CLIENT.has(code)) return 'refused by the client';
    return { error: `${String(error)}${typeof code === 'string' ? ` (${code})` : ''}` };
  }
}

/** Every route the Express app serves, but its catch-all of unknown routes (fuzzed on its own). */
function servedRoutes(app: INestApplication): Array<{ method: string; path: string }> {
  const express = app.getHttpAdapter().getInstance() as {
    router?: { stack: RouterLayer[] };
    _router?: { stack: RouterLayer[] };
  };
  const stack = (express.router ?? express._router)?.stack;
  if (stack === undefined) throw new Error('cannot list the routes the app serves: Express has no router');
  return stack.flatMap(({ route }) =>
    route === undefined || route.path.includes('*')
      ? []
      : Object.keys(route.methods)
          .filter((method) => method !== '_all')
          .map((method) => ({ method, path: route.path })),
  );
}

type RouterLayer = { route?: { path: string; methods: Record<string, boolean> } };

async function tablesOf(app: INestApplication): Promise<string[]> {
  const db = app.get<SqlDriver>(READ_MODEL_DB);
  const rows = await db.query<{ table_name: string }>(
    `select table_name from information_schema.tables
     where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`,
  );
  return rows.map(({ table_name }) => table_name);
}

async function snapshot(app: INestApplication, tables: readonly string[]): Promise<Snapshot> {
  await projectionsCaughtUp(app);
  const store = app.get<EventStore>(EVENT_STORE);
  const db = app.get<SqlDriver>(READ_MODEL_DB);
  const rows = await db.query<{ name: string; rows: number; digest: string }>(
    tables
      .map(
        (table) =>
          `select '${table}' as name, count(*)::int as rows,
             md5(coalesce(string_agg(to_jsonb(t)::text, E'\\n' order by to_jsonb(t)::text), '')) as digest
           from "${table}" t`,
      )
      .join(' union all '),
  );
  const [events, head] = await Promise.all([store.countEventsAfter(undefined, 1_000_000_000), store.headPosition()]);
  return { events, head, tables: Object.fromEntries(rows.map(({ name, ...row }) => [name, row])) };
}

/** What changed between two snapshots, with the events appended; undefined when nothing did. */
async function changeBetween(app: INestApplication, before: Snapshot, after: Snapshot): Promise<string | undefined> {
  const changes: string[] = [];
  if (before.events !== after.events || before.head !== after.head) {
    const appended = await collect(app.get<EventStore>(EVENT_STORE).readAll({ afterPosition: before.head }));
    const shown = appended.slice(0, 5).map((event) => `${event.type} in ${event.streamId}`);
    changes.push(`events ${before.events} -> ${after.events} (${shown.join(', ')})`);
  }
  for (const [table, { rows, digest }] of Object.entries(after.tables)) {
    const earlier = before.tables[table];
    if (earlier?.digest !== digest)
      changes.push(`table ${table}: ${earlier?.rows ?? 0} -> ${rows} rows, content changed`);
  }
  return changes.length === 0 ? undefined : changes.join('; ');
}

/** What the seeding made: ids the mostly-valid requests name, so that they reach the store's data. */
type Seeded = {
  users: string[];
  positions: string[];
  rechargeIds: string[];
  cursors: string[];
  stripeEventIds: string[];
  parkedPaymentId: string;
  paidPaymentIntentId: string;
};

/** Users with credits, a parked payment, recorded deliveries and pages to continue: through the API, as clients do. */
async function seed(testApp: TestApp): Promise<Seeded> {
  const http = () => request(testApp.app.getHttpServer());
  const admin = `Bearer ${TEST_KEYS.admin}`;
  const positions: string[] = [];
  const rechargeIds = ['fuzz-seed-recharge-1', 'fuzz-seed-recharge-2'];
  for (const rechargeId of rechargeIds) {
    const recharged = await http()
      .post('/v1/users/fuzz-rich/recharges')
      .set('Authorization', admin)
      .send({ rechargeId, credits: 1_000_000, amountPaid: 1000, currency: 'usd' })
      .expect(201);
    positions.push(recharged.body.position);
  }
  const granted = await http()
    .post('/v1/users/fuzz-poor/bonuses')
    .set('Authorization', admin)
    .set('Idempotency-Key', 'fuzz-seed-bonus')
    .send({ amount: 1, reason: 'seed' })
    .expect(201);
  positions.push(granted.body.position);
  const consumed = await http()
    .post('/v1/users/fuzz-rich/consumptions')
    .set('Authorization', admin)
    .send({ feature: 'face_swap', reference: 'fuzz-seed-upload' })
    .expect(201);
  positions.push(consumed.body.position);

  const deliver = async (event: object) => {
    const { body, signature } = signedBody(JSON.stringify(event), WEBHOOK_SECRET);
    return (
      await http().post(STRIPE_WEBHOOK_PATH).set('Stripe-Signature', signature).type('json').send(body).expect(200)
    ).body;
  };
  const paidPaymentIntentId = stripeId('pi');
  const paid = packCheckoutCompleted('fuzz-rich', paidPaymentIntentId);
  await deliver(paid);
  const parked = await deliver(paymentIntentSucceeded({ customer: stripeId('cus'), metadata: { credits: '300' } }));
  const ignored = [subscriptionUpdated(), subscriptionUpdated()];
  for (const event of ignored) await deliver(event);
  await projectionsCaughtUp(testApp.app);

  const cursors: string[] = [];
  for (const path of ['/v1/users/fuzz-rich/ledger', '/v1/recharges', '/v1/admin/stripe/events']) {
    const page = await http().get(path).query({ limit: 1 }).set('Authorization', admin).expect(200);
    if (typeof page.body.nextCursor === 'string') cursors.push(page.body.nextCursor);
  }
  return {
    users: ['fuzz-rich', 'fuzz-poor'],
    positions,
    rechargeIds,
    cursors,
    stripeEventIds: [paid.id, ...ignored.map(({ id }) => id)],
    parkedPaymentId: parked.rechargeId,
    paidPaymentIntentId,
  };
}

/** Valid values by parameter or field name (lower case): the seeded ids, fresh ones, and values the API takes. */
function validValuesOf(seeded: Seeded, testApp: TestApp): ValidValues {
  const fresh = (prefix: string) => token.map((suffix) => `${prefix}${suffix}`);
  const positions = fc.constantFrom(...seeded.positions);
  const versions = fc.constantFrom('1', '2', '3');
  return {
    userid: fc.oneof(fc.constantFrom(...seeded.users), fresh('fuzz-user-')),
    users: fc.constantFrom(seeded.users.join(','), seeded.users[0], 'fuzz-nobody'),
    eventid: fc.oneof(fc.constantFrom(...seeded.stripeEventIds), fresh('evt_fuzz')),
    paymentid: fc.oneof(fc.constant(seeded.parkedPaymentId), fresh('pi_fuzz')),
    minposition: positions,
    'x-min-position': positions,
    limit: fc.constantFrom('1', '2', '100', '1000'),
    fromversion: versions,
    atversion: versions,
    cursor: fc.constantFrom(...seeded.cursors),
    asof: fc.constantFrom(new Date().toISOString(), '2020-01-01T00:00:00Z', '2020-01-01'),
    since: fc.constantFrom('12h', '7d', '30m', '2020-01-01T00:00:00Z'),
    findings: fc.constantFrom('0', '1', '20'),
    repair: fc.constantFrom('false', 'true'),
    type: fc.constantFrom('invoice.paid', 'customer.subscription.updated', 'payment_intent.succeeded'),
    feature: fc.constantFrom(...Object.keys(testApp.config.priceList)),
    packid: fc.constantFrom(...testApp.config.stripe.catalog.packs.map(({ packId }) => packId)),
    currency: fc.constantFrom('usd', 'eur'),
    amount: fc.integer({ min: 1, max: 20 }),
    credits: fc.integer({ min: 1, max: 1000 }),
    amountpaid: fc.integer({ min: 0, max: 10_000 }),
    quantity: fc.integer({ min: 1, max: 3 }),
    rechargeid: fc.oneof(fresh('fuzz-recharge-'), fc.constantFrom(...seeded.rechargeIds)),
    reference: fc.oneof(fresh('upload-'), fc.constant('fuzz-seed-upload')),
    reason: fc.oneof(fc.constant('welcome bonus'), fresh('reason-')),
    metadata: fc.oneof(
      fc.constant({}),
      fc.constant({ model: 'v2' }),
      fresh('').map((campaign): JsonLike => ({ campaign })),
    ),
    'idempotency-key': fc.oneof(fresh('fuzz-key-'), fc.constant('fuzz-key-fixed'), fc.constant('~'.repeat(255))),
  };
}

/** Stripe events the webhook takes, for the seeded users and payments (fresh event ids): the fuzzer mutates them. */
function stripeEvents(seeded: Seeded): fc.Arbitrary<JsonLike> {
  const builders: Array<() => object> = [
    () => paymentIntentSucceeded({ customer: stripeId('cus'), metadata: { credits: '300' } }),
    () => paymentIntentSucceeded({ metadata: { userId: 'fuzz-rich', credits: '5' } }),
    () => packCheckoutCompleted('fuzz-rich'),
    () => checkoutSessionCompleted({ client_reference_id: 'fuzz-poor', metadata: { packId: 'credits_100' } }),
    () => chargeRefunded({ payment_intent: seeded.paidPaymentIntentId, amount_refunded: 100 }),
    () => disputeCreated({ payment_intent: seeded.paidPaymentIntentId }),
    () => disputeClosed({ payment_intent: seeded.paidPaymentIntentId, status: 'won' }),
    () => invoicePaid({ shape: 'current', subscriptionMetadata: { userId: 'fuzz-rich' } }),
    () => subscriptionUpdated(),
  ];
  return fc.constantFrom(...builders).map((build) => build() as JsonLike);
}

function positiveIntegerFromEnv(name: string): number | undefined {
  const value = integerFromEnv(name);
  if (value !== undefined && value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

function integerFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^-?\d+$/.test(text)) throw new Error(`${name} must be an integer, not "${text}"`);
  return Number(text);
}
