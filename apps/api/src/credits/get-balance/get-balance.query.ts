import { Query } from '@nestjs/cqrs';

export type BalanceView = { userId: string; balance: number; version: number };

export class GetBalanceQuery extends Query<BalanceView> {
  constructor(readonly userId: string) {
    super();
  }
}
