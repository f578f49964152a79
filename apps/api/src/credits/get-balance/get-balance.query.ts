import { Query } from '@nestjs/cqrs';

export type BalanceView = {
  userId: string;
  balance: number;
  frozenCredits: number;
  version: number;
  /** Global position of the last event applied for this user; null before any. */
  position: string | null;
  projectedAt: string | null;
};

export class GetBalanceQuery extends Query<BalanceView> {
  constructor(
    readonly userId: string,
    readonly minPosition: string | undefined,
  ) {
    super();
  }
}
