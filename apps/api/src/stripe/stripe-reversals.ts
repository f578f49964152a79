import { Inject, Injectable } from '@nestjs/common';
import { type CreditsCommand, type ShortfallPolicy, disputeIdempotencyKey, refundIdempotencyKey } from '@libs/credits';
import type { StripeDispute, StripeRefund } from '@libs/stripe';
import type { DeliveryOutcome, RechargeRow } from '@projections';
import { CreditsCommandRunner } from '../credits/credits-command.runner';
import { RechargesLookup } from './recharges-lookup';
import { RechargeNotFoundYetError } from './retry-later.error';

export const REFUND_SHORTFALL = Symbol('REFUND_SHORTFALL');

/** Refunds and disputes: found by their payment, applied to the recharge's user stream. */
@Injectable()
export class StripeReversals {
  constructor(
    private readonly recharges: RechargesLookup,
    @Inject(REFUND_SHORTFALL) private readonly shortfallPolicy: ShortfallPolicy,
    private readonly runner: CreditsCommandRunner,
  ) {}

  async refund(refund: StripeRefund): Promise<DeliveryOutcome> {
    const recharge = await this.rechargeOf(refund.paymentIntentId, refund.invoiceId, `charge ${refund.chargeId}`);
    if (refund.currency !== recharge.currency) {
      const reason = `charge ${refund.chargeId} is in ${refund.currency}, its recharge in ${recharge.currency}`;
      return { status: 'failed', reason, userId: recharge.userId, rechargeId: recharge.rechargeId };
    }
    // In the recharge's own minor units; a charge refunds at most what the recharge cost.
    const amountRefundedOfCharge = Math.min(refund.amountRefundedTotal, recharge.amountPaid);
    return this.run(recharge, 'debited', {
      type: 'RefundRecharge',
      data: {
        userId: recharge.userId,
        rechargeId: recharge.rechargeId,
        chargeId: refund.chargeId,
        amountRefundedOfCharge,
        shortfallPolicy: this.shortfallPolicy,
        source: { kind: 'stripe', stripeEventId: refund.stripeEventId, chargeId: refund.chargeId },
      },
      metadata: {
        idempotencyKey: refundIdempotencyKey(recharge.rechargeId, refund.chargeId, amountRefundedOfCharge),
        now: now(),
        causedBy: { stripeEventId: refund.stripeEventId },
      },
    });
  }

  async disputeOpened(dispute: StripeDispute): Promise<DeliveryOutcome> {
    const recharge = await this.rechargeOf(dispute.paymentIntentId, undefined, `dispute ${dispute.disputeId}`);
    const { disputeId, chargeId, stripeEventId } = dispute;
    return this.run(recharge, 'frozen', {
      type: 'OpenDispute',
      data: {
        userId: recharge.userId,
        rechargeId: recharge.rechargeId,
        disputeId,
        source: { kind: 'stripe', stripeEventId, chargeId, disputeId },
      },
      metadata: { idempotencyKey: disputeIdempotencyKey(disputeId, 'opened'), now: now(), causedBy: { stripeEventId } },
    });
  }

  async disputeClosed(dispute: StripeDispute, outcome: 'won' | 'lost'): Promise<DeliveryOutcome> {
    const recharge = await this.rechargeOf(dispute.paymentIntentId, undefined, `dispute ${dispute.disputeId}`);
    const { disputeId, chargeId, stripeEventId, amount } = dispute;
    return this.run(recharge, outcome === 'won' ? 'unfrozen' : 'debited', {
      type: 'CloseDispute',
      data: {
        userId: recharge.userId,
        rechargeId: recharge.rechargeId,
        disputeId,
        outcome,
        amountDisputed: amount,
        shortfallPolicy: this.shortfallPolicy,
        source: { kind: 'stripe', stripeEventId, chargeId, disputeId },
      },
      metadata: { idempotencyKey: disputeIdempotencyKey(disputeId, 'closed'), now: now(), causedBy: { stripeEventId } },
    });
  }

  private async rechargeOf(
    paymentIntentId: string | undefined,
    invoiceId: string | undefined,
    what: string,
  ): Promise<RechargeRow> {
    const recharge = await this.recharges.rechargeOfPayment({ paymentIntentId, invoiceId });
    if (recharge === undefined) {
      throw new RechargeNotFoundYetError(
        `${what}: no recharge of payment ${paymentIntentId ?? invoiceId ?? '(none named)'} is recorded yet`,
      );
    }
    return recharge;
  }

  private async run(
    recharge: RechargeRow,
    applied: DeliveryOutcome['status'],
    command: CreditsCommand,
  ): Promise<DeliveryOutcome> {
    const result = await this.runner.run(command);
    const recorded = { userId: recharge.userId, rechargeId: recharge.rechargeId };
    if (result.kind !== 'refused') {
      return result.kind === 'recorded'
        ? { status: applied, ...recorded }
        : { status: 'duplicate', reason: 'already applied', ...recorded };
    }
    const { error } = result;
    if (error.type === 'refund-already-applied') {
      return {
        status: 'duplicate',
        reason: 'a refund of this charge for this amount or more was already applied',
        ...recorded,
      };
    }
    if (error.type === 'dispute-already-closed') {
      return {
        status: 'ignored',
        reason: 'the dispute opened after its closing was recorded: nothing to freeze',
        ...recorded,
      };
    }
    return { status: 'failed', reason: `refused: ${JSON.stringify(error)}`, ...recorded };
  }
}

function now(): string {
  return new Date().toISOString();
}
