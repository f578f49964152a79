import { Inject, Injectable } from '@nestjs/common';
import type { Causation } from '@libs/credits';
import { EVENT_STORE, type EventStore, type EventToAppend, VersionConflictError } from '@libs/event-store';
import { v5 as uuidv5 } from 'uuid';

/**
 * Claim streams are not credits streams: projections, the audit export and
 * the health check's replay read only `credits-` streams and skip these.
 */
export const RECHARGE_CLAIM_STREAM_PREFIX = 'recharge-claim-';

/** Fixed namespace of claim stream and event ids; never change it, or claims stop deduplicating. */
const RECHARGE_CLAIM_NAMESPACE = '5e2ff5b6-7f85-4300-a6f9-7b97275c93e1';

export type RechargeClaimed = {
  type: 'RechargeClaimed';
  data: { rechargeId: string; userId: string };
};

export type RechargeClaim =
  { kind: 'claimed'; userId: string } | { kind: 'claimed-by-another-user'; userId: string; claimedByUserId: string };

/**
 * One stream per recharge id. Its name is a hash of the id, not the id
 * itself: a recharge id may be 255 characters, a stream id at most 256.
 */
export function rechargeClaimStreamId(rechargeId: string): string {
  return `${RECHARGE_CLAIM_STREAM_PREFIX}${uuidv5(`stream\n${rechargeId}`, RECHARGE_CLAIM_NAMESPACE)}`;
}

/** Depends on the user too: the same user's retry repeats the id, another user's claim does not. */
export function rechargeClaimEventId(rechargeId: string, userId: string): string {
  return uuidv5(`claim\n${rechargeId}\n${userId}`, RECHARGE_CLAIM_NAMESPACE);
}

/**
 * Keeps a recharge id credited to one user in the whole ledger on a store
 * that does not refuse an event id stored in another stream (KurrentDB).
 * The SQL stores refuse the recharge's event id itself (a unique index), so
 * there the claim is skipped.
 *
 * A claim is the one event of the recharge's own stream, appended at
 * `no_stream`. KurrentDB acknowledges the same user's retry (same first event
 * id) as already committed, and answers another user's claim with a wrong
 * expected version: the stored claim then says who holds the recharge.
 *
 * The claim is appended before the credit, never released: a crash between
 * the two leaves the recharge claimed and not credited, and a retry for the
 * same user (Stripe redelivers after a 5xx; `npm run stripe -- sync`; the
 * operator's assignment again) completes it. A recharge refused for its user
 * (e.g. over the balance limit) stays claimed by that user too.
 */
@Injectable()
export class RechargeClaims {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async claim(rechargeId: string, userId: string, now: string, causedBy: Causation = {}): Promise<RechargeClaim> {
    if (this.store.refusesEventIdsOfOtherStreams) return { kind: 'claimed', userId };
    const streamId = rechargeClaimStreamId(rechargeId);
    try {
      await this.store.appendToStream(streamId, [claimEvent(rechargeId, userId, now, causedBy)], {
        expectedVersion: 'no_stream',
      });
      return { kind: 'claimed', userId };
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
    }
    const claimedByUserId = await this.claimant(streamId, rechargeId);
    return claimedByUserId === userId
      ? { kind: 'claimed', userId }
      : { kind: 'claimed-by-another-user', userId, claimedByUserId };
  }

  /** The user of the stream's first event: the claim that won. */
  private async claimant(streamId: string, rechargeId: string): Promise<string> {
    for await (const event of this.store.readStream(streamId, { fromVersion: 1, toVersion: 1 })) {
      const claimed = event as unknown as RechargeClaimed;
      const valid = event.type === 'RechargeClaimed' && typeof claimed.data.userId === 'string';
      if (!valid || claimed.data.rechargeId !== rechargeId) {
        throw new Error(`stream ${streamId}: the first event is not the claim of recharge ${rechargeId}`);
      }
      return claimed.data.userId;
    }
    throw new Error(`stream ${streamId}: a claim conflicted, yet the stream holds no event`);
  }
}

function claimEvent(rechargeId: string, userId: string, now: string, causedBy: Causation): EventToAppend {
  return {
    id: rechargeClaimEventId(rechargeId, userId),
    type: 'RechargeClaimed',
    schemaVersion: 1,
    data: { rechargeId, userId } satisfies RechargeClaimed['data'],
    metadata: { occurredAt: now, causedBy },
  };
}
