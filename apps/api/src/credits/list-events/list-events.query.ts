import { Query } from '@nestjs/cqrs';
import type { Causation } from '@libs/credits';

export type UserEventView = {
  eventId: string;
  version: number;
  position: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  idempotencyKey: string;
  /** The API key (by name) or Stripe event that caused it; `{}` for events recorded before causes were kept. */
  causedBy: Causation;
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
