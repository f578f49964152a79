import { Query } from '@nestjs/cqrs';
import type { RechargeRow, RechargeStatus } from '@projections';

export type RechargesPageView = { recharges: RechargeRow[]; nextCursor: string | null };

export class ListRechargesQuery extends Query<RechargesPageView> {
  constructor(
    readonly filter: { status?: RechargeStatus; userId?: string },
    readonly beforePosition: string | undefined,
    readonly limit: number,
  ) {
    super();
  }
}
