import { Command } from '@nestjs/cqrs';
import type { Causation, ClientMetadata, RechargeSource, RolloverTerms } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

/** A paid recharge; idempotent by its recharge id (for Stripe, the payment's id). */
export class CompleteRechargeCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly rechargeId: string,
    readonly credits: number,
    readonly amountPaid: number,
    readonly currency: string,
    readonly source: RechargeSource,
    readonly metadata: ClientMetadata,
    readonly causedBy: Causation = {},
    /** When its credits lapse (a Stripe pack's `expiresAfter`, a plan period's end); undefined: never. */
    readonly expiresAt?: string,
    /** A plan period's carry-over at `expiresAt` (up to `creditsMax` into a grant until the next period's end); undefined: none. */
    readonly rollover?: RolloverTerms,
  ) {
    super();
  }
}
