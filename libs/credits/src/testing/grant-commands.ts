import type {
  CloseDispute,
  CompleteRecharge,
  ConsumeCredits,
  CreditsCommand,
  ExpireGrant,
  GrantBonus,
  OpenDispute,
  RefundRecharge,
  ReverseRefund,
  VoidGrant,
} from '../credits.commands';
import type { ShortfallPolicy } from '../credits.events';
import {
  disputeIdempotencyKey,
  eventIdFor,
  grantClosedIdempotencyKey,
  rechargeEventId,
  rechargeIdempotencyKey,
  refundIdempotencyKey,
  refundReversedIdempotencyKey,
} from '../credits.idempotency';
import { creditsStreamId } from '../credits.stream';

/** Commands of one user's stream, short to write in grant specifications. Times are UTC ISO 8601. */
export const GRANTS_USER_ID = 'user-grants';
export const T0 = '2026-01-01T00:00:00.000Z';

type BonusTerms = Pick<GrantBonus['data'], 'category' | 'priority' | 'expiresAt' | 'expiresIn'>;

export function bonus(key: string, amount: number, terms: BonusTerms = {}, now = T0): GrantBonus {
  return {
    type: 'GrantBonus',
    data: { userId: GRANTS_USER_ID, amount, reason: `bonus ${key}`, metadata: {}, ...terms },
    metadata: { idempotencyKey: key, now },
  };
}

/** A recharge paying 10 minor units a credit; `expiresAt` as a pack's `expiresAfter` or a plan period would set it. */
export function recharge(rechargeId: string, credits: number, now = T0, expiresAt?: string): CompleteRecharge {
  return {
    type: 'CompleteRecharge',
    data: {
      userId: GRANTS_USER_ID,
      rechargeId,
      credits,
      amountPaid: credits * 10,
      currency: 'eur',
      source: { kind: 'manual' },
      metadata: {},
      ...(expiresAt === undefined ? {} : { expiresAt }),
    },
    metadata: { idempotencyKey: rechargeIdempotencyKey(rechargeId), now },
  };
}

export function consume(key: string, amount: number, now = T0): ConsumeCredits {
  return {
    type: 'ConsumeCredits',
    data: {
      userId: GRANTS_USER_ID,
      feature: 'face_swap',
      reference: key,
      requestedAmount: amount,
      price: { credits: 1, amountOverride: { amountMax: 1_000_000_000 } },
      metadata: {},
    },
    metadata: { idempotencyKey: key, now },
  };
}

export function expire(grantId: string, now: string): ExpireGrant {
  return {
    type: 'ExpireGrant',
    data: { userId: GRANTS_USER_ID, grantId },
    metadata: { idempotencyKey: grantClosedIdempotencyKey(grantId, 'expired'), now },
  };
}

export function voidGrant(grantId: string, now = T0, reason = 'sent by mistake'): VoidGrant {
  return {
    type: 'VoidGrant',
    data: { userId: GRANTS_USER_ID, grantId, reason, metadata: {} },
    metadata: { idempotencyKey: grantClosedIdempotencyKey(grantId, 'voided'), now },
  };
}

/** The grant a credit-in command makes: its event's id. */
export function grantIdOf(command: GrantBonus | CompleteRecharge): string {
  return command.type === 'CompleteRecharge'
    ? rechargeEventId(command.data.rechargeId)
    : eventIdFor(creditsStreamId(GRANTS_USER_ID), command.metadata.idempotencyKey);
}

/** The id of the event a command records. */
export function eventIdOf(command: CreditsCommand): string {
  return command.type === 'CompleteRecharge'
    ? rechargeEventId(command.data.rechargeId)
    : eventIdFor(creditsStreamId(GRANTS_USER_ID), command.metadata.idempotencyKey);
}

/** `base` plus milliseconds, as ISO 8601. */
export function plus(base: string, milliseconds: number): string {
  return new Date(Date.parse(base) + milliseconds).toISOString();
}

export const DAY = 86_400_000;

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Stripe's `charge.refunded` of charge `ch_1`, reported at `refundedAt` (Unix seconds; default `now`'s). */
export function refundOf(
  rechargeId: string,
  amountRefundedOfCharge: number,
  now: string,
  shortfallPolicy: ShortfallPolicy,
  refundedAt = seconds(now),
): RefundRecharge {
  return {
    type: 'RefundRecharge',
    data: {
      userId: GRANTS_USER_ID,
      rechargeId,
      chargeId: 'ch_1',
      amountRefundedOfCharge,
      refundedAt,
      shortfallPolicy,
      source: { kind: 'manual' },
    },
    metadata: { idempotencyKey: refundIdempotencyKey(rechargeId, 'ch_1', amountRefundedOfCharge, refundedAt), now },
  };
}

/** Stripe's `refund.failed` of a refund of charge `ch_1`. */
export function failureOf(
  rechargeId: string,
  refundId: string,
  amount: number,
  times: { createdAt: number; failedAt: number },
  now: string,
): ReverseRefund {
  return {
    type: 'ReverseRefund',
    data: {
      userId: GRANTS_USER_ID,
      rechargeId,
      refundId,
      chargeId: 'ch_1',
      amount,
      status: 'failed',
      refundCreatedAt: times.createdAt,
      failedAt: times.failedAt,
      source: { kind: 'manual' },
    },
    metadata: { idempotencyKey: refundReversedIdempotencyKey(refundId), now },
  };
}

export function openDisputeOf(rechargeId: string, disputeId: string, now: string): OpenDispute {
  return {
    type: 'OpenDispute',
    data: { userId: GRANTS_USER_ID, rechargeId, disputeId, source: { kind: 'manual' } },
    metadata: { idempotencyKey: disputeIdempotencyKey(disputeId, 'opened'), now },
  };
}

export function closeDisputeOf(
  rechargeId: string,
  disputeId: string,
  outcome: 'won' | 'lost',
  amountDisputed: number,
  shortfallPolicy: ShortfallPolicy,
  now: string,
): CloseDispute {
  return {
    type: 'CloseDispute',
    data: {
      userId: GRANTS_USER_ID,
      rechargeId,
      disputeId,
      outcome,
      amountDisputed,
      shortfallPolicy,
      source: { kind: 'manual' },
    },
    metadata: { idempotencyKey: disputeIdempotencyKey(disputeId, 'closed'), now },
  };
}
