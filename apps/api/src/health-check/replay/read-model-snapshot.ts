import type { SqlExecutor } from '@libs/event-store';
import { balanceProjection, ledgerProjection, rechargesProjection, readCheckpoint } from '@projections';

/** A user's rows in the read model, reduced to what the replay is compared with. */
export type ReadModelRows = {
  balance?: { balance: number; frozenCredits: number; version: number };
  ledger?: {
    rows: number;
    lastVersion: number;
    lastBalanceAfter: number;
    /** Rows whose balance-after is not the previous row's plus its delta. */
    chainBreaks: number;
    firstChainBreakVersion: number | null;
  };
};

const { balances } = balanceProjection.tables;
const { ledger_entries } = ledgerProjection.tables;
const { recharges, recharge_streams } = rechargesProjection.tables;

/** The rows of a page of users, read in two queries. */
export async function readModelRowsOf(
  db: SqlExecutor,
  userIds: readonly string[],
): Promise<Map<string, ReadModelRows>> {
  const rows = new Map<string, ReadModelRows>(userIds.map((userId) => [userId, {}]));
  const balanceRecords = await db.query<{ user_id: string; balance: string; frozen_credits: string; version: number }>(
    `select user_id, balance::text as balance, frozen_credits::text as frozen_credits, version
     from ${balances} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const record of balanceRecords) {
    rows.get(record.user_id)!.balance = {
      balance: Number(record.balance),
      frozenCredits: Number(record.frozen_credits),
      version: record.version,
    };
  }
  for (const record of await ledgerSummariesOf(db, userIds)) {
    rows.get(record.user_id)!.ledger = {
      rows: record.rows,
      lastVersion: record.last_version,
      lastBalanceAfter: Number(record.last_balance_after),
      chainBreaks: record.chain_breaks,
      firstChainBreakVersion: record.first_chain_break_version,
    };
  }
  return rows;
}

function ledgerSummariesOf(db: SqlExecutor, userIds: readonly string[]) {
  return db.query<{
    user_id: string;
    rows: number;
    last_version: number;
    last_balance_after: string;
    chain_breaks: number;
    first_chain_break_version: number | null;
  }>(
    `select user_id, count(*)::int as rows, max(version) as last_version,
       (array_agg(balance_after order by version desc))[1]::text as last_balance_after,
       count(*) filter (where balance_after <> coalesce(previous, 0) + delta)::int as chain_breaks,
       min(version) filter (where balance_after <> coalesce(previous, 0) + delta) as first_chain_break_version
     from (select user_id, version, delta, balance_after,
             lag(balance_after) over (partition by user_id order by version) as previous
           from ${ledger_entries} where user_id = any($1::text[])) as entries
     group by user_id`,
    [userIds],
  );
}

/**
 * Users with read-model rows in a range of ids (byte order, as the store
 * lists streams) that are not among `known`: rows with no stream behind them.
 * `before` undefined means to the end.
 */
export async function usersWithRowsBetween(
  db: SqlExecutor,
  range: { after: string; upTo: string | undefined },
  known: ReadonlySet<string>,
): Promise<string[]> {
  const inRange = `user_id collate "C" > $1 and ($2::text is null or user_id collate "C" <= $2)`;
  const found = await db.query<{ user_id: string }>(
    `select user_id from ${balances} where ${inRange}
     union select user_id from ${ledger_entries} where ${inRange}
     union select user_id from ${recharges} where ${inRange}
     union select user_id from ${recharge_streams} where ${inRange}`,
    [range.after, range.upTo ?? null],
  );
  return found.map((row) => row.user_id).filter((userId) => !known.has(userId));
}

/** Where the projector stood when the check began: events after it are not expected in the read model yet. */
export async function projectorCheckpoints(db: SqlExecutor): Promise<{ balance?: string; ledger?: string }> {
  const [balance, ledger] = await Promise.all([
    readCheckpoint(db, balanceProjection.name),
    readCheckpoint(db, ledgerProjection.name),
  ]);
  return { balance: balance.position, ledger: ledger.position };
}
