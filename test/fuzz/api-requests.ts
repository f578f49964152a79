import fc from 'fast-check';
import {
  type JsonLike,
  RawJson,
  abbreviated,
  hostileBodyText,
  hostileKey,
  hostileString,
  hostileValue,
  jsonText,
  parameterText,
  percentEncode,
  token,
} from './hostile-values';

/**
 * Requests for the API fuzzer (api-fuzz.e2e.spec.ts), drawn from the
 * operations of the OpenAPI document: mostly-valid values with hostile ones
 * mixed in, and wholly hostile ones, in the path, the query, the headers and
 * the body.
 */

export type Schema = {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  example?: unknown;
};

export type Parameter = { name: string; in: string; required?: boolean; schema?: Schema };

type DocumentedOperation = {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, unknown>;
};

export type OpenApiDocument = {
  paths?: Record<string, Record<string, DocumentedOperation | Parameter[]>>;
  components?: { schemas?: Record<string, Schema> };
};

export type Operation = {
  /** Lower case, as in the document. */
  method: string;
  /** The OpenAPI path template: `{name}` for a path parameter. */
  path: string;
  parameters: Parameter[];
  /** The JSON body's schema, its references resolved; undefined when the route takes no body. */
  body: Schema | undefined;
  /** Every status the document lists for it. */
  documentedStatuses: number[];
  /** False for a route the app serves but leaves out of the document. */
  documented: boolean;
};

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every operation of the document, with the parameters of its path item and its body schema resolved. */
export function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    const shared = (item.parameters as Parameter[] | undefined) ?? [];
    for (const method of HTTP_METHODS) {
      const operation = item[method] as DocumentedOperation | undefined;
      if (operation === undefined) continue;
      const body = operation.requestBody?.content?.['application/json']?.schema;
      operations.push({
        method,
        path,
        parameters: [...shared, ...(operation.parameters ?? [])].map((parameter) => ({
          ...parameter,
          schema: resolved(document, parameter.schema),
        })),
        body: body === undefined ? undefined : resolved(document, body),
        documentedStatuses: Object.keys(operation.responses ?? {}).map(Number),
        documented: true,
      });
    }
  }
  return operations;
}

function resolved(document: OpenApiDocument, schema: Schema | undefined, depth = 0): Schema | undefined {
  if (schema === undefined || depth > 8) return schema;
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return resolved(document, document.components?.schemas?.[name], depth + 1);
  }
  const properties =
    schema.properties &&
    Object.fromEntries(
      Object.entries(schema.properties).map(([name, property]) => [name, resolved(document, property, depth + 1)!]),
    );
  return { ...schema, properties, items: resolved(document, schema.items, depth + 1) };
}

/** A route served but not documented (`/metrics/:name` → `/metrics/{name}`): only its path parameters are known. */
export function undocumentedOperation(method: string, expressPath: string): Operation {
  const path = expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  const names = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
  return {
    method,
    path,
    parameters: names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    body: undefined,
    documentedStatuses: [],
    documented: false,
  };
}

/** What a webhook delivery is signed with; the signature holds the time, so it is made when the request is sent. */
export type Signing = { secret: string; ageSeconds: number; overOtherBody: boolean };

export type FuzzRequest = {
  operation: Operation;
  method: string;
  /** The path and the query, encoded as sent (the client may still normalise dot segments). */
  url: string;
  headers: Array<[string, string]>;
  /** The body's text, sent as it is; undefined: no body. */
  body: string | undefined;
  /** Stripe webhook only: a Stripe-Signature header made when sending. */
  signing?: Signing;
};

/** Valid values by parameter or field name (lower case), so that mostly-valid requests reach the store. */
export type ValidValues = Record<string, fc.Arbitrary<JsonLike>>;

export type FuzzContext = {
  valid: ValidValues;
  /** The API key of scope admin, and those of every other scope. */
  adminKey: string;
  otherKeys: string[];
  /** Every parameter name of the document: an unknown parameter is often another route's. */
  parameterNames: string[];
};

/** How a request is printed in fast-check's report: readable, each long value cut short. */
export function describeRequest(request: FuzzRequest): string {
  const lines = [`${request.method.toUpperCase()} ${abbreviated(request.url, 300)}`];
  for (const [name, value] of request.headers) lines.push(`  ${name}: ${abbreviated(value)}`);
  if (request.signing !== undefined) {
    const { ageSeconds, overOtherBody, secret } = request.signing;
    lines.push(
      `  Stripe-Signature: signed with ${secret}, ${ageSeconds} s old${overOtherBody ? ', over another body' : ''}`,
    );
  }
  if (request.body !== undefined) lines.push(`  body: ${abbreviated(request.body, 400)}`);
  return lines.join('\n');
}

function fuzzRequest(fields: FuzzRequest): FuzzRequest {
  return Object.assign(fields, { [fc.toStringMethod]: () => describeRequest(fields) });
}

/** Mostly `common`, sometimes `rare`. */
function mostly<T>(common: fc.Arbitrary<T>, rare: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: common, weight: oneIn - 1 }, { arbitrary: rare, weight: 1 });
}

/** A valid value of a field or parameter: a hint by its name, else from its schema (enum, example, type). */
export function validValue(name: string, schema: Schema | undefined, context: FuzzContext): fc.Arbitrary<JsonLike> {
  const hinted = context.valid[name.toLowerCase()];
  if (hinted !== undefined) return hinted;
  if (schema?.enum !== undefined && schema.enum.length > 0) return fc.constantFrom(...(schema.enum as JsonLike[]));
  if (schema?.type === 'object' || schema?.properties !== undefined) return validObject(schema, context);
  const example = schema?.example as JsonLike | undefined;
  if (typeof example === 'string')
    return fc.oneof(
      fc.constant(example),
      token.map((fresh) => `${example}-${fresh}`),
    );
  if (typeof example === 'number') {
    return fc.oneof(fc.constant(example), fc.integer({ min: 1, max: Math.max(1, Math.abs(example) * 2) }));
  }
  if (example !== undefined) return fc.constant(example);
  switch (schema?.type ?? 'string') {
    case 'number':
    case 'integer':
      return fc.integer({ min: 1, max: 100 });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(validValue('', schema?.items, context), { maxLength: 2 });
    default:
      return token;
  }
}

function validObject(schema: Schema, context: FuzzContext): fc.Arbitrary<JsonLike> {
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return fc.constant((schema.example as JsonLike | undefined) ?? {});
  const required = new Set(schema.required ?? []);
  return fc
    .tuple(
      ...properties.map(([name, property]) => {
        const value = validValue(name, property, context);
        return required.has(name) ? value : fc.option(value, { nil: undefined });
      }),
    )
    .map((values) => {
      const object: Record<string, JsonLike> = {};
      properties.forEach(([name], index) => {
        if (values[index] !== undefined) object[name] = values[index];
      });
      return object;
    });
}

type Mutation = {
  kind: 'set' | 'append' | 'delete' | 'unknown' | 'nested';
  field: number;
  value: JsonLike;
  key: string;
};

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('set', 'set', 'append', 'delete', 'unknown', 'nested'),
  field: fc.nat(),
  value: hostileValue,
  key: hostileKey,
});

function mutated(object: JsonLike, schema: Schema, mutations: readonly Mutation[]): JsonLike {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return object;
  const fields = Object.keys(schema.properties ?? {});
  const copy: Record<string, JsonLike> = { ...(object as Record<string, JsonLike>) };
  for (const { kind, field: index, value, key } of mutations) {
    const field = fields.length === 0 || kind === 'unknown' ? key : fields[index % fields.length];
    const current = copy[field];
    switch (kind) {
      case 'delete':
        delete copy[field];
        break;
      case 'append':
        copy[field] = `${current === undefined ? '' : parameterText(current)}${parameterText(value)}`;
        break;
      case 'nested':
        copy[field] =
          typeof current === 'object' && current !== null && !Array.isArray(current)
            ? { ...(current as Record<string, JsonLike>), [key]: value }
            : { [key]: value };
        break;
      case 'set':
      case 'unknown':
        copy[field] = value;
        break;
    }
  }
  return copy;
}

/** A body the schema takes, with one to three fields changed to hostile values, dropped or added; sometimes wrapped. */
function mostlyValidBody(schema: Schema, context: FuzzContext): fc.Arbitrary<string> {
  return fc
    .tuple(
      validValue('', schema, context),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      fc.constantFrom('as is', 'as is', 'as is', 'as is', 'in an array', 'a field twice'),
      fc.tuple(fc.constantFrom(...Object.keys(schema.properties ?? { extra: {} })), hostileValue),
    )
    .map(([valid, mutations, wrapping, [twice, value]]) => {
      const text = jsonText(mutated(valid, schema, mutations));
      if (wrapping === 'in an array') return `[${text}]`;
      if (wrapping === 'a field twice' && text.endsWith('}') && text !== '{}') {
        return `${text.slice(0, -1)},${JSON.stringify(twice)}:${jsonText(value)}}`;
      }
      return text;
    });
}

function bodyText(operation: Operation, context: FuzzContext): fc.Arbitrary<string | undefined> {
  if (operation.body === undefined) {
    // No body is documented: a hostile one must be ignored or refused, not crash the route.
    return mostly(fc.constant(undefined), hostileBodyText, 8);
  }
  return fc.oneof(
    { arbitrary: mostlyValidBody(operation.body, context), weight: 6 },
    { arbitrary: validValue('', operation.body, context).map(jsonText), weight: 2 },
    { arbitrary: hostileBodyText, weight: 3 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
}

type Encoded = { text: string; raw: boolean };

/** A parameter's value: valid, hostile, valid with a hostile tail; percent-encoded, or (rarely) written raw. */
function parameterValue(parameter: Parameter, context: FuzzContext): fc.Arbitrary<Encoded> {
  const valid = validValue(parameter.name, parameter.schema, context).map(parameterText);
  return fc.record({
    text: fc.oneof(
      { arbitrary: valid, weight: 7 },
      { arbitrary: hostileString, weight: 3 },
      { arbitrary: fc.tuple(valid, hostileString).map(([prefix, tail]) => prefix + tail), weight: 1 },
      { arbitrary: hostileValue.map(parameterText), weight: 1 },
    ),
    raw: mostly(fc.constant(false), fc.constant(true), 16),
  });
}

const encode = ({ text, raw }: Encoded) => (raw ? text : percentEncode(text));

type QueryEntry = { name: string; value: Encoded };

/** A query parameter: absent, once, repeated (`?limit=1&limit=2`), or in bracket form (`limit[]=1`). */
function queryEntries(parameter: Parameter, context: FuzzContext): fc.Arbitrary<QueryEntry[]> {
  const value = parameterValue(parameter, context);
  const once = (name: string) => value.map((one) => [{ name, value: one }]);
  return fc.oneof(
    { arbitrary: fc.constant<QueryEntry[]>([]), weight: 3 },
    { arbitrary: once(parameter.name), weight: 6 },
    {
      arbitrary: fc
        .array(value, { minLength: 2, maxLength: 3 })
        .map((values) => values.map((one) => ({ name: parameter.name, value: one }))),
      weight: 1,
    },
    {
      arbitrary: fc.constantFrom('[]', '[0]', '[a]', '[__proto__]').chain((suffix) => once(parameter.name + suffix)),
      weight: 1,
    },
  );
}

function unknownQueryEntries(context: FuzzContext): fc.Arbitrary<QueryEntry[]> {
  const entry = fc.record({
    name: fc.oneof(fc.constantFrom('extra', ...context.parameterNames), hostileKey),
    value: fc.record({ text: fc.oneof(hostileString, token), raw: mostly(fc.constant(false), fc.constant(true), 16) }),
  });
  return mostly(fc.constant<QueryEntry[]>([]), fc.array(entry, { minLength: 1, maxLength: 3 }), 5);
}

const HOSTILE_CONTENT_TYPES = [
  'text/plain',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=nope',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/merge-patch+json',
  'application/json, text/plain',
  '*/*',
  '',
];

function authorization(context: FuzzContext): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { arbitrary: fc.constant(`Bearer ${context.adminKey}`), weight: 10 },
    { arbitrary: fc.constantFrom(...context.otherKeys).map((key) => `Bearer ${key}`), weight: 4 },
    { arbitrary: fc.constant(undefined), weight: 1 },
    {
      arbitrary: fc.oneof(
        hostileString.map((secret) => `Bearer ${secret}`),
        hostileString,
        fc.constantFrom(
          'Bearer',
          'Basic YWRtaW46YWRtaW4=',
          `bearer ${context.adminKey}`,
          `Bearer ${context.adminKey} `,
          `Bearer  ${context.adminKey}`,
          `Bearer ${context.adminKey}x`,
          `Bearer ${context.adminKey.slice(0, -1)}`,
        ),
      ),
      weight: 1,
    },
  );
}

/** Headers every request may carry whatever the route: Accept, Content-Encoding, an unknown one. */
const incidentalHeaders: fc.Arbitrary<Array<[string, string]>> = fc
  .tuple(
    mostly(
      fc.constant(undefined),
      fc.oneof(fc.constantFrom('application/xml', 'text/csv', '*/*', 'application/problem+json'), hostileString),
      10,
    ),
    mostly(fc.constant(undefined), fc.constantFrom('gzip', 'deflate', 'br', 'x-unknown', 'identity'), 20),
    mostly(
      fc.constant(undefined),
      fc.tuple(fc.constantFrom('X-Extra', 'X-Forwarded-For', 'Cookie'), hostileString),
      10,
    ),
  )
  .map(([accept, encoding, extra]) => {
    const headers: Array<[string, string]> = [];
    if (accept !== undefined) headers.push(['Accept', accept]);
    if (encoding !== undefined) headers.push(['Content-Encoding', encoding]);
    if (extra !== undefined) headers.push(extra);
    return headers;
  });

/** A request to a documented (or served) route, from its parameters and body schema. */
export function requestArbitrary(operation: Operation, context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const inPath = operation.parameters.filter((parameter) => parameter.in === 'path');
  const inQuery = operation.parameters.filter((parameter) => parameter.in === 'query');
  const inHeaders = operation.parameters.filter((parameter) => parameter.in === 'header');
  // An Idempotency-Key (valid or hostile) sent where no route reads it must be ignored, not crash the route.
  const headerParameters =
    operation.method === 'post' && !inHeaders.some(({ name }) => name.toLowerCase() === 'idempotency-key')
      ? [...inHeaders, { name: 'Idempotency-Key', in: 'header', required: false } as Parameter]
      : inHeaders;
  return fc
    .record({
      authorization: authorization(context),
      path: fc.tuple(...inPath.map((parameter) => parameterValue(parameter, context))),
      query: fc.tuple(...inQuery.map((parameter) => queryEntries(parameter, context)), unknownQueryEntries(context)),
      headers: fc.tuple(
        ...headerParameters.map((parameter) => fc.option(parameterValue(parameter, context), { nil: undefined })),
      ),
      incidental: incidentalHeaders,
      body: bodyText(operation, context),
      contentType: mostly(fc.constant('application/json'), fc.constantFrom(...HOSTILE_CONTENT_TYPES), 12),
    })
    .map((parts) => {
      const pathValues = new Map(inPath.map((parameter, index) => [parameter.name, parts.path[index]]));
      const path = operation.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
        encode(pathValues.get(name) ?? { text: 'undocumented', raw: false }),
      );
      const query = parts.query.flat().map(({ name, value }) => `${percentEncode(name)}=${encode(value)}`);
      const headers: Array<[string, string]> = [];
      if (parts.authorization !== undefined) headers.push(['Authorization', parts.authorization]);
      headerParameters.forEach((parameter, index) => {
        const value = parts.headers[index];
        if (value !== undefined) headers.push([parameter.name, value.text]);
      });
      headers.push(...parts.incidental);
      if (parts.body !== undefined) headers.push(['Content-Type', parts.contentType]);
      return fuzzRequest({
        operation,
        method: operation.method,
        url: query.length === 0 ? path : `${path}?${query.join('&')}`,
        headers,
        body: parts.body,
      });
    });
}

/**
 * A request to a route that does not exist: hostile paths, and the documented
 * paths with a method they do not take. The catch-all must answer 404 (or 405)
 * as a problem, whatever the path holds.
 */
export function unknownRouteArbitrary(operations: Operation[], context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const documentedPaths = [...new Set(operations.filter((operation) => operation.documented).map(({ path }) => path))];
  const methods = ['get', 'post', 'put', 'patch', 'delete', 'options', 'head'];
  const hostilePath = fc
    .array(fc.record({ text: hostileString, raw: mostly(fc.constant(false), fc.constant(true), 8) }), {
      minLength: 1,
      maxLength: 4,
    })
    .map((segments) => `/${segments.map(encode).join('/')}`);
  const otherMethod = fc.constantFrom(...documentedPaths).chain((path) => {
    const taken = operations.filter((operation) => operation.path === path).map(({ method }) => method);
    const others = methods.filter((method) => !taken.includes(method) && method !== 'head');
    return fc.record({
      path: fc.constant(path.replace(/\{[^}]+\}/g, 'fuzz-user')),
      method: fc.constantFrom(...(others.length > 0 ? others : ['put'])),
    });
  });
  return fc
    .record({
      target: fc.oneof(fc.record({ path: hostilePath, method: fc.constantFrom(...methods) }), otherMethod),
      authorization: authorization(context),
      body: mostly(fc.constant(undefined), hostileBodyText, 4),
    })
    .map(({ target, authorization: auth, body }) => {
      const headers: Array<[string, string]> = auth === undefined ? [] : [['Authorization', auth]];
      if (body !== undefined) headers.push(['Content-Type', 'application/json']);
      const operation: Operation = {
        method: target.method,
        path: '(no such route)',
        parameters: [],
        body: undefined,
        documentedStatuses: [],
        documented: false,
      };
      return fuzzRequest({ operation, method: target.method, url: target.path, headers, body });
    });
}

/** Fields of a Stripe event that the ingestion reads: mutated more often than any other. */
const STRIPE_FIELDS_READ = [
  'id',
  'type',
  'created',
  'api_version',
  'livemode',
  'data',
  'data.object',
  'data.object.id',
  'data.object.object',
  'data.object.metadata',
  'data.object.metadata.userId',
  'data.object.metadata.credits',
  'data.object.metadata.packId',
  'data.object.amount',
  'data.object.amount_received',
  'data.object.amount_refunded',
  'data.object.amount_total',
  'data.object.currency',
  'data.object.customer',
  'data.object.client_reference_id',
  'data.object.payment_intent',
  'data.object.payment_status',
  'data.object.mode',
  'data.object.status',
  'data.object.charge',
  'data.object.created',
  'data.object.lines',
];

function pathsOf(value: unknown, prefix: string[] = [], paths: string[][] = []): string[][] {
  if (typeof value !== 'object' || value === null || paths.length > 500) return paths;
  for (const [key, member] of Object.entries(value)) {
    const path = [...prefix, key];
    paths.push(path);
    pathsOf(member, path, paths);
  }
  return paths;
}

/** `value` set at `path` of a copy of `document` (intermediate objects made as needed); undefined deletes. */
function setAt(document: JsonLike, path: string[], value: JsonLike | undefined): JsonLike {
  if (path.length === 0) return value ?? null;
  const [head, ...rest] = path;
  const container: Record<string, JsonLike> | JsonLike[] =
    typeof document === 'object' && document !== null && !(document instanceof RawJson)
      ? Array.isArray(document)
        ? [...document]
        : { ...(document as Record<string, JsonLike>) }
      : {};
  const current = (container as Record<string, JsonLike>)[head];
  const next = rest.length === 0 ? value : setAt(current ?? {}, rest, value);
  if (next === undefined) delete (container as Record<string, JsonLike>)[head];
  else (container as Record<string, JsonLike>)[head] = next;
  return container;
}

/**
 * A webhook delivery: a Stripe event (from `events`) with hostile fields, or
 * a hostile body; signed as Stripe signs, or not at all, or wrongly (another
 * secret, a stale time, another body, a hostile header).
 */
export function webhookRequestArbitrary(
  operation: Operation,
  events: fc.Arbitrary<JsonLike>,
  secrets: { valid: string[]; wrong: string },
): fc.Arbitrary<FuzzRequest> {
  const fieldMutation = fc.record({
    path: fc.oneof(
      fc.constantFrom(...STRIPE_FIELDS_READ).map((path) => path.split('.')),
      fc.nat(),
    ),
    remove: mostly(fc.constant(false), fc.constant(true), 5),
    value: hostileValue,
  });
  const mutatedEvent = fc
    .tuple(events, fc.array(fieldMutation, { minLength: 1, maxLength: 3 }))
    .map(([event, mutations]) =>
      mutations.reduce((changed, { path, remove, value }) => {
        const all = pathsOf(changed);
        const at = Array.isArray(path) ? path : (all[path % Math.max(1, all.length)] ?? ['extra']);
        return setAt(changed, at, remove ? undefined : value);
      }, event),
    );
  const body = fc.oneof(
    { arbitrary: mutatedEvent.map(jsonText), weight: 6 },
    { arbitrary: events.map(jsonText), weight: 1 },
    { arbitrary: hostileBodyText, weight: 2 },
  );
  const signing: fc.Arbitrary<{ signing?: Signing; header?: string }> = fc.oneof(
    {
      arbitrary: fc
        .constantFrom(...secrets.valid)
        .map((secret) => ({ signing: { secret, ageSeconds: 0, overOtherBody: false } })),
      weight: 6,
    },
    { arbitrary: fc.constant({}), weight: 1 },
    { arbitrary: hostileString.map((header) => ({ header })), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        { header: 't=1,v1=0000000000000000000000000000000000000000000000000000000000000000' },
        { header: 'v1=' },
        { header: 't=,v1=,v0=' },
        { header: ','.repeat(1000) },
      ),
      weight: 1,
    },
    { arbitrary: fc.constant({ signing: { secret: secrets.wrong, ageSeconds: 0, overOtherBody: false } }), weight: 1 },
    {
      arbitrary: fc.constant({ signing: { secret: secrets.valid[0], ageSeconds: 301, overOtherBody: false } }),
      weight: 1,
    },
    {
      arbitrary: fc.constant({ signing: { secret: secrets.valid[0], ageSeconds: 0, overOtherBody: true } }),
      weight: 1,
    },
  );
  return fc
    .record({
      body,
      signing,
      contentType: mostly(fc.constant('application/json'), fc.constantFrom(...HOSTILE_CONTENT_TYPES), 10),
      incidental: incidentalHeaders,
    })
    .map(({ body: text, signing: { signing: sign, header }, contentType, incidental }) => {
      const headers: Array<[string, string]> = [['Content-Type', contentType], ...incidental];
      if (header !== undefined) headers.push(['Stripe-Signature', header]);
      return fuzzRequest({ operation, method: 'post', url: operation.path, headers, body: text, signing: sign });
    });
}

/** Whether the webhook must take the delivery as Stripe's: signed over this body, with a configured secret, in time. */
export function signedAsStripeSigns(request: FuzzRequest, validSecrets: readonly string[]): boolean {
  const signing = request.signing;
  return (
    signing !== undefined && validSecrets.includes(signing.secret) && !signing.overOtherBody && signing.ageSeconds < 300
  );
}
