import { randomUUID } from 'node:crypto';
import type { SqlDriver } from '@libs/event-store';
import type { WebhookDispatchConfig } from '@libs/config';
import { type RetryPolicy, dueWebhookDeliveries, recordWebhookAttempt } from './webhook-deliveries.repository';
import { enabledWebhookEndpointIds, leaseWebhookEndpoint, releaseWebhookLease } from './webhook-endpoints.repository';
import { sendWebhook } from './webhook-sender';

export type DispatcherLog = {
  error(message: string, details?: Record<string, unknown>): void;
  /** Each attempt's outcome, for the metrics. */
  attempted?(delivered: boolean): void;
};

/** What one round of an endpoint did. */
export type DispatchRound = { delivered: number; failed: number };

/**
 * Sends the outbox's deliveries. Every `pollMs` it looks at the enabled endpoints; for each one it is not
 * already working on, it takes the endpoint's lease (one dispatcher per endpoint across processes) and sends
 * what is due, up to `concurrencyPerEndpoint` at once, each to another user. Endpoints are worked on apart:
 * a slow or dead one never holds the others up. A crash between a send and its record sends it again, with
 * the same delivery id (at least once).
 */
export class WebhookDispatcher {
  private readonly owner = `dispatcher-${randomUUID()}`;
  /** The endpoints with rounds running here, and whether one should look again before it ends. */
  private readonly working = new Map<string, { again: boolean; done: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  /** A look is due at once: more wakes until it starts add nothing (the projector wakes it after each batch). */
  private wakePending = false;
  private stopped = true;

  constructor(
    private readonly db: SqlDriver,
    private readonly config: WebhookDispatchConfig,
    private readonly log: DispatcherLog,
  ) {}

  start(): void {
    if (this.config.pollMs === 0 || !this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.working.values()].map((work) => work.done));
  }

  /** Looks now rather than at the next poll: the outbox has just queued deliveries. */
  wake(): void {
    if (this.stopped || this.wakePending) return;
    this.wakePending = true;
    this.schedule(0);
  }

  private schedule(delayMs = this.config.pollMs): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakePending = false;
      this.poll()
        .catch((error: unknown) => this.log.error('webhook dispatch failed', { error: (error as Error).message }))
        .finally(() => {
          if (this.timer === undefined) this.schedule();
        });
    }, delayMs);
  }

  /** Starts a round for each enabled endpoint that has none running here. */
  async poll(): Promise<void> {
    for (const endpointId of await enabledWebhookEndpointIds(this.db)) {
      if (this.working.has(endpointId)) {
        // A round is on: it looks again for what came since before it ends.
        this.working.get(endpointId)!.again = true;
        continue;
      }
      const work = { again: false, done: Promise.resolve() };
      work.done = this.rounds(endpointId, work)
        .catch((error: unknown) =>
          this.log.error('webhook endpoint round failed', { endpointId, error: (error as Error).message }),
        )
        .finally(() => this.working.delete(endpointId));
      this.working.set(endpointId, work);
    }
  }

  /** Rounds for one endpoint while they find work, or were told more came. */
  private async rounds(endpointId: string, work: { again: boolean }): Promise<void> {
    for (;;) {
      work.again = false;
      const round = await this.round(endpointId);
      if (this.stopped || (round.delivered + round.failed === 0 && !work.again)) return;
    }
  }

  /** Sends what is due to one endpoint, if this process holds (or takes) its lease. */
  async round(endpointId: string): Promise<DispatchRound> {
    // Asking is cheap and harmless; only sending needs the lease (an idle endpoint's row is not written).
    const due = await dueWebhookDeliveries(this.db, endpointId, this.config.concurrencyPerEndpoint);
    if (due.length === 0) return { delivered: 0, failed: 0 };
    const target = await leaseWebhookEndpoint(this.db, endpointId, this.owner, this.config.leaseMs);
    if (target === undefined) return { delivered: 0, failed: 0 };
    const outcomes = await Promise.all(
      due.map(async (delivery) => {
        const outcome = await sendWebhook(target, JSON.stringify(delivery.payload), this.config);
        await recordWebhookAttempt(this.db, { id: delivery.id, endpointId }, outcome, this.retryPolicy());
        this.log.attempted?.(outcome.delivered);
        return outcome.delivered;
      }),
    );
    if (this.stopped) await releaseWebhookLease(this.db, endpointId, this.owner);
    const delivered = outcomes.filter(Boolean).length;
    return { delivered, failed: outcomes.length - delivered };
  }

  private retryPolicy(): RetryPolicy {
    const { retryBaseMs, retryMaxDelayMs, retryMaxAgeSeconds, disableAfterFailures } = this.config;
    return {
      baseDelayMs: retryBaseMs,
      maxDelayMs: retryMaxDelayMs,
      maxAgeMs: retryMaxAgeSeconds * 1000,
      disableAfterFailures,
    };
  }
}
