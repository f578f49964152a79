import { Query } from '@nestjs/cqrs';
import type { LedgerEntry } from '@projections';

export type LedgerPageView = {
  userId: string;
  entries: Array<Omit<LedgerEntry, 'userId'>>;
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
};

export class GetLedgerQuery extends Query<LedgerPageView> {
  constructor(
    readonly userId: string,
    readonly beforeVersion: number | undefined,
    readonly limit: number,
    readonly minPosition: string | undefined,
  ) {
    super();
  }
}
