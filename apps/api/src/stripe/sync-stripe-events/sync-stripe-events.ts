import type { StripeEventEnvelope } from '@libs/stripe';
import { storableInPostgres } from '@libs/http';
import { DELIVERY_STATUSES, type DeliveryOutcome, type DeliveryStatus } from '@projections';
import type Stripe from 'stripe';
import type { StripeIngestion } from '../stripe-ingestion.service';
import { RetryLaterError } from '../retry-later.error';
import type { SyncOptions } from './sync-stripe-events.arguments';

/** Stripe's largest page. */
export const STRIPE_PAGE_LIMIT = 100;
/** A bound on the ids held in memory (about 100 bytes each): more means a narrower --since or --types. */
export const SYNC_EVENTS_MAX = 1_000_000;

export type SyncDependencies = {
  stripe: Stripe;
  ingestion: Pick<StripeIngestion, 'receive'>;
  /** One line per event, then the summary. */
  log: (line: string) => void;
};

export type SyncSummary = {
  eventsSeen: number;
  outcomes: Record<Exclude<DeliveryStatus, 'received'>, number>;
};

/** An event as listed: enough to put it in order and fetch it again when its turn comes. */
export type ListedEvent = { id: string; created: number };

/**
 * Recovers the events Stripe could not deliver: lists every event since
 * `since` through Stripe's API and feeds each, oldest first, through the
 * webhook's own ingestion. Each payment credits once however often it is
 * fed, so running the sync twice (or while webhooks arrive) credits nothing
 * new. Stripe errors (bad key, unreachable API) are thrown: nothing to sync.
 */
export async function syncStripeEvents(dependencies: SyncDependencies, options: SyncOptions): Promise<SyncSummary> {
  return feedListedEvents(dependencies, await listEventsOldestFirst(dependencies.stripe, options), options);
}

/** The second half of the sync, apart so that the CLI lists (and fails on a bad key) before it opens the database. */
export async function feedListedEvents(
  dependencies: SyncDependencies,
  listed: readonly ListedEvent[],
  options: SyncOptions,
): Promise<SyncSummary> {
  const outcomes = Object.fromEntries(
    DELIVERY_STATUSES.filter((status) => status !== 'received').map((status) => [status, 0]),
  ) as SyncSummary['outcomes'];
  for (const { id } of listed) {
    // Fetched one at a time so that memory holds ids, not 30 days of payloads.
    // Stored as the webhook stores it: strings PostgreSQL cannot hold are rewritten, reversibly.
    const event: StripeEventEnvelope = storableInPostgres(await dependencies.stripe.events.retrieve(id));
    const outcome = await receiveInOrder(dependencies, event);
    outcomes[outcome.status] += 1;
    dependencies.log(eventLine(event, outcome));
  }
  dependencies.log(summaryLine(listed.length, outcomes, options));
  return { eventsSeen: listed.length, outcomes };
}

/** Stripe lists newest first; a refund must come after the payment it refunds, so the list is turned around. */
export async function listEventsOldestFirst(stripe: Stripe, options: SyncOptions): Promise<ListedEvent[]> {
  const listed: ListedEvent[] = [];
  const pages = stripe.events.list({
    created: { gte: Math.floor(options.since.getTime() / 1000) },
    limit: STRIPE_PAGE_LIMIT,
    ...(options.types === undefined ? {} : { types: options.types }),
  });
  for await (const event of pages) {
    if (listed.length === SYNC_EVENTS_MAX) {
      throw new Error(`more than ${SYNC_EVENTS_MAX} events to sync: narrow --since or --types`);
    }
    listed.push({ id: event.id, created: event.created });
  }
  // Reversed, then a stable sort: events of the same second keep Stripe's order between them.
  return listed.reverse().sort((a, b) => a.created - b.created);
}

/**
 * The webhook's path. A refund whose payment the read model does not show
 * even after the ingestion's bounded wait is recorded as failed by the
 * ingestion: an operator reprocesses it, or the next sync does.
 */
async function receiveInOrder(dependencies: SyncDependencies, event: StripeEventEnvelope): Promise<DeliveryOutcome> {
  try {
    return await dependencies.ingestion.receive(event);
  } catch (error) {
    if (error instanceof RetryLaterError) return { status: 'failed', reason: error.message };
    throw error;
  }
}

function eventLine(event: StripeEventEnvelope, outcome: DeliveryOutcome): string {
  const user = outcome.userId === undefined ? '' : ` ${outcome.userId}`;
  const reason = outcome.reason === undefined ? '' : ` (${outcome.reason})`;
  return `${event.id} ${event.type} ${outcome.status}${user}${reason}`;
}

function summaryLine(eventsSeen: number, outcomes: SyncSummary['outcomes'], options: SyncOptions): string {
  const counts = Object.entries(outcomes)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`);
  const types = options.types === undefined ? '' : ` of types ${options.types.join(', ')}`;
  const tally = counts.length === 0 ? '' : `: ${counts.join(', ')}`;
  return `synced ${eventsSeen} Stripe events${types} since ${options.since.toISOString()}${tally}`;
}
