import type { Causation } from '@libs/credits';
import type { StripePayment } from '@libs/stripe';
import type { CreditsCommandResult } from '../credits/credits-command.runner';
import { CompleteRechargeCommand } from '../credits/complete-recharge/complete-recharge.command';
import type { DeliveryOutcome } from '@projections';

/**
 * The recharge a Stripe payment makes: its id is the payment's, so every
 * event of one payment (and every redelivery) is the same recharge. No client
 * metadata: the source already names the Stripe objects, and two events of
 * one payment must carry the same payload to be recognised as one. Its expiry
 * and carry-over are not part of that payload: the first event of a payment sets them.
 */
export function rechargeCommandOf(
  payment: StripePayment,
  userId: string,
  credits: number,
  causedBy: Causation = { stripeEventId: payment.source.stripeEventId },
): CompleteRechargeCommand {
  const { paymentId, amountPaid, currency, source, customerId, expiresAt, rollover } = payment;
  const stripeSource = { ...source, customerId };
  return new CompleteRechargeCommand(
    userId,
    paymentId,
    credits,
    amountPaid,
    currency,
    stripeSource,
    {},
    causedBy,
    expiresAt,
    rollover,
  );
}

/** What crediting a payment came to, for the delivery record. */
export function outcomeOfRecharge(result: CreditsCommandResult, paymentId: string): DeliveryOutcome {
  const recorded = { userId: result.userId, rechargeId: paymentId };
  if (result.kind !== 'refused') {
    return result.kind === 'recorded'
      ? { status: 'credited', ...recorded }
      : { status: 'duplicate', reason: 'payment already credited', ...recorded };
  }
  const { error } = result;
  if (error.type === 'recharge-already-recorded') {
    return { status: 'duplicate', reason: 'payment already credited to another user', rechargeId: paymentId };
  }
  if (error.type === 'idempotency-key-reused') {
    return {
      status: 'failed',
      reason: 'payment already credited with other credits or amount: check the catalog and the Stripe object',
      ...recorded,
    };
  }
  return { status: 'failed', reason: `refused: ${JSON.stringify(error)}`, ...recorded };
}
