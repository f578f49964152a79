import type { GrantCredits, HoldStatus } from '@libs/credits';
import type { SqlExecutor } from '@libs/event-store';
import {
  type ProjectedEvent,
  type Projection,
  ProjectionInvariantError,
  type TableNames,
  isNextEvent,
} from '../runtime/projection';
import { recordsetOf, safeInteger } from '../runtime/sql-values';

export const HOLDS_PROJECTION = 'holds';

type HoldsTable = 'holds' | 'hold_streams';

/** One hold of the read model: what it reserved, and how it ended. */
export type HoldRow = {
  userId: string;
  holdId: string;
  /** Stream version of the event that placed it: its order among the user's holds. */
  sequence: number;
  feature: string;
  reference: string;
  amount: number;
  /** Credits its capture consumed; 0 unless captured. */
  capturedAmount: number;
  status: HoldStatus;
  expiresAt: string;
  drawnFrom: GrantCredits[];
  placedAt: string;
  /** When it was captured, released or expired; null while active. */
  endedAt: string | null;
};

const HOLD_COLUMNS = [
  ['userId', 'user_id', 'text'],
  ['holdId', 'hold_id', 'uuid'],
  ['sequence', 'sequence', 'int'],
  ['feature', 'feature', 'text'],
  ['reference', 'reference', 'text'],
  ['amount', 'amount', 'bigint'],
  ['capturedAmount', 'captured_amount', 'bigint'],
  ['status', 'status', 'text'],
  ['expiresAt', 'expires_at', 'timestamptz'],
  ['drawnFrom', 'drawn_from', 'jsonb'],
  ['placedAt', 'placed_at', 'timestamptz'],
  ['endedAt', 'ended_at', 'timestamptz'],
] as const satisfies ReadonlyArray<readonly [keyof HoldRow, string, string]>;
const HOLD_RECORDSET = recordsetOf<HoldRow>(HOLD_COLUMNS);

export const HOLD_COLUMNS_SELECTED = `user_id, hold_id::text as hold_id, sequence, feature, reference,
  amount::text as amount, captured_amount::text as captured_amount, status, expires_at, drawn_from, placed_at,
  ended_at`;

export type HoldRecord = {
  user_id: string;
  hold_id: string;
  sequence: number;
  feature: string;
  reference: string;
  amount: string;
  captured_amount: string;
  status: HoldStatus;
  expires_at: Date | string;
  drawn_from: GrantCredits[];
  placed_at: Date | string;
  ended_at: Date | string | null;
};

export function toHoldRow(record: HoldRecord): HoldRow {
  return {
    userId: record.user_id,
    holdId: record.hold_id,
    sequence: record.sequence,
    feature: record.feature,
    reference: record.reference,
    amount: safeInteger(record.amount, 'holds.amount'),
    capturedAmount: safeInteger(record.captured_amount, 'holds.captured_amount'),
    status: record.status,
    expiresAt: new Date(record.expires_at).toISOString(),
    drawnFrom: record.drawn_from,
    placedAt: new Date(record.placed_at).toISOString(),
    endedAt: record.ended_at === null ? null : new Date(record.ended_at).toISOString(),
  };
}

/** How an event changes a hold: a new one, or how one ended; undefined for events of no hold. */
function holdChangeOf(
  event: ProjectedEvent,
): { placed: HoldRow } | { holdId: string; status: HoldStatus; capturedAmount: number } | undefined {
  switch (event.type) {
    case 'CreditsHeld': {
      const { feature, reference, amount, expiresAt, drawnFrom } = event.data;
      return {
        placed: {
          userId: event.userId,
          holdId: event.id,
          sequence: event.streamVersion,
          feature,
          reference,
          amount,
          capturedAmount: 0,
          status: 'active',
          expiresAt,
          drawnFrom,
          placedAt: event.metadata.occurredAt,
          endedAt: null,
        },
      };
    }
    case 'HoldCaptured':
      return { holdId: event.data.holdId, status: 'captured', capturedAmount: event.data.amount };
    case 'HoldReleased':
      return { holdId: event.data.holdId, status: 'released', capturedAmount: 0 };
    case 'HoldExpired':
      return { holdId: event.data.holdId, status: 'expired', capturedAmount: 0 };
    case 'RechargeCompleted':
    case 'CreditsConsumed':
    case 'BonusGranted':
    case 'RechargeRefunded':
    case 'RefundReversed':
    case 'CreditsFrozen':
    case 'CreditsUnfrozen':
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return undefined;
  }
}

/**
 * One row per hold, active and ended: what the holds list answers, and the
 * index of active holds by expiry that the expiry process follows.
 * `hold_streams` keeps the version applied per user.
 */
export const holdsProjection: Projection<HoldsTable> = {
  name: HOLDS_PROJECTION,
  tables: { holds: 'holds', hold_streams: 'hold_streams' },

  createTables: ({ holds, hold_streams }) => `
    create table if not exists ${holds} (
      user_id text not null,
      hold_id uuid not null,
      sequence integer not null check (sequence > 0),
      feature text not null,
      reference text not null,
      amount bigint not null check (amount > 0),
      captured_amount bigint not null check (captured_amount >= 0 and captured_amount <= amount),
      status text not null,
      expires_at timestamptz not null,
      drawn_from jsonb not null,
      placed_at timestamptz not null,
      ended_at timestamptz,
      primary key (user_id, hold_id)
    );
    create index if not exists ${holds}_by_sequence on ${holds} (user_id, sequence);
    create index if not exists ${holds}_due on ${holds} (expires_at) where status = 'active';
    create table if not exists ${hold_streams} (
      user_id text primary key,
      version integer not null check (version > 0)
    );`,

  async apply(tx, events, names) {
    const userIds = [...new Set(events.map((event) => event.userId))];
    const versions = await loadVersions(tx, names, userIds);
    const advanced = new Map<string, number>();
    const placed: HoldRow[] = [];
    const ended: Array<{ userId: string; holdId: string; status: HoldStatus; capturedAmount: number; at: string }> = [];
    for (const event of events) {
      if (!isNextEvent(HOLDS_PROJECTION, versions.get(event.userId) ?? 0, event)) continue;
      versions.set(event.userId, event.streamVersion);
      advanced.set(event.userId, event.streamVersion);
      const change = holdChangeOf(event);
      if (change === undefined) continue;
      if ('placed' in change) placed.push(change.placed);
      else ended.push({ userId: event.userId, ...change, at: event.metadata.occurredAt });
    }
    await insertHolds(tx, names, placed);
    await endHolds(tx, names, ended);
    await saveVersions(tx, names, advanced);
  },

  async deleteRowsOf(tx, userIds, names) {
    await tx.query(`delete from ${names.holds} where user_id = any($1::text[])`, [userIds]);
    await tx.query(`delete from ${names.hold_streams} where user_id = any($1::text[])`, [userIds]);
  },
};

async function insertHolds(tx: SqlExecutor, names: TableNames<HoldsTable>, rows: HoldRow[]) {
  if (rows.length === 0) return;
  const { columns, fields, record, json } = HOLD_RECORDSET;
  await tx.query(
    `insert into ${names.holds} (${columns}) select ${fields} from json_to_recordset($1::json) as batch(${record})`,
    [json(rows)],
  );
}

/** Ends holds placed in this batch or before: in the batch's order, so a hold placed and ended in it is found. */
async function endHolds(
  tx: SqlExecutor,
  names: TableNames<HoldsTable>,
  ended: Array<{ userId: string; holdId: string; status: HoldStatus; capturedAmount: number; at: string }>,
) {
  if (ended.length === 0) return;
  const rows = await tx.query<{ hold_id: string }>(
    `update ${names.holds} as h set status = e.status, captured_amount = e.captured, ended_at = e.at
     from json_to_recordset($1::json) as e(user_id text, hold_id uuid, status text, captured bigint, at timestamptz)
     where h.user_id = e.user_id and h.hold_id = e.hold_id and h.status = 'active'
     returning h.hold_id::text as hold_id`,
    [
      JSON.stringify(
        ended.map(({ userId, holdId, status, capturedAmount, at }) => ({
          user_id: userId,
          hold_id: holdId,
          status,
          captured: capturedAmount,
          at,
        })),
      ),
    ],
  );
  if (rows.length !== ended.length) {
    throw new ProjectionInvariantError(`holds projection: ${ended.length - rows.length} hold ends name no active hold`);
  }
}

async function loadVersions(tx: SqlExecutor, names: TableNames<HoldsTable>, userIds: string[]) {
  const rows = await tx.query<{ user_id: string; version: number }>(
    `select user_id, version from ${names.hold_streams} where user_id = any($1::text[])`,
    [userIds],
  );
  return new Map(rows.map((row) => [row.user_id, row.version]));
}

async function saveVersions(tx: SqlExecutor, names: TableNames<HoldsTable>, advanced: Map<string, number>) {
  if (advanced.size === 0) return;
  await tx.query(
    `insert into ${names.hold_streams} (user_id, version) select * from unnest($1::text[], $2::int[])
     on conflict (user_id) do update set version = excluded.version`,
    [[...advanced.keys()], [...advanced.values()]],
  );
}
