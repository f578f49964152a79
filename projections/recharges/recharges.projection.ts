import type { SqlExecutor } from '@libs/event-store';
import type { Projection, TableNames } from '../runtime/projection';
import { columnsOf } from '../runtime/sql-values';
import { RECHARGES_PROJECTION, type RechargeRow, rechargeChangeOf } from './recharges.handlers';

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
  ['status', 'status', 'text'],
  ['eventId', 'event_id', 'uuid'],
  ['globalPosition', 'global_position', 'bigint'],
  ['completedAt', 'completed_at', 'timestamptz'],
] as const satisfies ReadonlyArray<readonly [keyof RechargeRow, string, string]>;

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
      status text not null,
      event_id uuid not null unique,
      global_position bigint not null unique,
      completed_at timestamptz not null,
      updated_at timestamptz not null default now(),
      primary key (user_id, recharge_id)
    );
    create index if not exists ${recharges}_status_position on ${recharges} (status, global_position);
    create table if not exists ${recharge_streams} (
      user_id text primary key,
      version integer not null check (version > 0)
    );`,

  async apply(tx, events, names) {
    const versions = await loadVersions(tx, names, [...new Set(events.map((event) => event.userId))]);
    const rows: RechargeRow[] = [];
    const advanced = new Map<string, number>();
    for (const event of events) {
      const change = rechargeChangeOf(versions.get(event.userId) ?? 0, event);
      if (!change.applies) continue;
      versions.set(event.userId, event.streamVersion);
      advanced.set(event.userId, event.streamVersion);
      if (change.row) rows.push(change.row);
    }
    await insertRecharges(tx, names, rows);
    await saveVersions(tx, names, advanced);
  },
};

async function loadVersions(tx: SqlExecutor, names: TableNames<RechargesTable>, userIds: string[]) {
  const rows = await tx.query<{ user_id: string; version: number }>(
    `select user_id, version from ${names.recharge_streams} where user_id = any($1::text[])`,
    [userIds],
  );
  return new Map(rows.map((row) => [row.user_id, row.version]));
}

async function insertRecharges(tx: SqlExecutor, names: TableNames<RechargesTable>, rows: RechargeRow[]) {
  if (rows.length === 0) return;
  const columns = RECHARGE_COLUMNS.map(([, column]) => column).join(', ');
  const arrays = RECHARGE_COLUMNS.map(([, , type], index) => `$${index + 1}::${type}[]`).join(', ');
  await tx.query(
    `insert into ${names.recharges} (${columns}) select * from unnest(${arrays})`,
    columnsOf(
      rows,
      RECHARGE_COLUMNS.map(([field]) => field),
    ),
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
