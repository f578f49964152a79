import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import { READ_MODEL_DB, pageRecharges } from '@projections';
import { encodeCursor } from '../../credits/paging.http';
import { ListRechargesQuery, type RechargesPageView } from './list-recharges.query';

export const RECHARGES_CURSOR = 'recharges-before-position';

@QueryHandler(ListRechargesQuery)
export class ListRechargesHandler implements IQueryHandler<ListRechargesQuery> {
  constructor(@Inject(READ_MODEL_DB) private readonly db: SqlDriver) {}

  async execute({ filter, beforePosition, limit }: ListRechargesQuery): Promise<RechargesPageView> {
    const page = await pageRecharges(this.db, { ...filter, beforePosition, limit });
    const next = page.nextBeforePosition;
    return { recharges: page.recharges, nextCursor: next === undefined ? null : encodeCursor(RECHARGES_CURSOR, next) };
  }
}
