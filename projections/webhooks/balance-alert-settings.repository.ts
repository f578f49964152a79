import type { SqlExecutor } from '@libs/event-store';
import { BALANCE_ALERT_SETTINGS_TABLE, BALANCE_ALERT_STATES_TABLE } from './webhooks.tables';

/** A user's own low-balance threshold, or undefined for the configured default. */
export async function lowBalanceThresholdOf(db: SqlExecutor, userId: string): Promise<number | undefined> {
  const [row] = await db.query<{ low_balance_below: string }>(
    `select low_balance_below::text as low_balance_below from ${BALANCE_ALERT_SETTINGS_TABLE} where user_id = $1`,
    [userId],
  );
  return row === undefined ? undefined : Number(row.low_balance_below);
}

/** Sets the user's threshold (null: back to the default); it applies from the user's next event on. */
export async function setLowBalanceThreshold(db: SqlExecutor, userId: string, below: number | null): Promise<void> {
  if (below === null) {
    await db.query(`delete from ${BALANCE_ALERT_SETTINGS_TABLE} where user_id = $1`, [userId]);
    return;
  }
  await db.query(
    `insert into ${BALANCE_ALERT_SETTINGS_TABLE} (user_id, low_balance_below) values ($1, $2)
     on conflict (user_id) do update set low_balance_below = excluded.low_balance_below, updated_at = now()`,
    [userId, below],
  );
}

/** Whether the user is below the low threshold, or at zero, as the alerts last decided (undefined: no events yet). */
export async function alertStateOf(
  db: SqlExecutor,
  userId: string,
): Promise<{ belowLow: boolean; depleted: boolean; version: number } | undefined> {
  const [row] = await db.query<{ below_low: boolean; depleted: boolean; version: number }>(
    `select below_low, depleted, version from ${BALANCE_ALERT_STATES_TABLE} where user_id = $1`,
    [userId],
  );
  return row === undefined ? undefined : { belowLow: row.below_low, depleted: row.depleted, version: row.version };
}
