import type { SqlExecutor } from '@libs/event-store';
import type { Projection, TableNames } from '../runtime/projection';
import { recordsetOf, safeInteger } from '../runtime/sql-values';
import { BALANCE_PROJECTION, type BalanceRow, emptyBalanceRow, evolveBalanceRow } from './balance.handlers';

type BalanceTable = 'balances';

const BALANCE_RECORDSET = recordsetOf<BalanceRow>([
  ['userId', 'user_id', 'text'],
  ['balance', 'balance', 'bigint'],
  ['frozenCredits', 'frozen_credits', 'bigint'],
  ['version', 'version', 'int'],
  ['lastPosition', 'last_position', 'bigint'],
  ['lastEventAt', 'last_event_at', 'timestamptz'],
  ['consumesCount', 'consumes_count', 'int'],
  ['rechargesCount', 'recharges_count', 'int'],
  ['bonusesCount', 'bonuses_count', 'int'],
]);

/** One row per user: balance, version, last position, counts by kind. */
export const balanceProjection: Projection<BalanceTable> = {
  name: BALANCE_PROJECTION,
  tables: { balances: 'balances' },

  createTables: ({ balances }) => `
    create table if not exists ${balances} (
      user_id text primary key,
      balance bigint not null check (balance >= -1000000000000000),
      frozen_credits bigint not null default 0 check (frozen_credits >= 0),
      version integer not null check (version > 0),
      last_position bigint not null,
      last_event_at timestamptz not null,
      consumes_count integer not null,
      recharges_count integer not null,
      bonuses_count integer not null,
      projected_at timestamptz not null default now()
    );`,

  async apply(tx, events, names) {
    const rows = await loadBalanceRows(tx, names, [...new Set(events.map((event) => event.userId))]);
    const changed = new Map<string, BalanceRow>();
    for (const event of events) {
      const before = rows.get(event.userId) ?? emptyBalanceRow(event.userId);
      const after = evolveBalanceRow(before, event);
      rows.set(event.userId, after);
      if (after !== before) changed.set(event.userId, after);
    }
    await saveBalanceRows(tx, names, [...changed.values()]);
  },

  async deleteRowsOf(tx, userIds, names) {
    await tx.query(`delete from ${names.balances} where user_id = any($1::text[])`, [userIds]);
  },
};

async function loadBalanceRows(
  tx: SqlExecutor,
  { balances }: TableNames<BalanceTable>,
  userIds: string[],
): Promise<Map<string, BalanceRow>> {
  const rows = await tx.query<BalanceRecord>(
    `select ${BALANCE_COLUMNS} from ${balances} where user_id = any($1::text[])`,
    [userIds],
  );
  return new Map(rows.map((row) => [row.user_id, toBalanceRow(row)]));
}

async function saveBalanceRows(tx: SqlExecutor, { balances }: TableNames<BalanceTable>, rows: BalanceRow[]) {
  if (rows.length === 0) return;
  const { columns, fields, record, json } = BALANCE_RECORDSET;
  await tx.query(
    `insert into ${balances} (${columns})
     select ${fields} from json_to_recordset($1::json) as batch(${record})
     on conflict (user_id) do update set
       balance = excluded.balance, frozen_credits = excluded.frozen_credits, version = excluded.version, last_position = excluded.last_position,
       last_event_at = excluded.last_event_at, consumes_count = excluded.consumes_count,
       recharges_count = excluded.recharges_count, bonuses_count = excluded.bonuses_count, projected_at = now()`,
    [json(rows)],
  );
}

/** A balance row as queries read it. */
export type BalanceRecord = {
  user_id: string;
  balance: string;
  frozen_credits: string;
  version: number;
  last_position: string;
  last_event_at: Date | string;
  consumes_count: number;
  recharges_count: number;
  bonuses_count: number;
  projected_at: Date | string;
};

export const BALANCE_COLUMNS = `user_id, balance::text as balance, frozen_credits::text as frozen_credits, version, last_position::text as last_position,
  last_event_at, consumes_count, recharges_count, bonuses_count, projected_at`;

export function toBalanceRow(record: BalanceRecord): BalanceRow {
  return {
    userId: record.user_id,
    balance: safeInteger(record.balance, 'balances.balance'),
    frozenCredits: safeInteger(record.frozen_credits, 'balances.frozen_credits'),
    version: record.version,
    lastPosition: record.last_position,
    lastEventAt: new Date(record.last_event_at).toISOString(),
    consumesCount: record.consumes_count,
    rechargesCount: record.recharges_count,
    bonusesCount: record.bonuses_count,
  };
}
