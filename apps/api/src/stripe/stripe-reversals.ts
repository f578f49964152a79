import { Inject, Injectable } from '@nestjs/common';
import {
  type CommandOutcome,
  type CreditsCommand,
  type ShortfallPolicy,
  disputeIdempotencyKey,
  refundIdempotencyKey,
  refundReversedIdempotencyKey,
} from '@libs/credits';
import type { StripeDispute, StripeRefund, StripeRefundReversal } from '@libs/stripe';
import type { DeliveryOutcome, RechargeRow } from '@projections';
import { CreditsCommandRunner } from '../credits/credits-command.runner';
import { RechargesLookup } from './recharges-lookup';
import { RechargeNotFoundYetError } from './retry-later.error';

export const REFUND_SHORTFALL = Symbol('REFUND_SHORTFALL');

/** What a recorded command's outcome is called in the delivery record. */
type Applied = (outcome: CommandOutcome) => Pick<DeliveryOutcome, 'status' | 'reason'>;

/**
 * Refunds, their failures and disputes: found by their payment, applied to
 * the recharge's user stream. Each is in the charge's currency, which must be
 * the recharge's: its amounts are compared with what the recharge cost.
 */
@Injectable()
export class StripeReversals {
  constructor(
    private readonly recharges: RechargesLookup,
    @Inject(REFUND_SHORTFALL) private readonly shortfallPolicy: ShortfallPolicy,
    private readonly runner: CreditsCommandRunner,
  ) {}

  async refund(refund: StripeRefund): Promise<DeliveryOutcome> {
    const what = `charge ${refund.chargeId}`;
    const recharge = await this.rechargeOf(refund.paymentIntentId, refund.invoiceId, what);
    const otherCurrency = currencyRefusal(what, refund.currency, recharge);
    if (otherCurrency !== undefined) return otherCurrency;
    // In the recharge's own minor units; a charge refunds at most what the recharge cost.
    const amountRefundedOfCharge = Math.min(refund.amountRefundedTotal, recharge.amountPaid);
    const { chargeId, refundedAt, stripeEventId } = refund;
    return this.run(recharge, refundApplied(chargeId), {
      type: 'RefundRecharge',
      data: {
        userId: recharge.userId,
        rechargeId: recharge.rechargeId,
        chargeId,
        amountRefundedOfCharge,
        refundedAt,
        shortfallPolicy: this.shortfallPolicy,
        source: { kind: 'stripe', stripeEventId, chargeId },
      },
      metadata: {
        idempotencyKey: refundIdempotencyKey(recharge.rechargeId, chargeId, amountRefundedOfCharge, refundedAt),
        now: now(),
        causedBy: { stripeEventId },
      },
    });
  }

  /** A refund that failed or was canceled: what it took comes back, once (see `reverseRefund`). */
  async refundReversed(reversal: StripeRefundReversal): Promise<DeliveryOutcome> {
    const what = `refund ${reversal.refundId}`;
    const recharge = await this.rechargeOf(reversal.paymentIntentId, undefined, what);
    const otherCurrency = currencyRefusal(what, reversal.currency, recharge);
    if (otherCurrency !== undefined) return otherCurrency;
    const { refundId, chargeId, status, failureReason, refundCreatedAt, failedAt, stripeEventId } = reversal;
    const applied: Applied = (outcome) => ({
      status: 'credited',
      reason:
        `refund ${refundId} of charge ${chargeId} ${status}: ${outcome.amount} credits returned to the balance` +
        (outcome.amount === 0 ? ' (it took none from it here, or none yet)' : ''),
    });
    return this.run(recharge, applied, {
      type: 'ReverseRefund',
      data: {
        userId: recharge.userId,
        rechargeId: recharge.rechargeId,
        refundId,
        chargeId,
        // In the recharge's own minor units; a refund is at most what the recharge cost.
        amount: Math.min(reversal.amount, recharge.amountPaid),
        status,
        ...(failureReason === undefined ? {} : { failureReason }),
        refundCreatedAt,
        failedAt,
        source: { kind: 'stripe', stripeEventId, chargeId, refundId },
      },
      metadata: { idempotencyKey: refundReversedIdempotencyKey(refundId), now: now(), causedBy: { stripeEventId } },
    });
  }

  async disputeOpened(dispute: StripeDispute): Promise<DeliveryOutcome> {
    const what = `dispute ${dispute.disputeId}`;
    const recharge = await this.rechargeOf(dispute.paymentIntentId, undefined, what);
    const otherCurrency = currencyRefusal(what, dispute.currency, recharge);
    if (otherCurrency !== undefined) return otherCurrency;
    const { disputeId, chargeId, stripeEventId } = dispute;
    return this.run(recharge, () => ({ status: 'frozen' }), {
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
    const what = `dispute ${dispute.disputeId}`;
    const recharge = await this.rechargeOf(dispute.paymentIntentId, undefined, what);
    // A lost dispute takes back the share its amount is of the recharge's price: the same money, or nothing.
    const otherCurrency = currencyRefusal(what, dispute.currency, recharge);
    if (otherCurrency !== undefined) return otherCurrency;
    const { disputeId, chargeId, stripeEventId, amount } = dispute;
    return this.run(recharge, () => ({ status: outcome === 'won' ? 'unfrozen' : 'debited' }), {
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

  private async run(recharge: RechargeRow, applied: Applied, command: CreditsCommand): Promise<DeliveryOutcome> {
    const result = await this.runner.run(command);
    const recorded = { userId: recharge.userId, rechargeId: recharge.rechargeId };
    if (result.kind !== 'refused') {
      return result.kind === 'recorded'
        ? { ...applied(result.outcome), ...recorded }
        : { status: 'duplicate', reason: 'already applied', ...recorded };
    }
    const { error } = result;
    if (error.type === 'refund-already-applied') {
      return {
        status: 'duplicate',
        reason:
          'the charge’s refunds this report counts are applied already ' +
          '(or a later report was, or a refund it counts has failed since)',
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

/**
 * A `charge.refunded` takes credits back; one that reports less refunded than
 * was taken back, later than what was applied, gives back the difference (a
 * refund of the charge failed, and its own event has not come yet).
 */
function refundApplied(chargeId: string): Applied {
  return (outcome) => {
    if (outcome.eventType === 'RefundReversed') {
      return {
        status: 'credited',
        reason:
          `charge ${chargeId} reports less refunded than was taken back (a refund of it failed): ` +
          `${outcome.amount} credits returned to the balance`,
      };
    }
    return { status: 'debited' };
  };
}

/**
 * A refund, a refund's failure or a dispute in another currency than its
 * recharge's: its amount cannot be weighed against what the recharge cost.
 * Recorded as failed, for an operator; nothing moves.
 */
function currencyRefusal(what: string, currency: string, recharge: RechargeRow): DeliveryOutcome | undefined {
  if (currency === recharge.currency) return undefined;
  const reason = `${what} is in ${currency}, its recharge in ${recharge.currency}`;
  return { status: 'failed', reason, userId: recharge.userId, rechargeId: recharge.rechargeId };
}

function now(): string {
  return new Date().toISOString();
}
