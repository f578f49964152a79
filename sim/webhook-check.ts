import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookReceiver } from '../test/support/webhook-receiver';
import type { StoredEvent } from './model/ledger-model';

/** The ledger events the simulation's endpoint subscribes to, by the webhook type that reports each. */
const REPORTED: Readonly<Record<string, string>> = {
  RechargeCompleted: 'recharge.completed',
  CreditsExpired: 'grant.expired',
  HoldExpired: 'hold.expired',
};

export type WebhooksCheck = {
  violations: string[];
  figures: { expected: number; received: number; copies: number };
};

/**
 * Every ledger event of a subscribed type reached the receiver at least once, within `timeoutMs`; each user's
 * arrived in stream order (a copy of one already received may come again, never an earlier event after a later
 * one); copies of a delivery carry the same id and the same bytes.
 */
export async function checkWebhooks(
  receiver: WebhookReceiver,
  streams: ReadonlyMap<string, StoredEvent[]>,
  timeoutMs: number,
): Promise<WebhooksCheck> {
  const expected = new Map<string, StoredEvent>();
  for (const events of streams.values()) {
    for (const event of events) if (REPORTED[event.type] !== undefined) expected.set(event.eventId, event);
  }
  const deadline = Date.now() + timeoutMs;
  while (missing(receiver, expected).length > 0 && Date.now() < deadline) await sleep(100);
  const violations = missing(receiver, expected).map((id) => {
    const event = expected.get(id)!;
    return `${REPORTED[event.type]} for ledger event ${id} (v${event.version}) never delivered`;
  });
  violations.push(...outOfOrder(receiver), ...differingCopies(receiver), ...unknownEvents(receiver, expected));
  const figures = {
    expected: expected.size,
    received: receiver.received.length,
    copies: receiver.received.length - new Set(receiver.received.map((r) => r.payload.id)).size,
  };
  return { violations, figures };
}

function missing(receiver: WebhookReceiver, expected: ReadonlyMap<string, StoredEvent>): string[] {
  const delivered = new Set(receiver.received.map(({ payload }) => payload.data.ledgerEvent?.id));
  return [...expected.keys()].filter((id) => !delivered.has(id));
}

/** A delivery must report an event the streams hold, of the type that event is reported as. */
function unknownEvents(receiver: WebhookReceiver, expected: ReadonlyMap<string, StoredEvent>): string[] {
  return receiver.received.flatMap(({ payload }) => {
    const event = expected.get(payload.data.ledgerEvent?.id ?? '');
    if (event !== undefined && REPORTED[event.type] === payload.type) return [];
    return [`delivery ${payload.id} (${payload.type}) reports no such event of the streams`];
  });
}

function outOfOrder(receiver: WebhookReceiver): string[] {
  const firstArrivals = new Map<string, number[]>();
  const seen = new Set<string>();
  for (const { payload } of receiver.received) {
    if (seen.has(payload.id) || payload.userId === null) continue;
    seen.add(payload.id);
    const versions = firstArrivals.get(payload.userId) ?? [];
    versions.push(payload.data.ledgerEvent!.streamVersion);
    firstArrivals.set(payload.userId, versions);
  }
  return [...firstArrivals].flatMap(([userId, versions]) =>
    versions.every((version, index) => index === 0 || versions[index - 1] < version)
      ? []
      : [`${userId}'s webhooks arrived out of stream order: versions ${versions.join(', ')}`],
  );
}

function differingCopies(receiver: WebhookReceiver): string[] {
  const bodies = new Map<string, string>();
  const violations: string[] = [];
  for (const { payload, rawBody } of receiver.received) {
    const first = bodies.get(payload.id);
    if (first === undefined) bodies.set(payload.id, rawBody);
    else if (first !== rawBody) violations.push(`delivery ${payload.id} sent again with other bytes`);
  }
  return violations;
}
