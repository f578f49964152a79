import { Query } from '@nestjs/cqrs';
import type { GrantCredits, HoldStatus } from '@libs/credits';
import type { HoldStateFilter } from '@projections';

/** A hold as the API shows it. */
export type HoldAnswer = {
  holdId: string;
  feature: string;
  reference: string;
  /** At the time of the query: `expired` once its expiresAt has passed uncaptured, even before that is recorded. */
  state: HoldStatus;
  /** As recorded. */
  status: HoldStatus;
  amount: number;
  capturedAmount: number;
  expiresAt: string;
  drawnFrom: GrantCredits[];
  placedAt: string;
  endedAt: string | null;
};

export type UserHoldsPage = { userId: string; holds: HoldAnswer[]; nextCursor: string | null };

export class ListHoldsQuery extends Query<UserHoldsPage> {
  constructor(
    readonly userId: string,
    readonly state: HoldStateFilter,
    readonly afterSequence: number,
    readonly limit: number,
    readonly minPosition: string | undefined,
  ) {
    super();
  }
}
