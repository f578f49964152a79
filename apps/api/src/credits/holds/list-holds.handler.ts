import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import { HOLDS_PROJECTION, type HoldView, READ_MODEL_DB, listHolds } from '@projections';
import { encodeCursor } from '../paging.http';
import { ReadYourWrites } from '../read-your-writes';
import { type HoldAnswer, ListHoldsQuery, type UserHoldsPage } from './list-holds.query';

export const HOLDS_CURSOR = 'hold';

/** Reads the holds projection, after waiting for `minPosition` when asked. */
@QueryHandler(ListHoldsQuery)
export class ListHoldsHandler implements IQueryHandler<ListHoldsQuery> {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  async execute({ userId, state, afterSequence, limit, minPosition }: ListHoldsQuery): Promise<UserHoldsPage> {
    await this.readYourWrites.waitFor(HOLDS_PROJECTION, minPosition);
    const page = await listHolds(this.db, userId, { state, now: new Date(), afterSequence, limit });
    const next = page.nextAfterSequence;
    return {
      userId,
      holds: page.holds.map(answerOf),
      nextCursor: next === null ? null : encodeCursor(HOLDS_CURSOR, next),
    };
  }
}

function answerOf(hold: HoldView): HoldAnswer {
  const { holdId, feature, reference, state, status, amount, capturedAmount, expiresAt, drawnFrom } = hold;
  return {
    holdId,
    feature,
    reference,
    state,
    status,
    amount,
    capturedAmount,
    expiresAt,
    drawnFrom,
    placedAt: hold.placedAt,
    endedAt: hold.endedAt,
  };
}
