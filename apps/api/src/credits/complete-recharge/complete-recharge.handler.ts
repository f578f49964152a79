import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { rechargeIdempotencyKey } from '@libs/credits';
import { CreditsCommandRunner, type CreditsCommandResult } from '../credits-command.runner';
import { CompleteRechargeCommand } from './complete-recharge.command';

@CommandHandler(CompleteRechargeCommand)
export class CompleteRechargeHandler implements ICommandHandler<CompleteRechargeCommand> {
  constructor(private readonly runner: CreditsCommandRunner) {}

  execute(command: CompleteRechargeCommand): Promise<CreditsCommandResult> {
    const { userId, rechargeId, credits, amountPaid, currency, source, metadata, causedBy } = command;
    return this.runner.run({
      type: 'CompleteRecharge',
      data: { userId, rechargeId, credits, amountPaid, currency, source, metadata },
      metadata: { idempotencyKey: rechargeIdempotencyKey(rechargeId), now: new Date().toISOString(), causedBy },
    });
  }
}
