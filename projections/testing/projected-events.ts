import { randomUUID } from 'node:crypto';
import {
  type CreditsEventMetadata,
  DEFAULT_GRANT_PRIORITY,
  type RechargeRefunded,
  type RechargeSource,
  type ShortfallPolicy,
} from '@libs/credits';
import type { ProjectedEvent } from '../runtime/projection';

/** Events of one user's stream as projections receive them, for the handlers' specifications. */
export const USER_ID = 'user-1';
export const OCCURRED_AT = '2025-03-01T09:00:00.000Z';
export const RECORDED_AT = '2025-03-01T09:00:00.250Z';
/** Positions sit far from versions, so a test cannot mistake one for the other. */
export const GLOBAL_POSITION_BEFORE_STREAM = 1000;

export function rechargeCompleted({
  version,
  credits = 100,
  source = { kind: 'stripe', stripeEventId: `evt_${version}`, checkoutSessionId: `cs_${version}` },
}: {
  version: number;
  credits?: number;
  source?: RechargeSource;
}): ProjectedEvent {
  return {
    type: 'RechargeCompleted',
    schemaVersion: 3,
    id: randomUUID(),
    data: {
      rechargeId: `recharge-${version}`,
      credits,
      amountPaid: credits * 10,
      currency: 'eur',
      source,
      metadata: {},
      category: 'paid',
      priority: DEFAULT_GRANT_PRIORITY.paid,
    },
    ...recordedAt(version),
  };
}

export function creditsConsumed({ version, amount = 1 }: { version: number; amount?: number }): ProjectedEvent {
  return {
    type: 'CreditsConsumed',
    schemaVersion: 2,
    id: randomUUID(),
    data: { amount, feature: 'document-upload', reference: `upload-${version}`, metadata: {} },
    ...recordedAt(version),
  };
}

export function bonusGranted({ version, amount = 1 }: { version: number; amount?: number }): ProjectedEvent {
  return {
    type: 'BonusGranted',
    schemaVersion: 2,
    id: randomUUID(),
    data: {
      amount,
      reason: 'welcome',
      metadata: {},
      category: 'promotional',
      priority: DEFAULT_GRANT_PRIORITY.promotional,
    },
    ...recordedAt(version),
  };
}

export function rechargeRefunded({
  version,
  rechargeId = 'recharge-1',
  creditsTakenBack,
  creditsDebited = creditsTakenBack,
  shortfallPolicy = 'debt',
  reason = 'refund',
  creditsUnfrozen = 0,
}: {
  version: number;
  rechargeId?: string;
  creditsTakenBack: number;
  creditsDebited?: number;
  shortfallPolicy?: ShortfallPolicy;
  reason?: RechargeRefunded['data']['reason'];
  creditsUnfrozen?: number;
}): ProjectedEvent {
  return {
    type: 'RechargeRefunded',
    schemaVersion: 2,
    id: randomUUID(),
    data: {
      rechargeId,
      reason,
      refundedBy: reason === 'dispute-lost' ? 'dispute:dp_1' : 'ch_1',
      amountRefundedBy: creditsTakenBack * 10,
      amountRefundedTotal: creditsTakenBack * 10,
      creditsTakenBack,
      // Placed by the fold as version 1 events are: from the recharge's grant first (no `takenFrom`).
      creditsLapsed: 0,
      creditsDebited,
      shortfallCredits: creditsTakenBack - creditsDebited,
      shortfallPolicy,
      creditsUnfrozen,
      source: {
        kind: 'stripe',
        stripeEventId: `evt_${version}`,
        chargeId: 'ch_1',
        ...(reason === 'dispute-lost' ? { disputeId: 'dp_1' } : {}),
      },
    },
    ...recordedAt(version),
  };
}

/** A refund of `ch_1` that failed, giving back `creditsGivenBack` (all credited unless said otherwise). */
export function refundReversed({
  version,
  rechargeId = 'recharge-1',
  creditsGivenBack,
  creditsCredited = creditsGivenBack,
  creditsFrozen = 0,
  amountRefundedTotal = 0,
}: {
  version: number;
  rechargeId?: string;
  creditsGivenBack: number;
  creditsCredited?: number;
  creditsFrozen?: number;
  /** The recharge's money still refunded after it. */
  amountRefundedTotal?: number;
}): ProjectedEvent {
  return {
    type: 'RefundReversed',
    schemaVersion: 2,
    id: randomUUID(),
    data: {
      rechargeId,
      reason: 'refund-failed',
      refundedBy: 'ch_1',
      refund: { refundId: 're_1', amount: creditsGivenBack * 10, createdAt: 1_740_819_600, failedAt: 1_740_823_200 },
      amountReversed: creditsGivenBack * 10,
      amountRefundedBy: amountRefundedTotal,
      amountRefundedTotal,
      creditsGivenBack,
      creditsCredited,
      creditsWriteOffReversed: creditsGivenBack - creditsCredited,
      // Returned to the recharge's grant, as version 1 events are (no `givenTo`).
      creditsLapseReversed: 0,
      creditsLapsedOnReturn: 0,
      creditsFrozen,
      source: { kind: 'stripe', stripeEventId: `evt_${version}`, chargeId: 'ch_1', refundId: 're_1' },
    },
    ...recordedAt(version),
  };
}

export function creditsFrozen({
  version,
  credits,
  rechargeId = 'recharge-1',
  unfrozen = false,
}: {
  version: number;
  credits: number;
  rechargeId?: string;
  /** The dispute's release (`CreditsUnfrozen`) instead of its freezing. */
  unfrozen?: boolean;
}): ProjectedEvent {
  const data = { rechargeId, disputeId: 'dp_1', credits, source: { kind: 'stripe' as const, disputeId: 'dp_1' } };
  return unfrozen
    ? {
        type: 'CreditsUnfrozen',
        schemaVersion: 2,
        id: randomUUID(),
        data: { ...data, expired: [] },
        ...recordedAt(version),
      }
    : { type: 'CreditsFrozen', schemaVersion: 1, id: randomUUID(), data, ...recordedAt(version) };
}

function recordedAt(version: number) {
  const metadata: CreditsEventMetadata = {
    idempotencyKey: `key-${version}`,
    payloadFingerprint: `fingerprint-${version}`,
    occurredAt: OCCURRED_AT,
  };
  return {
    metadata,
    streamVersion: version,
    globalPosition: String(GLOBAL_POSITION_BEFORE_STREAM + version),
    userId: USER_ID,
    recordedAt: RECORDED_AT,
  };
}

/** The error `work` throws; fails the test when it throws nothing. */
export function thrownBy(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but nothing was thrown');
}

/** Freezes a value and all it holds, so a handler that mutates its input throws. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const nested of Object.values(value)) deepFreeze(nested);
    Object.freeze(value);
  }
  return value;
}
