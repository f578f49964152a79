import type { SqlExecutor } from '@libs/event-store';
import type { Projection, TableNames } from '../runtime/projection';
import { recordsetOf } from '../runtime/sql-values';
import { ProjectionInvariantError, type ProjectedEvent } from '../runtime/projection';
import {
  RECHARGES_PROJECTION,
  type RechargeReversal,
  type RechargeRow,
  evolveRechargeRow,
  isRechargeReversal,
  rechargeChangeOf,
} from './recharges.handlers';
import { RECHARGE_COLUMNS_SELECTED, type RechargeRecord, toRechargeRow } from './recharges.queries';

type RechargesTable = 'recharges' | 'recharge_streams';

const RECHARGE_COLUMNS = [
  ['userId', 'user_id', 'text'],
  ['rechargeId', 'recharge_id', 'text'],
  ['credits', 'credits', 'bigint'],
  ['amountPaid', 'amount_paid', 'bigint'],
  ['currency', 'currency', 'text'],
  ['sourceKind', 'source_kind', 'text'],
  ['stripeEventId', 'stripe_event_id', 'text'],
  ['checkoutSessionId', 'checkout_session_id', 'text'],
  ['paymentIntentId', 'payment_intent_id', 'text'],
  ['invoiceId', 'invoice_id', 'text'],
  ['subscriptionId', 'subscription_id', 'text'],
  ['customerId', 'customer_id', 'text'],
  ['status', 'status', 'text'],
  ['amountRefunded', 'amount_refunded', 'bigint'],
  ['creditsTakenBack', 'credits_taken_back', 'bigint'],
  ['disputeId', 'dispute_id', 'text'],
  ['disputedAt', 'disputed_at', 'timestamptz'],
  ['eventId', 'event_id', 'uuid'],
  ['globalPosition', 'global_position', 'bigint'],
  ['completedAt', 'completed_at', 'timestamptz'],
] as const satisfies ReadonlyArray<readonly [keyof RechargeRow, string, string]>;
const RECHARGE_RECORDSET = recordsetOf<RechargeRow>(RECHARGE_COLUMNS);

/** One row per recharge; `recharge_streams` keeps the version applied per user. */
export const rechargesProjection: Projection<RechargesTable> = {
  name: RECHARGES_PROJECTION,
  tables: { recharges: 'recharges', recharge_streams: 'recharge_streams' },

  createTables: ({ recharges, recharge_streams }) => `
    create table if not exists ${recharges} (
      user_id text not null,
      recharge_id text not null,
      credits bigint not null check (credits > 0),
      amount_paid bigint not null,
      currency text not null,
      source_kind text not null,
      stripe_event_id text,
      checkout_session_id text,
      payment_intent_id text,
      invoice_id text,
      subscription_id text,
      customer_id text,
      status text not null,
      amount_refunded bigint not null default 0,
      credits_taken_back bigint not null default 0,
      dispute_id text,
      disputed_at timestamptz,
      event_id uuid not null unique,
      global_position bigint not null unique,
      completed_at timestamptz not null,
      updated_at timestamptz not null default now(),
      primary key (user_id, recharge_id)
    );
    create index if not exists ${recharges}_status_position on ${recharges} (status, global_position);
    create index if not exists ${recharges}_customer on ${recharges} (customer_id) where customer_id is not null;
    create index if not exists ${recharges}_payment_intent on ${recharges} (payment_intent_id)
      where payment_intent_id is not null;
    create table if not exists ${recharge_streams} (
      user_id text primary key,
      version integer not null check (version > 0)
    );`,

  async apply(tx, events, names) {
    const versions = await loadVersions(tx, names, [...new Set(events.map((event) => event.userId))]);
    const advanced = new Map<string, number>();
    const changes: Array<RechargeRow | RechargeReversal> = [];
    for (const event of events) {
      const change = rechargeChangeOf(versions.get(event.userId) ?? 0, event);
      if (!change.applies) continue;
      versions.set(event.userId, event.streamVersion);
      advanced.set(event.userId, event.streamVersion);
      if (change.row) changes.push(change.row);
      else if (isRechargeReversal(event)) changes.push(event);
    }
    await upsertRecharges(tx, names, await rowsAfter(tx, names, changes));
    await saveVersions(tx, names, advanced);
  },

  async deleteRowsOf(tx, userIds, names) {
    await tx.query(`delete from ${names.recharges} where user_id = any($1::text[])`, [userIds]);
    await tx.query(`delete from ${names.recharge_streams} where user_id = any($1::text[])`, [userIds]);
  },
};

/** The rows the batch leaves: new recharges, and existing ones changed by refunds and disputes, in order. */
async function rowsAfter(
  tx: SqlExecutor,
  names: TableNames<RechargesTable>,
  changes: Array<RechargeRow | RechargeReversal>,
): Promise<RechargeRow[]> {
  const reversals = changes.filter((change): change is RechargeReversal => 'type' in change);
  const rows = await loadRecharges(tx, names, reversals);
  const changed = new Map<string, RechargeRow>();
  for (const change of changes) {
    const key = rechargeKey(change.userId, 'type' in change ? change.data.rechargeId : change.rechargeId);
    const row = 'type' in change ? evolveRechargeRow(existingRow(rows, key, change), change) : change;
    rows.set(key, row);
    changed.set(key, row);
  }
  return [...changed.values()];
}

function existingRow(rows: Map<string, RechargeRow>, key: string, event: ProjectedEvent): RechargeRow {
  const row = rows.get(key);
  if (row === undefined) {
    throw new ProjectionInvariantError(`recharges projection: event ${event.id} names a recharge with no row`);
  }
  return row;
}

function rechargeKey(userId: string, rechargeId: string): string {
  return `${userId}\n${rechargeId}`;
}

async function loadRecharges(
  tx: SqlExecutor,
  names: TableNames<RechargesTable>,
  reversals: RechargeReversal[],
): Promise<Map<string, RechargeRow>> {
  if (reversals.length === 0) return new Map();
  const records = await tx.query<RechargeRecord>(
    `select ${RECHARGE_COLUMNS_SELECTED} from ${names.recharges}
     where (user_id, recharge_id) in (select * from unnest($1::text[], $2::text[]))`,
    [reversals.map((event) => event.userId), reversals.map((event) => event.data.rechargeId)],
  );
  return new Map(records.map((record) => [rechargeKey(record.user_id, record.recharge_id), toRechargeRow(record)]));
}

async function loadVersions(tx: SqlExecutor, names: TableNames<RechargesTable>, userIds: string[]) {
  const rows = await tx.query<{ user_id: string; version: number }>(
    `select user_id, version from ${names.recharge_streams} where user_id = any($1::text[])`,
    [userIds],
  );
  return new Map(rows.map((row) => [row.user_id, row.version]));
}

async function upsertRecharges(tx: SqlExecutor, names: TableNames<RechargesTable>, rows: RechargeRow[]) {
  if (rows.length === 0) return;
  const { columns, fields, record, json } = RECHARGE_RECORDSET;
  await tx.query(
    `insert into ${names.recharges} (${columns})
     select ${fields} from json_to_recordset($1::json) as batch(${record})
     on conflict (user_id, recharge_id) do update set status = excluded.status,
       amount_refunded = excluded.amount_refunded, credits_taken_back = excluded.credits_taken_back,
       dispute_id = excluded.dispute_id, disputed_at = excluded.disputed_at, updated_at = now()`,
    [json(rows)],
  );
}

async function saveVersions(tx: SqlExecutor, names: TableNames<RechargesTable>, advanced: Map<string, number>) {
  if (advanced.size === 0) return;
  await tx.query(
    `insert into ${names.recharge_streams} (user_id, version) select * from unnest($1::text[], $2::int[])
     on conflict (user_id) do update set version = excluded.version`,
    [[...advanced.keys()], [...advanced.values()]],
  );
}
