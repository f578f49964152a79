import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import { BALANCE_PROJECTION, READ_MODEL_DB, findBalance } from '@projections';
import { ReadYourWrites } from '../read-your-writes';
import { type BalanceView, GetBalanceQuery } from './get-balance.query';

/** Reads the balance projection, after waiting for `minPosition` when asked. */
@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery> {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  async execute({ userId, minPosition }: GetBalanceQuery): Promise<BalanceView> {
    await this.readYourWrites.waitFor(BALANCE_PROJECTION, minPosition);
    const row = await findBalance(this.db, userId);
    if (row === undefined)
      return { userId, balance: 0, frozenCredits: 0, version: 0, position: null, projectedAt: null };
    return {
      userId,
      balance: row.balance,
      frozenCredits: row.frozenCredits,
      version: row.version,
      position: row.lastPosition,
      projectedAt: row.projectedAt,
    };
  }
}
