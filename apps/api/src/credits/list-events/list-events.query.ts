import { Query } from '@nestjs/cqrs';

export type UserEventView = {
  eventId: string;
  version: number;
  position: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  idempotencyKey: string;
  /** When the command was decided. */
  occurredAt: string;
  /** When the store committed it. */
  recordedAt: string;
};

export type UserEventsPage = { userId: string; events: UserEventView[]; nextFromVersion: number | null };

export const LIST_EVENTS_LIMIT_MAX = 1000;

export class ListEventsQuery extends Query<UserEventsPage> {
  constructor(
    readonly userId: string,
    readonly fromVersion: number,
    readonly limit: number,
  ) {
    super();
  }
}
