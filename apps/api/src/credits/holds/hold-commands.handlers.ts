import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { isPlanted } from '@libs/config';
import { type PriceList, featurePrice, holdEndedIdempotencyKey } from '@libs/credits';
import { CreditsCommandRunner, type CreditsCommandResult } from '../credits-command.runner';
import { PRICE_LIST } from '../price-list.provider';
import { EndHoldCommand, PlaceHoldCommand } from './hold-commands';

@CommandHandler(PlaceHoldCommand)
export class PlaceHoldHandler implements ICommandHandler<PlaceHoldCommand> {
  constructor(
    private readonly runner: CreditsCommandRunner,
    @Inject(PRICE_LIST) private readonly priceList: PriceList,
  ) {}

  async execute(command: PlaceHoldCommand): Promise<CreditsCommandResult> {
    const { userId, feature, reference, requestedAmount, expiresIn, metadata, idempotencyKey, causedBy } = command;
    // Priced as a consumption, by the domain after checking for a retry.
    const price = featurePrice(this.priceList, feature);
    return this.runner.run({
      type: 'PlaceHold',
      data: { userId, feature, reference, requestedAmount, price, metadata, ...(expiresIn ? { expiresIn } : {}) },
      metadata: { idempotencyKey, now: new Date().toISOString(), causedBy },
    });
  }
}

@CommandHandler(EndHoldCommand)
export class EndHoldHandler implements ICommandHandler<EndHoldCommand> {
  constructor(private readonly runner: CreditsCommandRunner) {}

  async execute({ userId, holdId, how, causedBy }: EndHoldCommand): Promise<CreditsCommandResult> {
    const metadata = { idempotencyKey: holdEndedIdempotencyKey(holdId), now: new Date().toISOString(), causedBy };
    if (how === 'release') return this.runner.run({ type: 'ReleaseHold', data: { userId, holdId }, metadata });
    const asked = how.capture === undefined || isPlanted('capture-takes-whole-hold') ? undefined : how.capture;
    const amount = asked === undefined ? {} : { amount: asked };
    return this.runner.run({ type: 'CaptureHold', data: { userId, holdId, ...amount }, metadata });
  }
}
