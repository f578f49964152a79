import { randomBytes } from 'node:crypto';
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@libs/config';
import checkoutSessionFixture from '../fixtures/stripe/checkout.session.json';
import { type StripeObject, type StripeTestEvent, deepMerge, stripeId } from './stripe-events';

/**
 * A STAND-IN for Stripe's API, for tests only: Stripe's API cannot be reached
 * from the machines the tests run on. A `node:http` server on 127.0.0.1 that
 * answers the few calls the real `stripe` client makes for the checkout helper,
 * the sync and the health check, in Stripe's shapes (list objects,
 * form-encoded bodies, error objects, idempotent replays, expansion), and
 * records every request so that a test can check what the client sent.
 */
export type FakeStripeApi = {
  /** `http://127.0.0.1:<port>`: the STRIPE_API_BASE of the app under test. */
  url: string;
  /** The one key it accepts (`Authorization: Bearer <key>`); any other gets Stripe's 401. */
  apiKey: string;
  /** Events Stripe would list; `created` decides their order, as on Stripe. */
  addEvents(...events: StripeTestEvent[]): void;
  /**
   * Objects Stripe holds (sessions, payment intents, invoices, charges,
   * refunds), listed and retrieved by their `object` type. Adding one with an
   * id already held replaces it: the object changed on Stripe (a charge refunded).
   */
  addObjects(...objects: StripeObject[]): void;
  /** Forgets the events, the objects, the sessions, the idempotency keys and the requests. */
  reset(): void;
  requests: RecordedRequest[];
  /** The POST /v1/checkout/sessions requests, oldest first. */
  checkoutSessionRequests(): RecordedRequest[];
  /** The POST /v1/payment_intents requests (off-session charges of saved cards), oldest first. */
  paymentIntentRequests(): RecordedRequest[];
  /** The GET /v1/events list requests (not retrievals of one event). */
  eventListRequests(): RecordedRequest[];
  /** The GET list requests of one resource path, e.g. `/v1/refunds`. */
  listRequests(path: string): RecordedRequest[];
  /** An object Stripe holds (a payment intent a top-up made, say), as it stands now. */
  object(id: string): StripeObject | undefined;
  /** A Checkout session as this server created it, to build the webhook event Stripe would send once it is paid. */
  checkoutSession(id: string): StripeObject | undefined;
  close(): Promise<void>;
};

export type RecordedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The form-encoded query or body, decoded as Stripe reads it (`a[b][0]=x` → `{ a: { b: ['x'] } }`). */
  params: StripeObject;
};

/** A Stripe error: the status and the `error` object of its body. */
type StripeErrorAnswer = { status: number; error: { type: string; message: string; code?: string; param?: string } };
/** `ran`: the request was carried out, even if it answers an error (a declined card): its key keeps the answer. */
type Answer = { status: number; body: unknown; ran?: boolean };

const LIST_LIMIT_DEFAULT = 10;
const LIST_LIMIT_MAX = 100;
/** Unit price of every catalog price (packs and plans) unless the test says otherwise: 10.00 USD. */
const UNIT_AMOUNT_DEFAULT = 1000;

export async function startFakeStripeApi(
  options: { apiKey?: string; unitAmounts?: Record<string, number> } = {},
): Promise<FakeStripeApi> {
  const apiKey = options.apiKey ?? `sk_test_${randomBytes(12).toString('hex')}`;
  const unitAmounts = options.unitAmounts ?? catalogUnitAmounts();
  const state = {
    events: [] as StripeTestEvent[],
    sessions: new Map<string, StripeObject>(),
    objects: new Map<string, StripeObject>(),
    replays: new Map<string, { params: string; answer: Answer }>(),
  };
  const requests: RecordedRequest[] = [];

  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const recorded = recordOf(request, body);
      requests.push(recorded);
      const answer = authorizationProblem(request.headers, apiKey) ?? idempotent(recorded, () => route(recorded));
      send(response, answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  /** Stripe replays the first answer to a key used again with the same parameters, and refuses other parameters. */
  function idempotent(request: RecordedRequest, answer: () => Answer): Answer {
    const key = request.headers['idempotency-key'];
    if (request.method !== 'POST' || typeof key !== 'string') return answer();
    const params = JSON.stringify(request.params);
    const earlier = state.replays.get(key);
    if (earlier === undefined) {
      const first = answer();
      // Like Stripe, a request refused before it ran (a bad parameter) leaves the key free; a declined card does not.
      if (first.status < 400 || first.ran === true) state.replays.set(key, { params, answer: first });
      return first;
    }
    if (earlier.params === params) return earlier.answer;
    return stripeError({
      status: 400,
      error: {
        type: 'idempotency_error',
        message:
          `Keys for idempotent requests can only be used with the same parameters they were first used with. ` +
          `Try using a key other than '${key}' if you meant to execute a different request.`,
      },
    });
  }

  function route(request: RecordedRequest): Answer {
    const eventId = /^\/v1\/events\/([^/]+)$/.exec(request.path)?.[1];
    if (request.method === 'GET' && request.path === '/v1/events') return listEvents(state.events, request.params);
    if (request.method === 'GET' && eventId !== undefined) return retrieveEvent(state.events, eventId);
    if (request.method === 'POST' && request.path === '/v1/checkout/sessions') {
      const answer = createCheckoutSession(request.params, unitAmounts);
      if (answer.status === 200) {
        const session = answer.body as StripeObject;
        state.sessions.set(session.id as string, session);
        state.objects.set(session.id as string, structuredClone(session));
      }
      return answer;
    }
    if (request.method === 'POST' && request.path === '/v1/payment_intents') {
      const answer = createPaymentIntent(request.params);
      const intent = (
        answer.status === 200
          ? answer.body
          : (answer.body as { error: { payment_intent?: unknown } }).error.payment_intent
      ) as StripeObject | undefined;
      if (intent !== undefined) state.objects.set(intent.id as string, structuredClone(intent));
      return answer;
    }
    const priceId = /^\/v1\/prices\/([^/]+)$/.exec(request.path)?.[1];
    if (request.method === 'GET' && priceId !== undefined) return retrievePrice(unitAmounts, priceId);
    const resource = request.method === 'GET' ? resourceOf(request.path) : undefined;
    if (resource !== undefined) {
      return resource.id === undefined
        ? listObjects(state.objects, resource, request.params)
        : retrieveObject(state.objects, resource, resource.id, request.params);
    }
    return stripeError({
      status: 404,
      error: {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${request.method}: ${request.path}).`,
      },
    });
  }

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    addEvents: (...events) => state.events.push(...events.map((event) => structuredClone(event))),
    addObjects: (...objects) =>
      objects.forEach((object) => state.objects.set(object.id as string, structuredClone(object))),
    reset: () => {
      state.events = [];
      state.sessions.clear();
      state.objects.clear();
      state.replays.clear();
      requests.length = 0;
    },
    requests,
    checkoutSessionRequests: () => requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions'),
    paymentIntentRequests: () => requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents'),
    eventListRequests: () => requests.filter((r) => r.method === 'GET' && r.path === '/v1/events'),
    listRequests: (path) => requests.filter((r) => r.method === 'GET' && r.path === path),
    checkoutSession: (id) => structuredClone(state.sessions.get(id)),
    object: (id) => structuredClone(state.objects.get(id)),
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

// --- Events ------------------------------------------------------------------

/** GET /v1/events: newest first, `created[gte|gt|lte|lt]`, `types[]`, `limit`, `starting_after`. */
function listEvents(events: StripeTestEvent[], params: StripeObject): Answer {
  const types = params.types === undefined ? undefined : (params.types as string[]);
  const matching = events.filter((event) => types === undefined || types.includes(event.type));
  return listPage(matching, params, { url: '/v1/events', noun: 'event' });
}

/**
 * One page of a Stripe list: `created[...]` filters, newest first (of one
 * second, the one added last first), `limit` (10 unless given, at most 100)
 * items after the `starting_after` cursor.
 */
function listPage<T extends StripeObject>(
  items: T[],
  params: StripeObject,
  list: { url: string; noun: string },
): Answer {
  const limit = params.limit === undefined ? LIST_LIMIT_DEFAULT : Number(params.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) {
    return invalidRequest(`Invalid integer: ${String(params.limit)}`, 'limit');
  }
  const created = (params.created ?? {}) as Record<string, string>;
  const matching = items
    .map((item, addedAt) => ({ item, addedAt }))
    .filter(({ item }) => withinCreated(Number(item.created), created))
    .sort((a, b) => Number(b.item.created) - Number(a.item.created) || b.addedAt - a.addedAt)
    .map(({ item }) => item);
  let start = 0;
  const startingAfter = params.starting_after as string | undefined;
  if (startingAfter !== undefined) {
    const cursor = matching.findIndex((item) => item.id === startingAfter);
    if (cursor === -1) return invalidRequest(`No such ${list.noun}: '${startingAfter}'`, 'starting_after');
    start = cursor + 1;
  }
  const data = matching.slice(start, start + limit);
  return { status: 200, body: { object: 'list', data, has_more: start + limit < matching.length, url: list.url } };
}

function withinCreated(created: number, range: Record<string, string>): boolean {
  const bound = (key: string) => (range[key] === undefined ? undefined : Number(range[key]));
  const [gte, gt, lte, lt] = ['gte', 'gt', 'lte', 'lt'].map(bound);
  return (
    (gte === undefined || created >= gte) &&
    (gt === undefined || created > gt) &&
    (lte === undefined || created <= lte) &&
    (lt === undefined || created < lt)
  );
}

function retrieveEvent(events: StripeTestEvent[], eventId: string): Answer {
  const event = events.find((candidate) => candidate.id === eventId);
  if (event === undefined) return invalidRequest(`No such event: '${eventId}'`, 'id', 404);
  return { status: 200, body: event };
}

// --- Objects: sessions, payment intents, invoices, charges, refunds -------------

/** The resources served from the objects a test added: their path, and the `object` type they hold. */
const RESOURCES = [
  { path: '/v1/checkout/sessions', objectType: 'checkout.session' },
  { path: '/v1/payment_intents', objectType: 'payment_intent' },
  { path: '/v1/invoices', objectType: 'invoice' },
  { path: '/v1/charges', objectType: 'charge' },
  { path: '/v1/refunds', objectType: 'refund' },
] as const;

type Resource = (typeof RESOURCES)[number] & { id: string | undefined };

/** `/v1/refunds` (a list) or `/v1/refunds/re_...` (one object). */
function resourceOf(path: string): Resource | undefined {
  for (const resource of RESOURCES) {
    if (path === resource.path) return { ...resource, id: undefined };
    const id = path.startsWith(`${resource.path}/`) ? path.slice(resource.path.length + 1) : undefined;
    if (id !== undefined && id !== '' && !id.includes('/')) return { ...resource, id };
  }
  return undefined;
}

/** GET /v1/<resource>: like the events, plus `status` (sessions, invoices) and `expand[]=data.<field>`. */
function listObjects(objects: Map<string, StripeObject>, resource: Resource, params: StripeObject): Answer {
  const status = params.status as string | undefined;
  const matching = [...objects.values()].filter(
    (object) => object.object === resource.objectType && (status === undefined || object.status === status),
  );
  const answer = listPage(matching, params, { url: resource.path, noun: resource.objectType });
  if (answer.status !== 200) return answer;
  const fields = expandedFields(params, 'data.');
  const page = answer.body as { data: StripeObject[] };
  return { status: 200, body: { ...page, data: page.data.map((object) => expanded(objects, object, fields)) } };
}

/** GET /v1/<resource>/<id>, with `expand[]=<field>`; Stripe's 404 for an id it does not hold. */
function retrieveObject(
  objects: Map<string, StripeObject>,
  resource: Resource,
  id: string,
  params: StripeObject,
): Answer {
  const object = objects.get(id);
  if (object === undefined || object.object !== resource.objectType) {
    return invalidRequest(`No such ${resource.objectType}: '${id}'`, 'id', 404, 'resource_missing');
  }
  return { status: 200, body: expanded(objects, object, expandedFields(params, '')) };
}

/** The fields `expand[]` names one level under `prefix` (`data.` in a list). */
function expandedFields(params: StripeObject, prefix: string): string[] {
  const paths = (params.expand ?? []) as string[];
  return paths.filter((path) => path.startsWith(prefix)).map((path) => path.slice(prefix.length));
}

/** A copy with each named field's id replaced by the object held under that id, as Stripe expands it. */
function expanded(objects: Map<string, StripeObject>, object: StripeObject, fields: string[]): StripeObject {
  const copy = structuredClone(object);
  for (const field of fields) {
    const id = copy[field];
    const held = typeof id === 'string' ? objects.get(id) : undefined;
    if (held !== undefined) copy[field] = structuredClone(held);
  }
  return copy;
}

// --- Checkout sessions -------------------------------------------------------

/** POST /v1/checkout/sessions: an open, unpaid session of the posted fields, priced from `unitAmounts`. */
function createCheckoutSession(params: StripeObject, unitAmounts: Record<string, number>): Answer {
  const lineItems = (params.line_items ?? []) as Array<{ price?: string; quantity?: string }>;
  let amountTotal = 0;
  for (const [index, line] of lineItems.entries()) {
    const unitAmount = line.price === undefined ? undefined : unitAmounts[line.price];
    if (unitAmount === undefined) {
      return invalidRequest(`No such price: '${line.price}'`, `line_items[${index}][price]`, 400, 'resource_missing');
    }
    amountTotal += unitAmount * Number(line.quantity ?? '1');
  }
  const id = stripeId('cs_test');
  const session = deepMerge(checkoutSessionFixture, {
    id,
    url: `https://checkout.stripe.com/c/pay/${id}`,
    created: Math.floor(Date.now() / 1000),
    mode: params.mode,
    status: 'open',
    payment_status: 'unpaid',
    // Stripe makes the payment intent when the buyer pays, not with the session.
    payment_intent: null,
    client_reference_id: params.client_reference_id ?? null,
    metadata: params.metadata ?? {},
    success_url: params.success_url ?? null,
    cancel_url: params.cancel_url ?? null,
    amount_subtotal: amountTotal,
    amount_total: amountTotal,
    currency: 'usd',
    currency_conversion: null,
  });
  return { status: 200, body: session };
}

function catalogUnitAmounts(): Record<string, number> {
  const { packs, plans } = loadConfig({}).stripe.catalog;
  return Object.fromEntries([...packs, ...plans].map(({ priceId }) => [priceId, UNIT_AMOUNT_DEFAULT]));
}

/** GET /v1/prices/{id}: a one-time price of the catalog, in USD. */
function retrievePrice(unitAmounts: Record<string, number>, priceId: string): Answer {
  const unitAmount = unitAmounts[priceId];
  if (unitAmount === undefined) {
    return stripeError({
      status: 404,
      error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such price: '${priceId}'` },
    });
  }
  return {
    status: 200,
    body: { id: priceId, object: 'price', unit_amount: unitAmount, currency: 'usd', type: 'one_time', active: true },
  };
}

// --- Payment intents -----------------------------------------------------------

/**
 * Stripe's test payment methods of the cards that fail off session: a decline, and a card that needs its holder
 * to authenticate (3-D Secure), which an off-session charge cannot ask for.
 */
export const DECLINING_PAYMENT_METHOD = 'pm_card_chargeDeclined';
export const AUTHENTICATING_PAYMENT_METHOD = 'pm_card_authenticationRequired';

/**
 * POST /v1/payment_intents, confirmed at once off session (as an automatic top-up charges a saved card): a
 * succeeded intent; or for the failing test cards, Stripe's 402 `card_error` carrying the intent it made, left
 * `requires_payment_method`. Either is kept for the idempotency key that made it.
 */
function createPaymentIntent(params: StripeObject): Answer {
  const amount = Number(params.amount);
  if (!Number.isSafeInteger(amount) || amount < 1) return invalidRequest('Invalid integer: amount', 'amount');
  const intent: StripeObject = {
    id: stripeId('pi'),
    object: 'payment_intent',
    amount,
    currency: params.currency,
    customer: params.customer ?? null,
    payment_method: params.payment_method ?? null,
    metadata: params.metadata ?? {},
    created: Math.floor(Date.now() / 1000),
    livemode: false,
  };
  const failure =
    params.payment_method === DECLINING_PAYMENT_METHOD
      ? { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' }
      : params.payment_method === AUTHENTICATING_PAYMENT_METHOD
        ? { code: 'authentication_required', message: 'This payment requires authentication.' }
        : undefined;
  if (failure === undefined) return { status: 200, body: { ...intent, status: 'succeeded', amount_received: amount } };
  const failed = {
    ...intent,
    status: 'requires_payment_method',
    last_payment_error: { type: 'card_error', ...failure },
  };
  return {
    ...stripeError({ status: 402, error: { type: 'card_error', ...failure } }),
    ran: true,
    body: {
      error: {
        type: 'card_error',
        ...failure,
        payment_intent: failed,
        request_log_url: 'https://dashboard.stripe.com/test/logs',
      },
    },
  };
}

// --- Stripe's HTTP conventions -----------------------------------------------

/** Stripe's answer to a missing or wrong key; like Stripe, it shows only the key's last four characters. */
function authorizationProblem(headers: IncomingHttpHeaders, apiKey: string): Answer | undefined {
  const given = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
  if (given === apiKey) return undefined;
  const message =
    given === undefined
      ? "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
      : `Invalid API Key provided: ${given.slice(0, 8)}${'*'.repeat(Math.max(0, given.length - 12))}${given.slice(-4)}`;
  return stripeError({ status: 401, error: { type: 'invalid_request_error', message } });
}

function invalidRequest(message: string, param: string, status = 400, code?: string): Answer {
  return stripeError({ status, error: { type: 'invalid_request_error', message, param, ...(code && { code }) } });
}

function stripeError({ status, error }: StripeErrorAnswer): Answer {
  return { status, body: { error: { ...error, request_log_url: 'https://dashboard.stripe.com/test/logs' } } };
}

function send(response: ServerResponse, answer: Answer): void {
  response.writeHead(answer.status, { 'Content-Type': 'application/json', 'Request-Id': stripeId('req') });
  response.end(JSON.stringify(answer.body));
}

function recordOf(request: IncomingMessage, body: string): RecordedRequest {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  const form = request.method === 'GET' ? url.searchParams : new URLSearchParams(body);
  return { method: request.method ?? 'GET', path: url.pathname, headers: request.headers, params: decodeForm(form) };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Stripe's form encoding, as the client writes it: `metadata[userId]=u`, `line_items[0][price]=p`. */
export function decodeForm(form: URLSearchParams): StripeObject {
  const root: StripeObject = {};
  for (const [key, value] of form) {
    const path = key.replace(/\]/g, '').split('[');
    let node = root;
    path.slice(0, -1).forEach((segment) => {
      node[segment] ??= {};
      node = node[segment] as StripeObject;
    });
    node[path[path.length - 1]] = value;
  }
  return arraysOf(root) as StripeObject;
}

/** An object keyed 0, 1, 2... is an array in Stripe's encoding. */
function arraysOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value as StripeObject).map(([key, item]) => [key, arraysOf(item)] as const);
  const indexed = entries.length > 0 && entries.every(([key], index) => key === String(index));
  return indexed ? entries.map(([, item]) => item) : Object.fromEntries(entries);
}
