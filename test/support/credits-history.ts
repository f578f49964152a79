import { randomUUID } from 'node:crypto';
import {
  type CreditsEvent,
  DEFAULT_GRANT_PRIORITY,
  type CreditsState,
  creditsStreamId,
  evolve,
  initialState,
  parseCreditsEvent,
  rechargeEventId,
} from '@libs/credits';
import type { EventStore, EventToAppend } from '@libs/event-store';
import { toEventToAppend } from '../../apps/api/src/credits/credits-stream.reader';

/**
 * Writes a realistic history straight to the store: for each user a recharge,
 * then bonuses and consumptions that never overdraw. `eventsPerUser` events each.
 */
export async function writeHistory(
  store: EventStore,
  options: { users: number; eventsPerUser: number; prefix?: string; concurrency?: number },
): Promise<string[]> {
  const prefix = options.prefix ?? `user-${randomUUID().slice(0, 8)}`;
  const userIds = Array.from({ length: options.users }, (_, index) => `${prefix}-${index}`);
  let next = 0;
  const writer = async () => {
    while (next < userIds.length) {
      const userId = userIds[next++];
      const events = Array.from({ length: options.eventsPerUser }, (_, index) => eventOf(userId, index));
      await store.appendToStream(creditsStreamId(userId), events, { expectedVersion: 'no_stream' });
    }
  };
  // Streams written at once, each in one append: independent streams, so any order is a real history.
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, writer));
  return userIds;
}

function eventOf(userId: string, index: number): EventToAppend {
  const metadata = {
    idempotencyKey: `history-${index}`,
    payloadFingerprint: 'history',
    occurredAt: new Date().toISOString(),
  };
  const event: CreditsEvent =
    index === 0
      ? {
          type: 'RechargeCompleted',
          schemaVersion: 3,
          id: rechargeEventId(`${userId}-recharge`),
          data: {
            rechargeId: `${userId}-recharge`,
            credits: 1_000,
            amountPaid: 999,
            currency: 'usd',
            source: { kind: 'manual' },
            metadata: {},
            category: 'paid',
            priority: DEFAULT_GRANT_PRIORITY.paid,
          },
          metadata: { ...metadata, idempotencyKey: `recharge:${userId}-recharge` },
        }
      : index % 5 === 0
        ? {
            type: 'BonusGranted',
            schemaVersion: 2,
            id: randomUUID(),
            data: { amount: 3, reason: 'loyal', metadata: {}, category: 'promotional', priority: 100 },
            metadata,
          }
        : {
            type: 'CreditsConsumed',
            schemaVersion: 2,
            id: randomUUID(),
            data: { amount: 1, feature: 'face_swap', reference: `upload-${index}`, metadata: {} },
            metadata,
          };
  return toEventToAppend(event);
}

/** Every credits stream folded with the domain's `evolve`: the truth a read model must equal. */
export async function foldEveryStream(store: EventStore): Promise<Map<string, CreditsState>> {
  const states = new Map<string, CreditsState>();
  for await (const event of store.readAll({ batchSize: 5000 })) {
    if (!event.streamId.startsWith('credits-')) continue;
    const userId = event.streamId.slice('credits-'.length);
    states.set(userId, evolve(states.get(userId) ?? initialState(), parseCreditsEvent(event)));
  }
  return states;
}
