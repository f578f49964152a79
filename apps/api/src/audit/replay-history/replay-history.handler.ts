import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { type RecordedCreditsEvent, creditsStreamId, historyOf, parseCreditsEvent } from '@libs/credits';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import { type HistoryView, ReplayHistoryQuery } from './replay-history.query';

/** Reads the user's stream from the store and folds it with the domain's `evolve`: the auditors' source of truth. */
@QueryHandler(ReplayHistoryQuery)
export class ReplayHistoryHandler implements IQueryHandler<ReplayHistoryQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ userId, stop }: ReplayHistoryQuery): Promise<HistoryView> {
    const events: RecordedCreditsEvent[] = [];
    const read = this.store.readStream(creditsStreamId(userId), { toVersion: stop.atVersion });
    for await (const stored of read) events.push(parseCreditsEvent(stored));
    return { userId, stop, ...historyOf(events, stop) };
  }
}
