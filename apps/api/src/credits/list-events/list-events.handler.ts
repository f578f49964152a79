import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { creditsStreamId, parseCreditsEvent } from '@libs/credits';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import { ListEventsQuery, type UserEventView, type UserEventsPage } from './list-events.query';

@QueryHandler(ListEventsQuery)
export class ListEventsHandler implements IQueryHandler<ListEventsQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ userId, fromVersion, limit }: ListEventsQuery): Promise<UserEventsPage> {
    const events: UserEventView[] = [];
    // One more than the page, to know whether a next page exists.
    const read = this.store.readStream(creditsStreamId(userId), {
      fromVersion,
      toVersion: fromVersion + limit,
      batchSize: limit + 1,
    });
    for await (const recorded of read) {
      const event = parseCreditsEvent(recorded);
      events.push({
        eventId: event.id,
        version: event.streamVersion,
        position: event.globalPosition,
        type: event.type,
        schemaVersion: event.schemaVersion,
        data: event.data,
        idempotencyKey: event.metadata.idempotencyKey,
        causedBy: event.metadata.causedBy ?? {},
        occurredAt: event.metadata.occurredAt,
        recordedAt: recorded.recordedAt,
      });
    }
    const hasMore = events.length > limit;
    return { userId, events: events.slice(0, limit), nextFromVersion: hasMore ? fromVersion + limit : null };
  }
}
