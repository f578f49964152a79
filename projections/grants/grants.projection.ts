import {
  type DisputeFreeze,
  type Grant,
  type GrantCategory,
  type GrantCredits,
  type GrantLedger,
  type GrantStatus,
  type RolloverTerms,
  evolveGrantLedger,
  grantLedgerOf,
} from '@libs/credits';
import type { SqlExecutor } from '@libs/event-store';
import diffAgainst from 'sorted-btree/extended/diffAgainst';
import {
  type ProjectedEvent,
  type Projection,
  ProjectionInvariantError,
  type TableNames,
  isNextEvent,
} from '../runtime/projection';
import { recordsetOf, safeInteger } from '../runtime/sql-values';

export const GRANTS_PROJECTION = 'grants';

type GrantsTable = 'grants' | 'grant_ledgers';

/** One grant of one user, as the read model keeps it: the domain's grant, and when it was made and closed. */
export type GrantRow = Omit<Grant, 'expiresAtMs'> & {
  userId: string;
  /** When the credit-in was decided. */
  grantedAt: string;
  /** When its expiry or void was decided; null while active. */
  closedAt: string | null;
};

const GRANT_COLUMNS = [
  ['userId', 'user_id', 'text'],
  ['grantId', 'grant_id', 'uuid'],
  ['sequence', 'sequence', 'int'],
  ['category', 'category', 'text'],
  ['priority', 'priority', 'int'],
  ['expiresAt', 'expires_at', 'timestamptz'],
  ['rechargeId', 'recharge_id', 'text'],
  ['granted', 'granted', 'bigint'],
  ['debtPaid', 'debt_paid', 'bigint'],
  ['spent', 'spent', 'bigint'],
  ['expired', 'expired', 'bigint'],
  ['voided', 'voided', 'bigint'],
  ['takenBack', 'taken_back', 'bigint'],
  ['remaining', 'remaining', 'bigint'],
  ['frozen', 'frozen', 'bigint'],
  ['held', 'held', 'bigint'],
  ['rolledOver', 'rolled_over', 'bigint'],
  ['rollover', 'rollover', 'jsonb'],
  ['sourceGrantId', 'source_grant_id', 'uuid'],
  ['rolledInto', 'rolled_into', 'uuid'],
  ['status', 'status', 'text'],
  ['grantedAt', 'granted_at', 'timestamptz'],
  ['closedAt', 'closed_at', 'timestamptz'],
] as const satisfies ReadonlyArray<readonly [keyof GrantRow, string, string]>;
const GRANT_RECORDSET = recordsetOf<GrantRow>(GRANT_COLUMNS);

export const GRANT_COLUMNS_SELECTED = `user_id, grant_id::text as grant_id, sequence, category, priority, expires_at,
  recharge_id, granted::text as granted, debt_paid::text as debt_paid, spent::text as spent,
  expired::text as expired, voided::text as voided, taken_back::text as taken_back, remaining::text as remaining,
  frozen::text as frozen, held::text as held, rolled_over::text as rolled_over, rollover, source_grant_id::text as source_grant_id,
  rolled_into::text as rolled_into, status, granted_at, closed_at`;

/** A plan period's carry-over: its terms, what it carried and where (read-model-0009 adds them to older tables). */
const ROLLOVER_COLUMNS = `rolled_over bigint not null default 0, rollover jsonb, source_grant_id uuid, rolled_into uuid`;

/** Credits of a grant reserved by active holds (read-model-0010 adds it to older tables). */
const HELD_COLUMN = `held bigint not null default 0 check (held >= 0)`;

/** The grants a ledger is loaded with: those holding credits, every recharge's, carried and held ones. */
const LOADED_GRANTS = `remaining > 0 or recharge_id is not null or source_grant_id is not null or held > 0`;

/** Adds the held credits' column to a grants table made before holds, and the held grants to the index loaded. */
export function addHeldColumn(grants: string): string {
  return [
    `alter table ${grants} add column if not exists ${HELD_COLUMN};`,
    `drop index if exists ${grants}_holding_or_carried;`,
    `create index if not exists ${grants}_loaded on ${grants} (user_id) where ${LOADED_GRANTS};`,
  ].join('\n');
}

/** Adds the carry-over's columns to a grants table made before them, and the carried grants to the index loaded. */
export function addRolloverColumns(grants: string): string {
  const columns = ROLLOVER_COLUMNS.split(', ').map(
    (column) => `alter table ${grants} add column if not exists ${column};`,
  );
  return [
    ...columns,
    `drop index if exists ${grants}_holding;`,
    `create index if not exists ${grants}_holding_or_carried on ${grants} (user_id)
      where remaining > 0 or recharge_id is not null or source_grant_id is not null;`,
  ].join('\n');
}

/**
 * One row per grant, and per user the debt and open disputes (`grant_ledgers`):
 * with the grants that hold credits, enough to apply the next events with the
 * domain's own `evolveGrantLedger`, so the read model and the fold can never
 * place credits differently.
 */
export const grantsProjection: Projection<GrantsTable> = {
  name: GRANTS_PROJECTION,
  tables: { grants: 'grants', grant_ledgers: 'grant_ledgers' },

  createTables: ({ grants, grant_ledgers }) => `
    create table if not exists ${grants} (
      user_id text not null,
      grant_id uuid not null,
      sequence integer not null check (sequence > 0),
      category text not null,
      priority integer not null,
      expires_at timestamptz,
      recharge_id text,
      granted bigint not null,
      debt_paid bigint not null,
      spent bigint not null,
      expired bigint not null,
      voided bigint not null,
      taken_back bigint not null,
      remaining bigint not null check (remaining >= 0),
      frozen bigint not null check (frozen >= 0 and frozen <= remaining),
      ${ROLLOVER_COLUMNS},
      ${HELD_COLUMN},
      status text not null,
      granted_at timestamptz not null,
      closed_at timestamptz,
      primary key (user_id, grant_id)
    );
    create index if not exists ${grants}_by_sequence on ${grants} (user_id, sequence);
    create index if not exists ${grants}_loaded on ${grants} (user_id) where ${LOADED_GRANTS};
    create index if not exists ${grants}_due on ${grants} (expires_at)
      where status = 'active' and remaining > 0 and frozen = 0;
    create table if not exists ${grant_ledgers} (
      user_id text primary key,
      version integer not null check (version > 0),
      debt bigint not null check (debt >= 0),
      disputes jsonb not null default '[]'
    );`,

  async apply(tx, events, names) {
    const userIds = [...new Set(events.map((event) => event.userId))];
    const loaded = await loadLedgers(tx, names, userIds, grantsNamedBy(events));
    const changed = new Map<string, GrantRow>();
    for (const event of events) {
      const user = loaded.get(event.userId) ?? newUserLedger();
      loaded.set(event.userId, user);
      if (!isNextEvent(GRANTS_PROJECTION, user.version, event)) continue;
      const before = user.ledger;
      user.ledger = ledgerAfter(before, event);
      user.version = event.streamVersion;
      for (const row of rowsChangedBy(before, user, event)) changed.set(`${row.userId}\n${row.grantId}`, row);
    }
    await upsertGrants(tx, names, [...changed.values()]);
    await saveLedgers(tx, names, loaded);
  },

  async deleteRowsOf(tx, userIds, names) {
    await tx.query(`delete from ${names.grants} where user_id = any($1::text[])`, [userIds]);
    await tx.query(`delete from ${names.grant_ledgers} where user_id = any($1::text[])`, [userIds]);
  },
};

type UserLedger = { version: number; ledger: GrantLedger; rows: Map<string, GrantRow>; touched: boolean };

function newUserLedger(): UserLedger {
  return { version: 0, ledger: grantLedgerOf([], 0, []), rows: new Map(), touched: false };
}

function ledgerAfter(ledger: GrantLedger, event: ProjectedEvent): GrantLedger {
  try {
    return evolveGrantLedger(ledger, event);
  } catch (error) {
    throw new ProjectionInvariantError(
      `grants projection: user ${event.userId} at version ${event.streamVersion}: ${(error as Error).message}`,
    );
  }
}

/** The rows of the grants an event changed, with when it was made or closed. */
function rowsChangedBy(before: GrantLedger, user: UserLedger, event: ProjectedEvent): GrantRow[] {
  user.touched = true;
  const changed: Grant[] = [];
  // The trees share what the event did not change: the diff visits only the rest.
  diffAgainst(
    user.ledger.byId,
    before.byId,
    (_, grant) => void changed.push(grant),
    undefined,
    (_, grant) => void changed.push(grant),
  );
  const rows: GrantRow[] = [];
  for (const grant of changed) {
    const previous = user.rows.get(grant.grantId);
    const row: GrantRow = {
      ...rowFieldsOf(grant),
      userId: event.userId,
      grantedAt: previous?.grantedAt ?? event.metadata.occurredAt,
      // Closed by the first event that closed it: an expiry, a void, a carry-over, a won dispute's lapse.
      closedAt: previous?.closedAt ?? (grant.status === 'active' ? null : event.metadata.occurredAt),
    };
    user.rows.set(grant.grantId, row);
    rows.push(row);
  }
  return rows;
}

/** The grants the events name: a consumption's draws, an expiry, a void. */
function grantsNamedBy(events: readonly ProjectedEvent[]): string[] {
  const ids = new Set<string>();
  for (const event of events) {
    for (const { grantId } of grantCreditsNamedBy(event)) ids.add(grantId);
    if (event.type === 'CreditsExpired' || event.type === 'GrantVoided' || event.type === 'CreditsRolledOver') {
      ids.add(event.data.grantId);
    }
  }
  return [...ids];
}

/** The grants an event moves credits of, by name: a closed one (a give-back's) is not among those loaded. */
function grantCreditsNamedBy(event: ProjectedEvent): readonly GrantCredits[] {
  switch (event.type) {
    case 'CreditsConsumed':
      return event.data.drawnFrom ?? [];
    case 'RechargeRefunded':
      return event.data.takenFrom ?? [];
    case 'RefundReversed':
      return [...(event.data.givenTo ?? []), ...(event.data.debtPaymentsUndone ?? [])];
    case 'CreditsUnfrozen':
      return event.data.expired;
    case 'HoldCaptured':
    case 'HoldReleased':
    case 'HoldExpired': {
      const { debtPaidFrom, returnedTo, lapsed, expired } = event.data;
      const captured = event.type === 'HoldCaptured' ? event.data.capturedFrom : [];
      return [...captured, ...debtPaidFrom, ...returnedTo, ...lapsed, ...expired];
    }
    case 'CreditsHeld':
      return event.data.drawnFrom;
    case 'RechargeCompleted':
    case 'BonusGranted':
    case 'CreditsFrozen':
    case 'CreditsExpired':
    case 'CreditsRolledOver':
    case 'GrantVoided':
    case 'TopUpRequested':
    case 'TopUpSucceeded':
    case 'TopUpFailed':
      return [];
  }
}

type LedgerRecord = { user_id: string; version: number; debt: string; disputes: Array<[string, DisputeFreeze]> };

export type GrantRecord = {
  user_id: string;
  grant_id: string;
  sequence: number;
  category: GrantCategory;
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
  rollover: RolloverTerms | null;
  source_grant_id: string | null;
  rolled_into: string | null;
  status: GrantStatus;
  granted_at: Date | string;
  closed_at: Date | string | null;
};

/**
 * Each user's ledger as the read model holds it: the grants with credits left
 * or frozen, every recharge's grant and carry-over (refunds and disputes find
 * them by recharge), and the grants the events name.
 */
async function loadLedgers(
  tx: SqlExecutor,
  names: TableNames<GrantsTable>,
  userIds: string[],
  namedGrantIds: string[],
): Promise<Map<string, UserLedger>> {
  const ledgers = await tx.query<LedgerRecord>(
    `select user_id, version, debt::text as debt, disputes from ${names.grant_ledgers} where user_id = any($1::text[])`,
    [userIds],
  );
  // An open dispute may name a grant with nothing left (a refund recorded before grants took its frozen credits):
  // its closing releases it, so it is loaded too.
  const frozenGrantIds = ledgers.flatMap((ledger) =>
    ledger.disputes.flatMap(([, freeze]) => freeze.frozenFrom.map((frozen) => frozen.grantId)),
  );
  const grants = await tx.query<GrantRecord>(
    `select ${GRANT_COLUMNS_SELECTED} from ${names.grants}
     where user_id = any($1::text[])
       and (${LOADED_GRANTS} or grant_id = any($2::uuid[]))`,
    [userIds, [...namedGrantIds, ...frozenGrantIds]],
  );
  const rowsByUser = new Map<string, GrantRow[]>();
  for (const record of grants) {
    const rows = rowsByUser.get(record.user_id) ?? [];
    rows.push(toGrantRow(record));
    rowsByUser.set(record.user_id, rows);
  }
  const loaded = new Map<string, UserLedger>();
  for (const record of ledgers) {
    const rows = rowsByUser.get(record.user_id) ?? [];
    const debt = safeInteger(record.debt, 'grant_ledgers.debt');
    loaded.set(record.user_id, {
      version: record.version,
      ledger: grantLedgerOf(rows.map(grantOfRow), debt, record.disputes),
      rows: new Map(rows.map((row) => [row.grantId, row])),
      touched: false,
    });
  }
  return loaded;
}

export function toGrantRow(record: GrantRecord): GrantRow {
  const count = (value: string, column: string) => safeInteger(value, `grants.${column}`);
  return {
    userId: record.user_id,
    grantId: record.grant_id,
    sequence: record.sequence,
    category: record.category,
    priority: record.priority,
    expiresAt: record.expires_at === null ? undefined : new Date(record.expires_at).toISOString(),
    rechargeId: record.recharge_id ?? undefined,
    granted: count(record.granted, 'granted'),
    debtPaid: count(record.debt_paid, 'debt_paid'),
    spent: count(record.spent, 'spent'),
    expired: count(record.expired, 'expired'),
    voided: count(record.voided, 'voided'),
    takenBack: count(record.taken_back, 'taken_back'),
    remaining: count(record.remaining, 'remaining'),
    frozen: count(record.frozen, 'frozen'),
    held: count(record.held, 'held'),
    rolledOver: count(record.rolled_over, 'rolled_over'),
    rollover: record.rollover ?? undefined,
    sourceGrantId: record.source_grant_id ?? undefined,
    rolledInto: record.rolled_into ?? undefined,
    status: record.status,
    grantedAt: new Date(record.granted_at).toISOString(),
    closedAt: record.closed_at === null ? null : new Date(record.closed_at).toISOString(),
  };
}

/** The domain's fields of a grant, as a row keeps them (the row adds its user and times). */
function rowFieldsOf(grant: Grant): Omit<GrantRow, 'userId' | 'grantedAt' | 'closedAt'> {
  const { grantId, category, priority, expiresAt, sequence, rechargeId, granted } = grant;
  const { debtPaid, spent, expired, voided, takenBack, remaining, frozen, held, status } = grant;
  const { rolledOver, rollover, sourceGrantId, rolledInto } = grant;
  return {
    grantId,
    category,
    priority,
    expiresAt,
    sequence,
    rechargeId,
    granted,
    debtPaid,
    spent,
    expired,
    voided,
    takenBack,
    remaining,
    frozen,
    held,
    rolledOver,
    rollover,
    sourceGrantId,
    rolledInto,
    status,
  };
}

function grantOfRow(row: GrantRow): Grant {
  const expiresAtMs = row.expiresAt === undefined ? Infinity : Date.parse(row.expiresAt);
  return { ...rowFieldsOf({ ...row, expiresAtMs }), expiresAtMs };
}

async function upsertGrants(tx: SqlExecutor, names: TableNames<GrantsTable>, rows: GrantRow[]) {
  if (rows.length === 0) return;
  const { columns, fields, record, json } = GRANT_RECORDSET;
  await tx.query(
    `insert into ${names.grants} (${columns})
     select ${fields} from json_to_recordset($1::json) as batch(${record})
     on conflict (user_id, grant_id) do update set debt_paid = excluded.debt_paid, spent = excluded.spent,
       expired = excluded.expired, voided = excluded.voided, taken_back = excluded.taken_back,
       remaining = excluded.remaining, frozen = excluded.frozen, held = excluded.held, status = excluded.status,
       rolled_over = excluded.rolled_over, rolled_into = excluded.rolled_into, closed_at = excluded.closed_at`,
    [json(rows)],
  );
}

async function saveLedgers(tx: SqlExecutor, names: TableNames<GrantsTable>, loaded: Map<string, UserLedger>) {
  const touched = [...loaded].filter(([, user]) => user.touched);
  if (touched.length === 0) return;
  await tx.query(
    `insert into ${names.grant_ledgers} (user_id, version, debt, disputes)
     select user_id, version, debt, disputes
     from json_to_recordset($1::json) as batch(user_id text, version int, debt bigint, disputes jsonb)
     on conflict (user_id) do update set version = excluded.version, debt = excluded.debt,
       disputes = excluded.disputes`,
    [
      JSON.stringify(
        touched.map(([userId, { version, ledger }]) => ({
          user_id: userId,
          version,
          debt: ledger.debt,
          disputes: [...ledger.disputes.entries()],
        })),
      ),
    ],
  );
}
