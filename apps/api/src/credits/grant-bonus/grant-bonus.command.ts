import { Command } from '@nestjs/cqrs';
import type { Causation, ClientMetadata, GrantBonus } from '@libs/credits';
import type { CreditsCommandResult } from '../credits-command.runner';

/** A bonus's category, priority and expiry, as the request gave them (defaults are the domain's). */
export type BonusTerms = Pick<GrantBonus['data'], 'category' | 'priority' | 'expiresAt' | 'expiresIn'>;

export class GrantBonusCommand extends Command<CreditsCommandResult> {
  constructor(
    readonly userId: string,
    readonly amount: number,
    readonly reason: string,
    readonly metadata: ClientMetadata,
    /** The client's Idempotency-Key. */
    clientKey: string,
    readonly causedBy: Causation = {},
    readonly terms: BonusTerms = {},
  ) {
    super();
    this.idempotencyKey = `bonus:${clientKey}`;
  }

  /** Namespaced per command, so a key chosen for one kind of command never blocks another. */
  readonly idempotencyKey: string;
}
