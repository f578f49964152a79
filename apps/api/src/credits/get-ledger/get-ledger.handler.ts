import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import { LEDGER_PROJECTION, READ_MODEL_DB, pageLedger } from '@projections';
import { encodeCursor } from '../paging.http';
import { ReadYourWrites } from '../read-your-writes';
import { GetLedgerQuery, type LedgerPageView } from './get-ledger.query';

export const LEDGER_CURSOR = 'ledger-before-version';

@QueryHandler(GetLedgerQuery)
export class GetLedgerHandler implements IQueryHandler<GetLedgerQuery> {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  async execute({ userId, beforeVersion, limit, minPosition }: GetLedgerQuery): Promise<LedgerPageView> {
    await this.readYourWrites.waitFor(LEDGER_PROJECTION, minPosition);
    const page = await pageLedger(this.db, userId, { beforeVersion, limit });
    return {
      userId,
      entries: page.entries.map(({ userId: _userId, ...entry }) => entry),
      nextCursor: page.nextBeforeVersion === undefined ? null : encodeCursor(LEDGER_CURSOR, page.nextBeforeVersion),
    };
  }
}
