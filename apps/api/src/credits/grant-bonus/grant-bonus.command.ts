import { Command } from '@nestjs/cqrs';
import type { Causation, ClientMetadata } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

export class GrantBonusCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly amount: number,
    readonly reason: string,
    readonly metadata: ClientMetadata,
    /** The client's Idempotency-Key. */
    clientKey: string,
    readonly causedBy: Causation = {},
  ) {
    super();
    this.idempotencyKey = `bonus:${clientKey}`;
  }

  /** Namespaced per command, so a key chosen for one kind of command never blocks another. */
  readonly idempotencyKey: string;
}
