import type { SqlExecutor } from '@libs/event-store';
import { balanceProjection, ledgerProjection, rechargesProjection, readCheckpoint } from '@projections';

/** What the recharges model says of one recharge, as the fold's state also knows it. */
export type RechargeFigures = {
  creditsTakenBack: number;
  amountRefunded: number;
  disputeId: string | null;
};

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
  recharges?: { version: number; byId: Map<string, RechargeFigures> };
};

const { balances } = balanceProjection.tables;
const { ledger_entries } = ledgerProjection.tables;
const { recharges, recharge_streams } = rechargesProjection.tables;

/** The rows of a page of users, read in four queries. */
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
  await addRecharges(db, userIds, rows);
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

async function addRecharges(db: SqlExecutor, userIds: readonly string[], rows: Map<string, ReadModelRows>) {
  const versions = await db.query<{ user_id: string; version: number }>(
    `select user_id, version from ${recharge_streams} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const { user_id, version } of versions) rows.get(user_id)!.recharges = { version, byId: new Map() };
  const records = await db.query<{
    user_id: string;
    recharge_id: string;
    credits_taken_back: string;
    amount_refunded: string;
    dispute_id: string | null;
  }>(
    `select user_id, recharge_id, credits_taken_back::text as credits_taken_back,
       amount_refunded::text as amount_refunded, dispute_id
     from ${recharges} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const record of records) {
    const user = rows.get(record.user_id)!;
    // A recharge row without the user's version row is drift too: it shows as a recharges model at version 0.
    user.recharges ??= { version: 0, byId: new Map() };
    user.recharges.byId.set(record.recharge_id, {
      creditsTakenBack: Number(record.credits_taken_back),
      amountRefunded: Number(record.amount_refunded),
      disputeId: record.dispute_id,
    });
  }
}

/**
 * One page of the users holding any read-model row, in the database's order
 * of their ids (each table read by its primary key, `limit` at most from each).
 */
export async function usersWithRows(db: SqlExecutor, after: string | undefined, limit: number): Promise<string[]> {
  // Two texts rather than `$1 is null or ...`, which would keep the planner from a range scan of the key.
  const from = after === undefined ? '' : 'where user_id > $2';
  const found = await db.query<{ user_id: string }>(
    `select user_id from (
       (select user_id from ${balances} ${from} order by user_id limit $1)
       union (select user_id from ${recharge_streams} ${from} order by user_id limit $1)
       union (select distinct user_id from ${ledger_entries} ${from} order by user_id limit $1)
     ) as users order by user_id limit $1`,
    after === undefined ? [limit] : [limit, after],
  );
  return found.map((row) => row.user_id);
}

/** Where the projector stood when the check began: events after it are not expected in the read model yet. */
export async function projectorCheckpoints(
  db: SqlExecutor,
): Promise<{ balance?: string; ledger?: string; recharges?: string }> {
  const [balance, ledger, recharges] = await Promise.all(
    [balanceProjection, ledgerProjection, rechargesProjection].map(({ name }) => readCheckpoint(db, name)),
  );
  return { balance: balance.position, ledger: ledger.position, recharges: recharges.position };
}
