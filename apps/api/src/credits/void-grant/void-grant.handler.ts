import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { grantClosedIdempotencyKey } from '@libs/credits';
import { CreditsCommandRunner, type CreditsCommandResult } from '../credits-command.runner';
import { VoidGrantCommand } from './void-grant.command';

@CommandHandler(VoidGrantCommand)
export class VoidGrantHandler implements ICommandHandler<VoidGrantCommand> {
  constructor(private readonly runner: CreditsCommandRunner) {}

  execute(command: VoidGrantCommand): Promise<CreditsCommandResult> {
    const { userId, grantId, reason, metadata, causedBy } = command;
    return this.runner.run({
      type: 'VoidGrant',
      data: { userId, grantId, reason, metadata },
      metadata: {
        idempotencyKey: grantClosedIdempotencyKey(grantId, 'voided'),
        now: new Date().toISOString(),
        causedBy,
      },
    });
  }
}
