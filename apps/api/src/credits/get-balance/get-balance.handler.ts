import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { CreditsCommandRunner } from '../credits-command.runner';
import { type BalanceView, GetBalanceQuery } from './get-balance.query';

/** Folds the user's stream (from the runner's cache): always current. The projections issue adds a read model. */
@QueryHandler(GetBalanceQuery)
export class GetBalanceHandler implements IQueryHandler<GetBalanceQuery> {
  constructor(private readonly runner: CreditsCommandRunner) {}

  async execute({ userId }: GetBalanceQuery): Promise<BalanceView> {
    const state = await this.runner.currentState(userId);
    return { userId, balance: state.balance, version: state.version };
  }
}
