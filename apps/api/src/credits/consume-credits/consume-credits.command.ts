import { Command } from '@nestjs/cqrs';
import type { ClientMetadata } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

export class ConsumeCreditsCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly feature: string,
    readonly reference: string,
    /** Undefined: the price list's price. */
    readonly requestedAmount: number | undefined,
    readonly metadata: ClientMetadata,
    /** Defaults to the feature and reference: one charge per upload. */
    readonly idempotencyKey: string = `consume:${feature}:${reference}`,
  ) {
    super();
  }
}
