import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { rechargeIdempotencyKey } from '@libs/credits';
import { CreditsCommandRunner, type CreditsCommandResult } from '../credits-command.runner';
import { CreditsMetrics } from '../credits-metrics';
import { CompleteRechargeCommand } from './complete-recharge.command';
import { RechargeClaims } from './recharge-claims';

/**
 * Claims the recharge id for the user first (a no-op on the SQL stores, which
 * refuse the recharge's event id in a second user's stream themselves), so a
 * payment is credited once in the whole ledger on every store.
 */
@CommandHandler(CompleteRechargeCommand)
export class CompleteRechargeHandler implements ICommandHandler<CompleteRechargeCommand> {
  constructor(
    private readonly runner: CreditsCommandRunner,
    private readonly claims: RechargeClaims,
    private readonly metrics: CreditsMetrics,
  ) {}

  async execute(command: CompleteRechargeCommand): Promise<CreditsCommandResult> {
    const { userId, rechargeId, credits, amountPaid, currency, source, metadata, causedBy, expiresAt, rollover } =
      command;
    const now = new Date().toISOString();
    const claim = await this.claims.claim(rechargeId, userId, now, causedBy);
    if (claim.kind === 'claimed-by-another-user') {
      // The answer the runner gives on the SQL stores, where the store refuses the recharge's event id.
      this.metrics.commands.inc({ command: 'CompleteRecharge', outcome: 'refused:recharge-already-recorded' });
      return { kind: 'refused', userId, error: { type: 'recharge-already-recorded', rechargeId } };
    }
    return this.runner.run({
      type: 'CompleteRecharge',
      data: {
        userId,
        rechargeId,
        credits,
        amountPaid,
        currency,
        source,
        metadata,
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(rollover === undefined ? {} : { rollover }),
      },
      metadata: { idempotencyKey: rechargeIdempotencyKey(rechargeId), now, causedBy },
    });
  }
}
