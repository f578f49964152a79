import { Query } from '@nestjs/cqrs';
import type { GrantCategory, GrantStatus } from '@libs/credits';
import type { GrantStateFilter, GrantView } from '@projections';

/** A grant as the API shows it: credits named `credits`, times in UTC ISO 8601. */
export type GrantAnswer = {
  grantId: string;
  category: GrantCategory;
  priority: number;
  expiresAt: string | null;
  rechargeId: string | null;
  /** At the time of the query: `expired` once its expiresAt has passed, even before its expiry is recorded. */
  state: GrantView['state'];
  /** As recorded: `expired` only once the expiry process recorded it. */
  status: GrantStatus;
  grantedCredits: number;
  debtPaidCredits: number;
  spentCredits: number;
  expiredCredits: number;
  voidedCredits: number;
  takenBackCredits: number;
  remainingCredits: number;
  frozenCredits: number;
  /** Carried at its expiry into the grant `rolledInto` (a plan period's carry-over). */
  rolledOverCredits: number;
  /** The grant whose carry-over made it: set on a grant of carried credits only. */
  sourceGrantId: string | null;
  /** The grant its carried credits went into, once carried. */
  rolledInto: string | null;
  grantedAt: string;
  closedAt: string | null;
};

export type UserGrantsPage = { userId: string; grants: GrantAnswer[]; nextCursor: string | null };

export class ListGrantsQuery extends Query<UserGrantsPage> {
  constructor(
    readonly userId: string,
    readonly state: GrantStateFilter,
    readonly afterSequence: number,
    readonly limit: number,
    readonly minPosition: string | undefined,
  ) {
    super();
  }
}
