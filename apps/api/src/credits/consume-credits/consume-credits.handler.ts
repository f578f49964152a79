import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type PriceList, featurePrice } from '@libs/credits';
import { CreditsCommandRunner, type CreditsCommandResult } from '../credits-command.runner';
import { PRICE_LIST } from '../price-list.provider';
import { ConsumeCreditsCommand } from './consume-credits.command';

@CommandHandler(ConsumeCreditsCommand)
export class ConsumeCreditsHandler implements ICommandHandler<ConsumeCreditsCommand> {
  constructor(
    private readonly runner: CreditsCommandRunner,
    @Inject(PRICE_LIST) private readonly priceList: PriceList,
  ) {}

  async execute(command: ConsumeCreditsCommand): Promise<CreditsCommandResult> {
    const { userId, feature, reference, requestedAmount, metadata, idempotencyKey, causedBy } = command;
    // The domain prices it, after checking for a retry: a retry is answered even if the price changed since.
    const price = featurePrice(this.priceList, feature);
    return this.runner.run({
      type: 'ConsumeCredits',
      data: { userId, feature, reference, requestedAmount, price, metadata },
      metadata: { idempotencyKey, now: new Date().toISOString(), causedBy },
    });
  }
}
