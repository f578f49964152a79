import type { Grant } from '@libs/credits';
import type { SqlExecutor } from '@libs/event-store';
import {
  balanceProjection,
  grantsProjection,
  holdsProjection,
  ledgerProjection,
  rechargesProjection,
  readCheckpoint,
} from '@projections';

/** What the recharges model says of one recharge, as the fold's state also knows it. */
export type RechargeFigures = {
  creditsTakenBack: number;
  amountRefunded: number;
  disputeId: string | null;
};

/**
 * What the grants model says of one grant, as the fold's state also knows it:
 * every figure of the domain's grant (the expiry in epoch milliseconds, so
 * that two spellings of one instant are equal).
 */
export type GrantFigures = Omit<Grant, 'grantId' | 'expiresAt'>;

/** What the holds model says of one hold, as the fold's state also knows it. */
export type HoldFigures = { status: string; amount: number; capturedAmount: number; expiresAtMs: number };

/** What the grants model says of a user's grants as a whole: the debt and the open disputes' freezes. */
export type GrantLedgerFigures = { debt: number; disputes: string };

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
  grants?: { version: number; ledger: GrantLedgerFigures; byId: Map<string, GrantFigures> };
  holds?: { version: number; byId: Map<string, HoldFigures> };
};

const { balances } = balanceProjection.tables;
const { ledger_entries } = ledgerProjection.tables;
const { recharges, recharge_streams } = rechargesProjection.tables;
const { grants, grant_ledgers } = grantsProjection.tables;
const { holds, hold_streams } = holdsProjection.tables;

/** The rows of a page of users, read in six queries. */
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
  await addGrants(db, userIds, rows);
  await addHolds(db, userIds, rows);
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

async function addGrants(db: SqlExecutor, userIds: readonly string[], rows: Map<string, ReadModelRows>) {
  const ledgers = await db.query<{ user_id: string; version: number; debt: string; disputes: unknown }>(
    `select user_id, version, debt::text as debt, disputes from ${grant_ledgers} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const { user_id, version, debt, disputes } of ledgers) {
    rows.get(user_id)!.grants = {
      version,
      ledger: { debt: Number(debt), disputes: disputesText(disputes) },
      byId: new Map(),
    };
  }
  const records = await db.query<{
    user_id: string;
    grant_id: string;
    sequence: number;
    category: Grant['category'];
    priority: number;
    expires_at: Date | string | null;
    recharge_id: string | null;
    granted: string;
    debt_paid: string;
    spent: string;
    expired: string;
    voided: string;
    taken_back: string;
    remaining: string;
    frozen: string;
    held: string;
    rolled_over: string;
    rollover: Grant['rollover'] | null;
    source_grant_id: string | null;
    rolled_into: string | null;
    status: Grant['status'];
  }>(
    `select user_id, grant_id::text as grant_id, sequence, category, priority, expires_at, recharge_id,
       granted::text as granted, debt_paid::text as debt_paid, spent::text as spent, expired::text as expired,
       voided::text as voided, taken_back::text as taken_back, remaining::text as remaining,
       frozen::text as frozen, held::text as held, rolled_over::text as rolled_over, rollover,
       source_grant_id::text as source_grant_id, rolled_into::text as rolled_into, status
     from ${grants} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const record of records) {
    const user = rows.get(record.user_id)!;
    // A grant row without the user's ledger row is drift too: it shows as a grants model at version 0.
    user.grants ??= { version: 0, ledger: { debt: 0, disputes: '[]' }, byId: new Map() };
    user.grants.byId.set(record.grant_id, {
      category: record.category,
      priority: record.priority,
      expiresAtMs: record.expires_at === null ? Infinity : new Date(record.expires_at).getTime(),
      sequence: record.sequence,
      rechargeId: record.recharge_id ?? undefined,
      granted: Number(record.granted),
      debtPaid: Number(record.debt_paid),
      spent: Number(record.spent),
      expired: Number(record.expired),
      voided: Number(record.voided),
      takenBack: Number(record.taken_back),
      remaining: Number(record.remaining),
      frozen: Number(record.frozen),
      held: Number(record.held),
      rolledOver: Number(record.rolled_over),
      rollover: record.rollover ?? undefined,
      sourceGrantId: record.source_grant_id ?? undefined,
      rolledInto: record.rolled_into ?? undefined,
      status: record.status,
    });
  }
}

async function addHolds(db: SqlExecutor, userIds: readonly string[], rows: Map<string, ReadModelRows>) {
  const versions = await db.query<{ user_id: string; version: number }>(
    `select user_id, version from ${hold_streams} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const { user_id, version } of versions) rows.get(user_id)!.holds = { version, byId: new Map() };
  const records = await db.query<{
    user_id: string;
    hold_id: string;
    status: string;
    amount: string;
    captured_amount: string;
    expires_at: Date | string;
  }>(
    `select user_id, hold_id::text as hold_id, status, amount::text as amount,
       captured_amount::text as captured_amount, expires_at
     from ${holds} where user_id = any($1::text[])`,
    [userIds],
  );
  for (const record of records) {
    const user = rows.get(record.user_id)!;
    // A hold row without the user's version row is drift too: it shows as a holds model at version 0.
    user.holds ??= { version: 0, byId: new Map() };
    user.holds.byId.set(record.hold_id, {
      status: record.status,
      amount: Number(record.amount),
      capturedAmount: Number(record.captured_amount),
      expiresAtMs: new Date(record.expires_at).getTime(),
    });
  }
}

/**
 * The open disputes' freezes in one spelling, whatever the column's JSON
 * reordered: `[rechargeId, disputeId, [[grantId, credits], ...]]` per dispute,
 * by recharge id. Anything not of that shape is kept as it is, and differs.
 */
export function disputesText(disputes: unknown): string {
  if (!Array.isArray(disputes)) return JSON.stringify(disputes);
  const canonical = disputes.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) return entry;
    const [rechargeId, freeze] = entry as [unknown, { disputeId?: unknown; frozenFrom?: unknown } | null];
    if (freeze === null || typeof freeze !== 'object' || !Array.isArray(freeze.frozenFrom)) return entry;
    const frozenFrom = freeze.frozenFrom.map((draw: { grantId?: unknown; credits?: unknown } | null) =>
      draw !== null && typeof draw === 'object' ? [draw.grantId, draw.credits] : draw,
    );
    return [rechargeId, freeze.disputeId, frozenFrom];
  });
  return JSON.stringify(canonical);
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
       union (select user_id from ${grant_ledgers} ${from} order by user_id limit $1)
       union (select distinct user_id from ${grants} ${from} order by user_id limit $1)
       union (select user_id from ${hold_streams} ${from} order by user_id limit $1)
       union (select distinct user_id from ${holds} ${from} order by user_id limit $1)
     ) as users order by user_id limit $1`,
    after === undefined ? [limit] : [limit, after],
  );
  return found.map((row) => row.user_id);
}

/** Where the projector stood when the check began: events after it are not expected in the read model yet. */
export async function projectorCheckpoints(
  db: SqlExecutor,
): Promise<{ balance?: string; ledger?: string; recharges?: string; grants?: string; holds?: string }> {
  const [balance, ledger, recharges, grantsModel, holdsModel] = await Promise.all(
    [balanceProjection, ledgerProjection, rechargesProjection, grantsProjection, holdsProjection].map(({ name }) =>
      readCheckpoint(db, name),
    ),
  );
  return {
    balance: balance.position,
    ledger: ledger.position,
    recharges: recharges.position,
    grants: grantsModel.position,
    holds: holdsModel.position,
  };
}
