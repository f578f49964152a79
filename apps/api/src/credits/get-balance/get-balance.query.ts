import { Query } from '@nestjs/cqrs';

export type BalanceView = {
  userId: string;
  balance: number;
  frozenCredits: number;
  /** Part of the balance active holds reserve for jobs in progress. */
  heldCredits: number;
  /** What a consumption may take now: unfrozen, unheld credits of grants not past their expiry, less any debt. */
  spendable: number;
  /** Credits of grants not past their expiry, by category (frozen ones included, held ones not). */
  byCategory: { paid: number; promotional: number };
  /** The next grants to expire, soonest first (the first few), with their unfrozen credits. */
  expiring: Array<{ grantId: string; credits: number; expiresAt: string }>;
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
