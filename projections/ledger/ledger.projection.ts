import type { SqlExecutor } from '@libs/event-store';
import type { Projection, TableNames } from '../runtime/projection';
import { recordsetOf, safeInteger } from '../runtime/sql-values';
import {
  EMPTY_LEDGER_HEAD,
  LEDGER_PROJECTION,
  type LedgerEntry,
  type LedgerHead,
  ledgerEntryOf,
} from './ledger.handlers';

type LedgerTable = 'ledger_entries';

const ENTRY_COLUMNS = [
  ['userId', 'user_id', 'text'],
  ['version', 'version', 'int'],
  ['eventId', 'event_id', 'uuid'],
  ['eventType', 'event_type', 'text'],
  ['delta', 'delta', 'bigint'],
  ['balanceAfter', 'balance_after', 'bigint'],
  ['feature', 'feature', 'text'],
  ['reason', 'reason', 'text'],
  ['rechargeId', 'recharge_id', 'text'],
  ['reference', 'reference', 'text'],
  ['stripeCheckoutSessionId', 'stripe_checkout_session_id', 'text'],
  ['stripePaymentIntentId', 'stripe_payment_intent_id', 'text'],
  ['stripeInvoiceId', 'stripe_invoice_id', 'text'],
  ['stripeSubscriptionId', 'stripe_subscription_id', 'text'],
  ['grantId', 'grant_id', 'text'],
  ['drawnFrom', 'drawn_from', 'text'],
  ['holdId', 'hold_id', 'text'],
  ['occurredAt', 'occurred_at', 'timestamptz'],
  ['recordedAt', 'recorded_at', 'timestamptz'],
  ['globalPosition', 'global_position', 'bigint'],
] as const satisfies ReadonlyArray<readonly [keyof LedgerEntry, string, string]>;
const ENTRY_RECORDSET = recordsetOf<LedgerEntry>(ENTRY_COLUMNS);

/** One row per credit movement, with the balance after it. */
export const ledgerProjection: Projection<LedgerTable> = {
  name: LEDGER_PROJECTION,
  tables: { ledger_entries: 'ledger_entries' },

  createTables: ({ ledger_entries }) => `
    create table if not exists ${ledger_entries} (
      user_id text not null,
      version integer not null check (version > 0),
      event_id uuid not null unique,
      event_type text not null,
      delta bigint not null,
      balance_after bigint not null check (balance_after >= -1000000000000000),
      feature text,
      reason text,
      recharge_id text,
      reference text,
      stripe_checkout_session_id text,
      stripe_payment_intent_id text,
      stripe_invoice_id text,
      stripe_subscription_id text,
      grant_id text,
      drawn_from text,
      hold_id text,
      occurred_at timestamptz not null,
      recorded_at timestamptz not null,
      global_position bigint not null,
      primary key (user_id, version)
    );`,

  async apply(tx, events, names) {
    const heads = await loadLedgerHeads(tx, names, [...new Set(events.map((event) => event.userId))]);
    const entries: LedgerEntry[] = [];
    for (const event of events) {
      const entry = ledgerEntryOf(heads.get(event.userId) ?? EMPTY_LEDGER_HEAD, event);
      if (entry === undefined) continue;
      heads.set(event.userId, { version: entry.version, balanceAfter: entry.balanceAfter });
      entries.push(entry);
    }
    await insertEntries(tx, names, entries);
  },

  async deleteRowsOf(tx, userIds, names) {
    await tx.query(`delete from ${names.ledger_entries} where user_id = any($1::text[])`, [userIds]);
  },
};

async function loadLedgerHeads(
  tx: SqlExecutor,
  { ledger_entries }: TableNames<LedgerTable>,
  userIds: string[],
): Promise<Map<string, LedgerHead>> {
  const rows = await tx.query<{ user_id: string; version: number; balance_after: string }>(
    // One backward primary-key probe per user, never a user's whole history.
    `select last.user_id, last.version, last.balance_after::text as balance_after
     from unnest($1::text[]) as users(user_id)
     cross join lateral (
       select user_id, version, balance_after from ${ledger_entries} entries
       where entries.user_id = users.user_id order by version desc limit 1) as last`,
    [userIds],
  );
  return new Map(
    rows.map((row) => [
      row.user_id,
      { version: row.version, balanceAfter: safeInteger(row.balance_after, 'ledger_entries.balance_after') },
    ]),
  );
}

async function insertEntries(tx: SqlExecutor, { ledger_entries }: TableNames<LedgerTable>, entries: LedgerEntry[]) {
  if (entries.length === 0) return;
  const { columns, fields, record, json } = ENTRY_RECORDSET;
  await tx.query(
    `insert into ${ledger_entries} (${columns}) select ${fields} from json_to_recordset($1::json) as batch(${record})`,
    [json(entries)],
  );
}
