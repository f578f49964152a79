import { randomUUID } from 'node:crypto';
import {
  type CreditsCommand,
  type CreditsState,
  creditsStreamId,
  decide,
  evolve,
  initialState,
  parseCreditsEvent,
} from '@libs/credits';
import type { EventStore } from '@libs/event-store';

/**
 * Bonuses written straight to the store as the domain decides them at a
 * chosen moment, so a test can make grants that are already past their expiry
 * (the API refuses an expiry before now, rightly).
 */
export type WrittenGrant = { userId: string; grantId: string; expiresAt: string };

export async function writeBonus(
  store: EventStore,
  userId: string,
  options: { amount: number; decidedAt: Date; expiresIn?: string; spend?: number },
): Promise<WrittenGrant> {
  const now = options.decidedAt.toISOString();
  let state = await foldOf(store, userId);
  const grant: CreditsCommand = {
    type: 'GrantBonus',
    data: {
      userId,
      amount: options.amount,
      reason: 'test',
      metadata: {},
      ...(options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn }),
    },
    metadata: { idempotencyKey: `bonus:${randomUUID()}`, now },
  };
  const commands: CreditsCommand[] = [grant];
  if (options.spend !== undefined) {
    commands.push({
      type: 'ConsumeCredits',
      data: {
        userId,
        feature: 'face_swap',
        reference: randomUUID(),
        requestedAmount: options.spend,
        price: { credits: 1, amountOverride: { amountMax: 1_000_000 } },
        metadata: {},
      },
      metadata: { idempotencyKey: `consume:${randomUUID()}`, now },
    });
  }
  const events = [];
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type} was ${decision.kind}`);
    for (const event of decision.events) {
      events.push(event);
      state = evolve(state, { ...event, streamVersion: state.version + 1, globalPosition: '' });
    }
  }
  const version = state.version - events.length;
  await store.appendToStream(
    creditsStreamId(userId),
    events.map(({ id, type, schemaVersion, data, metadata }) => ({ id, type, schemaVersion, data, metadata })),
    { expectedVersion: version },
  );
  const [bonus] = events;
  if (bonus.type !== 'BonusGranted') throw new Error('the first event is the bonus');
  return { userId, grantId: bonus.id, expiresAt: bonus.data.expiresAt ?? '' };
}

export async function foldOf(store: EventStore, userId: string): Promise<CreditsState> {
  let state = initialState();
  for await (const event of store.readStream(creditsStreamId(userId))) state = evolve(state, parseCreditsEvent(event));
  return state;
}

/** How many `CreditsExpired` each grant has in the whole store. */
export async function expiriesByGrant(store: EventStore): Promise<Map<string, number>> {
  // The streams are found in the feed, and counted from themselves: the feed may show a commit a moment later
  // while an older transaction is open, a stream never does.
  const streamIds = new Set<string>();
  for await (const event of store.readAll({ batchSize: 5000 })) streamIds.add(event.streamId);
  const counts = new Map<string, number>();
  for (const streamId of streamIds) {
    for await (const event of store.readStream(streamId)) {
      if (event.type !== 'CreditsExpired') continue;
      const { grantId } = event.data as { grantId: string };
      counts.set(grantId, (counts.get(grantId) ?? 0) + 1);
    }
  }
  return counts;
}

/** A user granted `amount` who placed a hold of `held` credits at `decidedAt`, lasting `expiresIn`, written straight. */
export async function writeHold(
  store: EventStore,
  userId: string,
  options: { amount: number; held: number; decidedAt: Date; expiresIn: string },
): Promise<{ userId: string; holdId: string }> {
  const now = options.decidedAt.toISOString();
  const commands: CreditsCommand[] = [
    {
      type: 'GrantBonus',
      data: { userId, amount: options.amount, reason: 'test', metadata: {} },
      metadata: { idempotencyKey: `bonus:${randomUUID()}`, now },
    },
    {
      type: 'PlaceHold',
      data: {
        userId,
        feature: 'video_generation',
        reference: randomUUID(),
        requestedAmount: options.held,
        price: { credits: 1, amountOverride: { amountMax: 1_000_000 } },
        metadata: {},
        expiresIn: options.expiresIn,
      },
      metadata: { idempotencyKey: `hold:${randomUUID()}`, now },
    },
  ];
  let state = await foldOf(store, userId);
  const expectedVersion = state.version;
  const events = [];
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type} was ${decision.kind}`);
    for (const event of decision.events) {
      events.push(event);
      state = evolve(state, { ...event, streamVersion: state.version + 1, globalPosition: '' });
    }
  }
  await store.appendToStream(
    creditsStreamId(userId),
    events.map(({ id, type, schemaVersion, data, metadata }) => ({ id, type, schemaVersion, data, metadata })),
    { expectedVersion },
  );
  return { userId, holdId: events[1].id };
}

/** How many `HoldExpired` each hold has in the whole store. */
export async function expiriesByHold(store: EventStore): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const event of store.readAll({ batchSize: 5000 })) {
    if (event.type !== 'HoldExpired') continue;
    const { holdId } = event.data as { holdId: string };
    counts.set(holdId, (counts.get(holdId) ?? 0) + 1);
  }
  return counts;
}
