import type { SqlExecutor } from '@libs/event-store';
import { BALANCE_COLUMNS, type BalanceRecord, toBalanceRow } from './balance.projection';
import type { BalanceRow } from './balance.handlers';

export type BalanceView = BalanceRow & { projectedAt: string };

/** The user's row of the balance projection, or undefined for a user with no events yet. */
export async function findBalance(db: SqlExecutor, userId: string): Promise<BalanceView | undefined> {
  const [record] = await db.query<BalanceRecord>(`select ${BALANCE_COLUMNS} from balances where user_id = $1`, [
    userId,
  ]);
  if (record === undefined) return undefined;
  return { ...toBalanceRow(record), projectedAt: new Date(record.projected_at).toISOString() };
}
