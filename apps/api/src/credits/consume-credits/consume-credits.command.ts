import { Command } from '@nestjs/cqrs';
import type { Causation, ClientMetadata } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

export class ConsumeCreditsCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly feature: string,
    readonly reference: string,
    /** Undefined: the price list's price. */
    readonly requestedAmount: number | undefined,
    readonly metadata: ClientMetadata,
    /** The client's Idempotency-Key; without one, the feature and reference: one charge per upload. */
    clientKey: string = `${feature}:${reference}`,
    readonly causedBy: Causation = {},
  ) {
    super();
    this.idempotencyKey = `consume:${clientKey}`;
  }

  /** Namespaced per command, so a key chosen for one kind of command never blocks another. */
  readonly idempotencyKey: string;
}
