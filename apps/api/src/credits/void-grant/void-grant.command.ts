import { Command } from '@nestjs/cqrs';
import type { Causation, ClientMetadata } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

/** Removes what is left of a bonus; a grant is voided once, so the grant is the idempotency key. */
export class VoidGrantCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly grantId: string,
    readonly reason: string,
    readonly metadata: ClientMetadata,
    readonly causedBy: Causation = {},
  ) {
    super();
  }
}
