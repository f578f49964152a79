import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import {
  type CreditsDomainError,
  type GrantCredits,
  type PriceList,
  balanceDelta,
  featurePrice,
  spendableCredits,
} from '@libs/credits';
import { CreditsCommandRunner } from '../credits-command.runner';
import { PRICE_LIST } from '../price-list.provider';

/** What a consumption or a hold would do now. */
export type PreviewAnswer = {
  userId: string;
  /** Whether it would be recorded if asked now (a preview reserves nothing: it may be refused by then). */
  wouldSucceed: boolean;
  /** The credits it would take (the price, or the amount asked where the feature allows it). */
  amount: number | null;
  drawnFrom: GrantCredits[];
  /** The balance now. */
  balance: number;
  /** What may be spent now. */
  spendable: number;
  /** The balance after it (a hold leaves it: it lowers what may be spent). */
  balanceAfter: number;
  spendableAfter: number;
  /** Why it would be refused: the problem its request would answer. */
  refusal: CreditsDomainError | null;
};

export class PreviewQuery extends Query<PreviewAnswer> {
  constructor(
    readonly userId: string,
    readonly kind: 'consumption' | 'hold',
    readonly feature: string,
    readonly requestedAmount: number | undefined,
  ) {
    super();
  }
}

/** Decides the command on the stream as it stands, through the runner, and appends nothing. */
@QueryHandler(PreviewQuery)
export class PreviewHandler implements IQueryHandler<PreviewQuery> {
  constructor(
    private readonly runner: CreditsCommandRunner,
    @Inject(PRICE_LIST) private readonly priceList: PriceList,
  ) {}

  async execute({ userId, kind, feature, requestedAmount }: PreviewQuery): Promise<PreviewAnswer> {
    const now = new Date().toISOString();
    const data = {
      userId,
      feature,
      reference: 'preview',
      requestedAmount,
      price: featurePrice(this.priceList, feature),
      metadata: {},
    };
    // A key of its own: a preview is never a replay of an earlier request.
    const metadata = { idempotencyKey: `preview:${randomUUID()}`, now };
    const { decision, state } = await this.runner.preview(
      kind === 'hold' ? { type: 'PlaceHold', data, metadata } : { type: 'ConsumeCredits', data, metadata },
    );
    const spendable = spendableCredits(state, now);
    const answer = { userId, balance: state.balance, spendable };
    if (decision.kind !== 'recorded') {
      const refusal = decision.kind === 'refused' ? decision.error : null;
      return {
        ...answer,
        wouldSucceed: false,
        amount: null,
        drawnFrom: [],
        balanceAfter: state.balance,
        spendableAfter: spendable,
        refusal,
      };
    }
    const [event] = decision.events;
    if (event.type !== 'CreditsConsumed' && event.type !== 'CreditsHeld')
      throw new Error(`a preview decided ${event.type}`);
    const amount = event.data.amount;
    return {
      ...answer,
      wouldSucceed: true,
      amount,
      drawnFrom: event.data.drawnFrom ?? [],
      balanceAfter: state.balance + balanceDelta(event),
      spendableAfter: spendable - amount,
      refusal: null,
    };
  }
}
