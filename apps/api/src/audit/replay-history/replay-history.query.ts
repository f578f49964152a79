import { Query } from '@nestjs/cqrs';
import type { History, HistoryStop } from '@libs/credits';

export type HistoryView = History & { userId: string; stop: HistoryStop };

/** A user's history replayed from the event store (not the read model), up to an optional stop. */
export class ReplayHistoryQuery extends Query<HistoryView> {
  constructor(
    readonly userId: string,
    readonly stop: HistoryStop,
  ) {
    super();
  }
}
