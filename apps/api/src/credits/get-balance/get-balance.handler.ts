import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { creditsStreamId } from '@libs/credits';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import { foldCreditsStream } from '../credits-stream.reader';
import { type BalanceView, GetBalanceQuery } from './get-balance.query';

/** Folds the user's stream: always current. The read model replaces this with the projections. */
@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ userId }: GetBalanceQuery): Promise<BalanceView> {
    const state = await foldCreditsStream(this.store, creditsStreamId(userId));
    return { userId, balance: state.balance, version: state.version };
  }
}
