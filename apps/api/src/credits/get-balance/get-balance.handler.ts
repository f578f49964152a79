import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import { BALANCE_PROJECTION, GRANTS_PROJECTION, READ_MODEL_DB, findBalance, summarizeGrants } from '@projections';
import { ReadYourWrites } from '../read-your-writes';
import { type BalanceView, GetBalanceQuery } from './get-balance.query';

/**
 * Reads the balance and grants projections, after waiting for `minPosition`
 * when asked. What may be spent, by category and expiring is reckoned at the
 * time of the query: grants past their expiry are left out, recorded or not.
 */
@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery> {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  async execute({ userId, minPosition }: GetBalanceQuery): Promise<BalanceView> {
    await this.readYourWrites.waitFor(BALANCE_PROJECTION, minPosition);
    await this.readYourWrites.waitFor(GRANTS_PROJECTION, minPosition);
    const [row, grants] = await Promise.all([
      findBalance(this.db, userId),
      summarizeGrants(this.db, userId, new Date()),
    ]);
    const { byCategory, expiring, heldCredits } = grants;
    if (row === undefined) {
      return {
        userId,
        balance: 0,
        frozenCredits: 0,
        heldCredits,
        spendable: 0,
        byCategory,
        expiring,
        version: 0,
        position: null,
        projectedAt: null,
      };
    }
    // Never more than the balance less what disputes froze and holds reserve, as decisions reckon it.
    const unreserved = row.balance - row.frozenCredits - heldCredits;
    const spendable = Math.max(0, Math.min(unreserved, grants.spendableBeforeFrozenCap));
    return {
      userId,
      balance: row.balance,
      frozenCredits: row.frozenCredits,
      heldCredits,
      spendable,
      byCategory,
      expiring,
      version: row.version,
      position: row.lastPosition,
      projectedAt: row.projectedAt,
    };
  }
}
