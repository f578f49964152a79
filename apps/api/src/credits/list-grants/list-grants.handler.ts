import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { SqlDriver } from '@libs/event-store';
import { GRANTS_PROJECTION, type GrantView, READ_MODEL_DB, listGrants } from '@projections';
import { encodeCursor } from '../paging.http';
import { ReadYourWrites } from '../read-your-writes';
import { type GrantAnswer, ListGrantsQuery, type UserGrantsPage } from './list-grants.query';

export const GRANTS_CURSOR = 'grant';

/** Reads the grants projection, after waiting for `minPosition` when asked. */
@QueryHandler(ListGrantsQuery)
export class ListGrantsHandler implements IQueryHandler<ListGrantsQuery> {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  async execute({ userId, state, afterSequence, limit, minPosition }: ListGrantsQuery): Promise<UserGrantsPage> {
    await this.readYourWrites.waitFor(GRANTS_PROJECTION, minPosition);
    const page = await listGrants(this.db, userId, { state, now: new Date(), afterSequence, limit });
    const next = page.nextAfterSequence;
    return {
      userId,
      grants: page.grants.map(answerOf),
      nextCursor: next === null ? null : encodeCursor(GRANTS_CURSOR, next),
    };
  }
}

function answerOf(grant: GrantView): GrantAnswer {
  return {
    grantId: grant.grantId,
    category: grant.category,
    priority: grant.priority,
    expiresAt: grant.expiresAt ?? null,
    rechargeId: grant.rechargeId ?? null,
    state: grant.state,
    status: grant.status,
    grantedCredits: grant.granted,
    debtPaidCredits: grant.debtPaid,
    spentCredits: grant.spent,
    expiredCredits: grant.expired,
    voidedCredits: grant.voided,
    takenBackCredits: grant.takenBack,
    remainingCredits: grant.remaining,
    frozenCredits: grant.frozen,
    rolledOverCredits: grant.rolledOver,
    sourceGrantId: grant.sourceGrantId ?? null,
    rolledInto: grant.rolledInto ?? null,
    grantedAt: grant.grantedAt,
    closedAt: grant.closedAt,
  };
}
