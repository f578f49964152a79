import type { SqlMigration } from '@libs/event-store';
import { balanceProjection } from './balance/balance.projection';
import { addRolloverColumns, addHeldColumn, grantsProjection } from './grants/grants.projection';
import { holdsProjection } from './holds/holds.projection';
import { ledgerProjection } from './ledger/ledger.projection';
import { rechargesProjection } from './recharges/recharges.projection';
import { createCheckpointsTable } from './runtime/checkpoints';
import type { Projection } from './runtime/projection';
import { CREATE_STRIPE_DELIVERIES, INDEX_INVOICE_PAYMENTS } from './stripe-deliveries/stripe-deliveries.table';
import { type BalanceAlertsConfig, webhookOutboxOf } from './webhooks/webhook-outbox.projection';
import { CREATE_GRANT_EXPIRING_NOTICES } from './webhooks/grant-expiring-notices';
import { CREATE_TOP_UP_TABLES } from './top-ups/top-ups.tables';
import { CREATE_WEBHOOK_TABLES, INDEX_DUE_WEBHOOK_DELIVERIES } from './webhooks/webhooks.tables';

/** Every projection of the read model, by name. */
export const PROJECTIONS: readonly Projection[] = [
  balanceProjection,
  ledgerProjection,
  rechargesProjection,
  grantsProjection,
  holdsProjection,
];

export function projectionNamed(name: string): Projection {
  const projection = PROJECTIONS.find((candidate) => candidate.name === name);
  if (projection === undefined) {
    throw new Error(`no projection named "${name}" (known: ${PROJECTIONS.map((p) => p.name).join(', ')})`);
  }
  return projection;
}

/**
 * The read model's tables (and the Stripe delivery record, which lives beside
 * them), created after the event store's: same database, same migration record.
 */
export const READ_MODEL_MIGRATIONS: readonly SqlMigration[] = [
  {
    name: 'read-model-0001-projections',
    up: [createCheckpointsTable, ...PROJECTIONS.map((projection) => projection.createTables(projection.tables))].join(
      '\n',
    ),
  },
  {
    // Databases made before Stripe ingestion: recharges learn the paying customer (new tables have it already).
    name: 'read-model-0002-recharges-customer',
    up: `alter table recharges add column if not exists customer_id text;
      create index if not exists recharges_customer on recharges (customer_id) where customer_id is not null;
      create index if not exists recharges_payment_intent on recharges (payment_intent_id)
        where payment_intent_id is not null;`,
  },
  { name: 'read-model-0003-stripe-deliveries', up: CREATE_STRIPE_DELIVERIES },
  {
    // Refunds under the debt policy may leave a balance below zero; disputes freeze part of it; recharges show both.
    name: 'read-model-0004-refund-debt-and-frozen-credits',
    // The old checks are found by definition: a rebuilt table keeps the constraint name it was built with.
    up: `do $$
      declare old_check record;
      begin
        for old_check in
          select conname, conrelid::regclass::text as table_name from pg_constraint
          where contype = 'c' and conrelid in ('balances'::regclass, 'ledger_entries'::regclass)
            and pg_get_constraintdef(oid) in ('CHECK ((balance >= 0))', 'CHECK ((balance_after >= 0))')
        loop
          execute format('alter table %s drop constraint %I', old_check.table_name, old_check.conname);
        end loop;
      end $$;
      alter table balances add column if not exists frozen_credits bigint not null default 0
        check (frozen_credits >= 0);
      alter table recharges add column if not exists amount_refunded bigint not null default 0;
      alter table recharges add column if not exists credits_taken_back bigint not null default 0;
      alter table recharges add column if not exists dispute_id text;`,
  },
  { name: 'read-model-0005-stripe-invoice-payments', up: INDEX_INVOICE_PAYMENTS },
  {
    // When a dispute opened, for its age in the health check. Rows disputed before this get their last change,
    // the best known; `npm run projections -- rebuild recharges` gives the exact time from the events.
    name: 'read-model-0006-recharges-disputed-at',
    up: `alter table recharges add column if not exists disputed_at timestamptz;
      update recharges set disputed_at = updated_at where dispute_id is not null and disputed_at is null;`,
  },
  {
    // Grants: a new projection, so it has no checkpoint and the projector builds it from the first event.
    name: 'read-model-0007-grants',
    up: grantsProjection.createTables(grantsProjection.tables),
  },
  {
    // Ledger entries name their grant and a consumption's draws. Rows made before stay without them: a rebuild
    // of the ledger (`npm run projections -- rebuild ledger`) fills them in for consumptions recorded since.
    name: 'read-model-0008-ledger-grants',
    up: `alter table ledger_entries add column if not exists grant_id text;
      alter table ledger_entries add column if not exists drawn_from text;`,
  },
  {
    // A plan period's carry-over. Grants made before have none: the new columns' defaults are exact for them.
    name: 'read-model-0009-grants-rollover',
    up: addRolloverColumns(grantsProjection.tables.grants),
  },
  {
    // Holds reserve credits of grants. Grants made before have none held: the column's default is exact for them.
    name: 'read-model-0010-grants-held',
    up: addHeldColumn(grantsProjection.tables.grants),
  },
  {
    // Holds: a new projection, so it has no checkpoint and the projector builds it from the first event; ledger
    // entries name their hold (entries made before holds have none).
    name: 'read-model-0011-holds',
    up: `${holdsProjection.createTables(holdsProjection.tables)}
      alter table ledger_entries add column if not exists hold_id text;`,
  },
  // Outbound webhooks: endpoints, and the outbox of deliveries the `webhook-outbox` follower queues.
  { name: 'read-model-0012-webhooks', up: `${CREATE_WEBHOOK_TABLES}\n${CREATE_GRANT_EXPIRING_NOTICES}` },
  // Automatic top-up: settings, saved cards, and the crossings the `webhook-outbox` follower queues.
  { name: 'read-model-0013-top-ups', up: CREATE_TOP_UP_TABLES },
  // The dispatcher's due index, in the order it asks (see DUE_DELIVERIES_SQL).
  { name: 'read-model-0014-webhook-due-index', up: INDEX_DUE_WEBHOOK_DELIVERIES },
];

/**
 * What the projector runs: every projection, and the webhooks' outbox, which follows the feed as they do
 * but is never rebuilt (a rebuild would send the history again).
 */
export function feedFollowers(alerts: BalanceAlertsConfig): readonly Projection[] {
  return [...PROJECTIONS, webhookOutboxOf(alerts)];
}
