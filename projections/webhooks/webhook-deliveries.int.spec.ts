import { randomUUID } from 'node:crypto';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { describeOnPostgres, storeKindsUnderTest } from '../../test/support/test-stores';
import {
  DUE_DELIVERIES_SQL,
  type RetryPolicy,
  dueWebhookDeliveries,
  recordWebhookAttempt,
  redeliverWebhook,
} from './webhook-deliveries.repository';
import { createWebhookEndpoint, updateWebhookEndpoint } from './webhook-endpoints.repository';
import { WEBHOOK_DELIVERIES_TABLE } from './webhooks.tables';

/**
 * The outbox's queue as the dispatcher works it: what a redelivery or an endpoint enabled again gives a delivery
 * (its retries afresh), a user's later deliveries waiting behind one retried, and what asking for due work costs.
 */
const POLICY: RetryPolicy = {
  baseDelayMs: 30_000,
  maxDelayMs: 3_600_000,
  maxAgeMs: 259_200_000,
  disableAfterFailures: 100,
};
const FAILED_503 = { delivered: false as const, statusCode: 503, error: 'answered 503' };

async function endpointOf(db: ReadModelDatabase): Promise<string> {
  const { endpoint } = await createWebhookEndpoint(db.driver, {
    url: 'https://example.com/a',
    events: ['recharge.completed'],
  });
  return endpoint.id;
}

/** A delivery queued `daysAgo`, as the outbox would have. */
async function queued(
  db: ReadModelDatabase,
  endpointId: string,
  options: { userId?: string; version?: number; status?: string; attempts?: number; daysAgo?: number } = {},
): Promise<string> {
  const { userId = 'u', version = 1, status = 'pending', attempts = 0, daysAgo = 0 } = options;
  const [row] = await db.driver.query<{ id: string }>(
    `insert into ${WEBHOOK_DELIVERIES_TABLE} (endpoint_id, event_type, user_id, stream_version, ledger_event_id, data,
       status, attempts, created_at, retry_from)
     values ($1, 'recharge.completed', $2, $3, $4, '{}'::jsonb, $5, $6, now() - make_interval(days => $7),
       now() - make_interval(days => $7))
     returning id::text as id`,
    [endpointId, userId, version, randomUUID(), status, attempts, daysAgo],
  );
  return row.id;
}

async function rowOf(db: ReadModelDatabase, id: string) {
  const [row] = await db.driver.query<{ status: string; attempts: number; delay: number }>(
    `select status, attempts, extract(epoch from next_attempt_at - now())::float8 as delay
     from ${WEBHOOK_DELIVERIES_TABLE} where id = $1`,
    [id],
  );
  return row;
}

describe.each(storeKindsUnderTest())('webhook deliveries on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  it('retries a redelivered delivery afresh: not failed again by its old age, backoff from the first delay', async () => {
    const endpointId = await endpointOf(db);
    const old = await queued(db, endpointId, { status: 'failed', attempts: 20, daysAgo: 4 });
    expect((await redeliverWebhook(db.driver, old))?.status).toBe('pending');
    await recordWebhookAttempt(db.driver, { id: old, endpointId }, FAILED_503, POLICY);
    const after = await rowOf(db, old);
    expect(after).toMatchObject({ status: 'pending', attempts: 1 });
    expect(after.delay).toBeLessThanOrEqual(POLICY.baseDelayMs / 1000);
  });

  it('sends what waited while an endpoint was disabled when it is enabled again, its retries afresh', async () => {
    const endpointId = await endpointOf(db);
    const waited = await queued(db, endpointId, { attempts: 30, daysAgo: 4 });
    await db.driver.query(`update ${WEBHOOK_DELIVERIES_TABLE} set next_attempt_at = now() + interval '1 hour'`);
    await updateWebhookEndpoint(db.driver, endpointId, { status: 'enabled' });
    expect((await dueWebhookDeliveries(db.driver, endpointId, 8)).map((due) => due.id)).toEqual([waited]);
    await recordWebhookAttempt(db.driver, { id: waited, endpointId }, FAILED_503, POLICY);
    expect(await rowOf(db, waited)).toMatchObject({ status: 'pending', attempts: 1 });
  });

  it('keeps a user’s later deliveries behind one waiting for its retry, other users’ going on', async () => {
    const endpointId = await endpointOf(db);
    const head = await queued(db, endpointId, { userId: 'slow', version: 1 });
    const next = await queued(db, endpointId, { userId: 'slow', version: 2 });
    const other = await queued(db, endpointId, { userId: 'fast', version: 1 });
    expect((await dueWebhookDeliveries(db.driver, endpointId, 8)).map((due) => due.id).sort()).toEqual(
      [head, other].sort(),
    );
    await recordWebhookAttempt(db.driver, { id: head, endpointId }, FAILED_503, POLICY);
    expect((await rowOf(db, next)).delay).toBeGreaterThan(0);
    expect((await dueWebhookDeliveries(db.driver, endpointId, 8)).map((due) => due.id)).toEqual([other]);
  });
});

describeOnPostgres('webhook deliveries, what asking for due work reads, on PostgreSQL', () => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase('postgres');
  });

  afterEach(async () => {
    await db?.close();
  });

  it('reads none of a backlog waiting for its retries (a dead receiver), whatever its size', async () => {
    const endpointId = await endpointOf(db);
    await db.driver.query(
      `insert into ${WEBHOOK_DELIVERIES_TABLE}
         (endpoint_id, event_type, user_id, stream_version, ledger_event_id, data, next_attempt_at)
       select $1, 'recharge.completed', 'user-' || (n % 5000), n / 5000 + 1, gen_random_uuid(), '{}'::jsonb,
         now() + interval '1 hour'
       from generate_series(0, 49999) n`,
      [endpointId],
    );
    await db.driver.query(`analyze ${WEBHOOK_DELIVERIES_TABLE}`);
    expect(await dueWebhookDeliveries(db.driver, endpointId, 8)).toEqual([]);
    // The plan's own count of the rows it read, not a time: the machine's speed does not enter.
    const [{ 'QUERY PLAN': plan }] = await db.driver.query<{ 'QUERY PLAN': unknown }>(
      `explain (analyze, format json) ${DUE_DELIVERIES_SQL}`,
      [endpointId, 8],
    );
    expect(rowsRead(plan)).toBeLessThan(100);
  });

  it('reads a few rows per delivery asked for when a whole backlog is due, analyzed or not yet', async () => {
    const endpointId = await endpointOf(db);
    await db.driver.query(
      `insert into ${WEBHOOK_DELIVERIES_TABLE}
         (endpoint_id, event_type, user_id, stream_version, ledger_event_id, data, next_attempt_at)
       select $1, 'recharge.completed', 'user-' || (n % 500), n / 500 + 1, gen_random_uuid(), '{}'::jsonb, now()
       from generate_series(0, 19999) n`,
      [endpointId],
    );
    for (const analyzed of [false, true]) {
      if (analyzed) await db.driver.query(`analyze ${WEBHOOK_DELIVERIES_TABLE}`);
      const due = await dueWebhookDeliveries(db.driver, endpointId, 16);
      expect(new Set(due.map((delivery) => delivery.payload.userId)).size).toBe(16);
      const [{ 'QUERY PLAN': plan }] = await db.driver.query<{ 'QUERY PLAN': unknown }>(
        `explain (analyze, format json) ${DUE_DELIVERIES_SQL}`,
        [endpointId, 16],
      );
      expect(rowsRead(plan)).toBeLessThan(200);
    }
  });
});

/** Every row a plan's nodes produced or filtered out. */
function rowsRead(node: unknown): number {
  if (Array.isArray(node)) return node.reduce((sum: number, item) => sum + rowsRead(item), 0);
  if (typeof node !== 'object' || node === null) return 0;
  const record = node as Record<string, unknown>;
  const own = ['Actual Rows', 'Rows Removed by Filter', 'Rows Removed by Index Recheck']
    .map((key) => Number(record[key] ?? 0))
    .reduce((sum, value) => sum + value, 0);
  return own + rowsRead(record.Plan) + rowsRead(record.Plans);
}
