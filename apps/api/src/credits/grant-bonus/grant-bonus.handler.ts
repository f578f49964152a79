import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { CreditsCommandRunner, type CreditsCommandResult } from '../credits-command.runner';
import { GrantBonusCommand } from './grant-bonus.command';

@CommandHandler(GrantBonusCommand)
export class GrantBonusHandler implements ICommandHandler<GrantBonusCommand> {
  constructor(private readonly runner: CreditsCommandRunner) {}

  execute(command: GrantBonusCommand): Promise<CreditsCommandResult> {
    const { userId, amount, reason, metadata, idempotencyKey, causedBy, terms } = command;
    // Terms the request left out stay out: a retry sent before grants existed is the same request.
    const given = Object.fromEntries(Object.entries(terms).filter(([, value]) => value !== undefined));
    return this.runner.run({
      type: 'GrantBonus',
      data: { userId, amount, reason, metadata, ...given },
      metadata: { idempotencyKey, now: new Date().toISOString(), causedBy },
    });
  }
}
