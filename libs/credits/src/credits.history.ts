import diffAgainst from 'sorted-btree/extended/diffAgainst';
import type { RecordedCreditsEvent } from './credits.events';
import type { Grant, GrantCategory } from './credits.grants';
import { type EventDescription, descriptionOf } from './credits.description';
import { type CreditsState, balanceDelta, evolve, initialState } from './credits.state';

/** One credit movement as an accountant reads it: what moved, why and who asked. */
export type Movement = {
  version: number;
  /** Global position, 64-bit, as a decimal string. */
  position: string;
  /** When the command was decided (UTC ISO 8601). */
  occurredAt: string;
  type: RecordedCreditsEvent['type'];
  /** Signed: negative for a consumption or a refund, 0 for a dispute's freeze or release. */
  delta: number;
  idempotencyKey: string;
  apiKey: string | null;
  stripeEventId: string | null;
} & EventDescription;

/**
 * One event of a user's history as an auditor reads it: the movement, the balance right after it, and for a
 * consumption (or a hold's capture) the credits it drew from paid and from promotional grants (revenue is
 * recognised on the paid ones).
 */
export type HistoryEntry = Movement & {
  balanceAfter: number;
  frozenCreditsAfter: number;
  /** Credits active holds reserve right after it (part of the balance, not spendable). */
  heldCreditsAfter: number;
  paidCredits: number | null;
  promotionalCredits: number | null;
};

/** The fields of a movement, in order: the columns of an export. */
export const MOVEMENT_FIELDS: ReadonlyArray<keyof Movement> = [
  'version',
  'position',
  'occurredAt',
  'type',
  'delta',
  'idempotencyKey',
  'apiKey',
  'stripeEventId',
  'rechargeId',
  'checkoutSessionId',
  'paymentIntentId',
  'invoiceId',
  'subscriptionId',
  'chargeId',
  'disputeId',
  'feature',
  'reference',
  'reason',
  'grantId',
  'drawnFrom',
  'holdId',
];

/** Every field of an entry, in order: the columns of a history as CSV. */
export const HISTORY_FIELDS: ReadonlyArray<keyof HistoryEntry> = [
  ...MOVEMENT_FIELDS.slice(0, 5),
  'balanceAfter',
  'frozenCreditsAfter',
  'heldCreditsAfter',
  ...MOVEMENT_FIELDS.slice(5),
  'paidCredits',
  'promotionalCredits',
];

/** Where a replay stops: before the first event after a moment, or after a version. Neither: the whole stream. */
export type HistoryStop = { asOf?: string; atVersion?: number };

export type History = { entries: HistoryEntry[]; balance: number; frozenCredits: number; version: number };

/**
 * Replays a stream with the domain's own `evolve`, keeping each event's
 * entry, until the stop: the balance it ends at is the balance at that
 * moment. A moment compares with when each command was decided.
 */
export function historyOf(events: Iterable<RecordedCreditsEvent>, stop: HistoryStop = {}): History {
  const asOf = stop.asOf === undefined ? undefined : Date.parse(stop.asOf);
  const entries: HistoryEntry[] = [];
  let state: CreditsState = initialState();
  for (const event of events) {
    if (stop.atVersion !== undefined && event.streamVersion > stop.atVersion) break;
    if (asOf !== undefined && Date.parse(event.metadata.occurredAt) > asOf) break;
    const before = state;
    state = evolve(state, event);
    entries.push(entryOf(event, before, state));
  }
  return { entries, balance: state.balance, frozenCredits: state.frozenCredits, version: state.version };
}

function entryOf(event: RecordedCreditsEvent, before: CreditsState, after: CreditsState): HistoryEntry {
  // A hold's capture is its consumption: what it consumed is split as a consumption's draws are.
  const consumes = event.type === 'CreditsConsumed' || event.type === 'HoldCaptured';
  const drawn = consumes ? drawnByCategory(before, after) : undefined;
  return {
    ...movementOf(event),
    balanceAfter: after.balance,
    frozenCreditsAfter: after.frozenCredits,
    heldCreditsAfter: after.grants.held,
    paidCredits: drawn?.paid ?? null,
    promotionalCredits: drawn?.promotional ?? null,
  };
}

/** What a consumption drew from grants of each category: their `spent` before and after it. */
function drawnByCategory(before: CreditsState, after: CreditsState): Record<GrantCategory, number> {
  const drawn: Record<GrantCategory, number> = { paid: 0, promotional: 0 };
  const changed = (grant: Grant, spentBefore: number) => (drawn[grant.category] += grant.spent - spentBefore);
  diffAgainst(
    after.grants.byId,
    before.grants.byId,
    (_, grant) => void changed(grant, 0),
    undefined,
    (_, grant, previous) => void changed(grant, previous.spent),
  );
  return drawn;
}

/** What one event moved and why, without the state around it. */
export function movementOf(event: RecordedCreditsEvent): Movement {
  const { causedBy } = event.metadata;
  return {
    version: event.streamVersion,
    position: event.globalPosition,
    occurredAt: event.metadata.occurredAt,
    type: event.type,
    delta: balanceDelta(event),
    idempotencyKey: event.metadata.idempotencyKey,
    apiKey: causedBy?.apiKey ?? null,
    stripeEventId: causedBy?.stripeEventId ?? null,
    ...descriptionOf(event),
  };
}
