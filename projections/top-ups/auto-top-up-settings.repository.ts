import type { SqlExecutor } from '@libs/event-store';
import { AUTO_TOP_UP_SETTINGS_TABLE, SAVED_PAYMENT_METHODS_TABLE } from './top-ups.tables';

/** A user's automatic top-up, as an operator set it. */
export type AutoTopUpSettings = {
  enabled: boolean;
  /** A top-up is asked for when spendable credits cross below this. */
  belowCredits: number;
  packId: string;
  /** Top-ups asked for per UTC calendar month, failed ones included. */
  maxPerMonth: number;
  /** Minor units of the pack's currency, per UTC calendar month; absent: no limit but the count. */
  maxAmountPerMonth?: number;
  /** Absent: those of the user's last payment that saved a card. */
  stripeCustomerId?: string;
  paymentMethodId?: string;
};

export type SavedPaymentMethod = { customerId: string; paymentMethodId: string; paymentId: string; savedAt: number };

type SettingsRow = {
  enabled: boolean;
  below_credits: string;
  pack_id: string;
  max_per_month: number;
  max_amount_per_month: string | null;
  stripe_customer_id: string | null;
  payment_method_id: string | null;
};

export async function autoTopUpSettingsOf(db: SqlExecutor, userId: string): Promise<AutoTopUpSettings | undefined> {
  const [row] = await db.query<SettingsRow>(
    `select enabled, below_credits::text as below_credits, pack_id, max_per_month,
       max_amount_per_month::text as max_amount_per_month, stripe_customer_id, payment_method_id
     from ${AUTO_TOP_UP_SETTINGS_TABLE} where user_id = $1`,
    [userId],
  );
  if (row === undefined) return undefined;
  return {
    enabled: row.enabled,
    belowCredits: Number(row.below_credits),
    packId: row.pack_id,
    maxPerMonth: row.max_per_month,
    ...(row.max_amount_per_month === null ? {} : { maxAmountPerMonth: Number(row.max_amount_per_month) }),
    ...(row.stripe_customer_id === null ? {} : { stripeCustomerId: row.stripe_customer_id }),
    ...(row.payment_method_id === null ? {} : { paymentMethodId: row.payment_method_id }),
  };
}

/** Replaces the user's settings; they apply from the user's next event on. */
export async function setAutoTopUpSettings(
  db: SqlExecutor,
  userId: string,
  settings: AutoTopUpSettings,
): Promise<void> {
  await db.query(
    `insert into ${AUTO_TOP_UP_SETTINGS_TABLE} (user_id, enabled, below_credits, pack_id, max_per_month,
       max_amount_per_month, stripe_customer_id, payment_method_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (user_id) do update set enabled = excluded.enabled, below_credits = excluded.below_credits,
       pack_id = excluded.pack_id, max_per_month = excluded.max_per_month,
       max_amount_per_month = excluded.max_amount_per_month, stripe_customer_id = excluded.stripe_customer_id,
       payment_method_id = excluded.payment_method_id,
       settings_version = ${AUTO_TOP_UP_SETTINGS_TABLE}.settings_version + 1, updated_at = now()`,
    [
      userId,
      settings.enabled,
      settings.belowCredits,
      settings.packId,
      settings.maxPerMonth,
      settings.maxAmountPerMonth ?? null,
      settings.stripeCustomerId ?? null,
      settings.paymentMethodId ?? null,
    ],
  );
}

/**
 * A user's threshold as the outbox follower reads it: `armedVersion` is the save not acted on yet (the next
 * event is a crossing if it leaves spendable below), undefined when every save was.
 */
export type TopUpThreshold = { belowCredits: number; armedVersion: number | undefined };

/** The enabled thresholds of these users: who has none is never topped up. */
export async function enabledTopUpThresholds(
  db: SqlExecutor,
  userIds: readonly string[],
): Promise<Map<string, TopUpThreshold>> {
  const rows = await db.query<{ user_id: string; below_credits: string; settings_version: number; used: number }>(
    `select user_id, below_credits::text as below_credits, settings_version, armed_version_used as used
     from ${AUTO_TOP_UP_SETTINGS_TABLE} where enabled and user_id = any($1::text[])`,
    [userIds],
  );
  return new Map(
    rows.map((row) => [
      row.user_id,
      {
        belowCredits: Number(row.below_credits),
        armedVersion: row.settings_version > row.used ? row.settings_version : undefined,
      },
    ]),
  );
}

/** Notes the saves the follower acted on; a save made since stays armed. */
export async function disarmTopUpThresholds(
  tx: SqlExecutor,
  used: ReadonlyArray<{ userId: string; version: number }>,
): Promise<void> {
  if (used.length === 0) return;
  await tx.query(
    `update ${AUTO_TOP_UP_SETTINGS_TABLE} settings set armed_version_used = used.version
     from jsonb_to_recordset($1::jsonb) as used(user_id text, version int)
     where settings.user_id = used.user_id and settings.armed_version_used < used.version`,
    [JSON.stringify(used.map(({ userId, version }) => ({ user_id: userId, version })))],
  );
}

/**
 * Keeps the card a payment saved as the user's, unless a newer payment's is kept already (Stripe delivers
 * events in no set order).
 */
export async function recordSavedPaymentMethod(
  db: SqlExecutor,
  userId: string,
  saved: SavedPaymentMethod,
): Promise<void> {
  await db.query(
    `insert into ${SAVED_PAYMENT_METHODS_TABLE} (user_id, customer_id, payment_method_id, payment_id, saved_at)
     values ($1, $2, $3, $4, $5)
     on conflict (user_id) do update set customer_id = excluded.customer_id,
       payment_method_id = excluded.payment_method_id, payment_id = excluded.payment_id, saved_at = excluded.saved_at
     where ${SAVED_PAYMENT_METHODS_TABLE}.saved_at <= excluded.saved_at`,
    [userId, saved.customerId, saved.paymentMethodId, saved.paymentId, saved.savedAt],
  );
}

export async function savedPaymentMethodOf(db: SqlExecutor, userId: string): Promise<SavedPaymentMethod | undefined> {
  const [row] = await db.query<{
    customer_id: string;
    payment_method_id: string;
    payment_id: string;
    saved_at: string;
  }>(
    `select customer_id, payment_method_id, payment_id, saved_at::text as saved_at
     from ${SAVED_PAYMENT_METHODS_TABLE} where user_id = $1`,
    [userId],
  );
  if (row === undefined) return undefined;
  return {
    customerId: row.customer_id,
    paymentMethodId: row.payment_method_id,
    paymentId: row.payment_id,
    savedAt: Number(row.saved_at),
  };
}
