import { Command } from '@nestjs/cqrs';
import type { ClientMetadata } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

export class GrantBonusCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly amount: number,
    readonly reason: string,
    readonly metadata: ClientMetadata,
    readonly idempotencyKey: string,
  ) {
    super();
  }
}
