import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { WebhookDispatchConfig } from '@libs/config';
import type { SqlDriver } from '@libs/event-store';
import { MetricsRegistry } from '@libs/http';
import { Counter, Gauge } from 'prom-client';
import { READ_MODEL_DB } from '../stores.module';
import { webhookQueueFigures } from './webhook-deliveries.repository';
import { WebhookDispatcher } from './webhook-dispatcher';

export const WEBHOOK_DISPATCH_CONFIG = Symbol('WEBHOOK_DISPATCH_CONFIG');

/** Runs the webhook dispatcher in this process, beside the projector whose outbox it sends. */
@Injectable()
export class WebhookDispatchLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WebhookDispatcher');
  readonly dispatcher: WebhookDispatcher;

  constructor(
    @Inject(READ_MODEL_DB) db: SqlDriver,
    @Inject(WEBHOOK_DISPATCH_CONFIG) config: WebhookDispatchConfig,
    registry: MetricsRegistry,
  ) {
    const attempts = new Counter({
      name: 'credits_webhook_attempts_total',
      help: 'Outbound webhook requests sent by this process, by outcome (delivered or failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    this.dispatcher = new WebhookDispatcher(db, config, {
      error: (message, details) => this.logger.error({ ...details, msg: message }),
      attempted: (delivered) => attempts.inc({ outcome: delivered ? 'delivered' : 'failed' }),
    });
    registerQueueGauges(db, registry);
  }

  onApplicationBootstrap(): void {
    this.dispatcher.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher.stop();
  }
}

/** What the queue holds, read at each scrape; a database error leaves the gauges unset. */
function registerQueueGauges(db: SqlDriver, registry: MetricsRegistry): void {
  type Figures = Awaited<ReturnType<typeof webhookQueueFigures>>;
  let figures: Promise<Figures | undefined> | undefined;
  let readAt = 0;
  // One read serves the three gauges of one scrape.
  const read = () => {
    if (figures === undefined || Date.now() - readAt > 1000) {
      figures = webhookQueueFigures(db).catch(() => undefined);
      readAt = Date.now();
    }
    return figures;
  };
  const gauge = (name: string, help: string, pick: (read: Figures) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const current = await read();
        if (current !== undefined) this.set(pick(current));
      },
    });
  gauge('credits_webhook_deliveries_pending', 'Outbound deliveries queued and not yet delivered', (f) => f.pending);
  gauge(
    'credits_webhook_oldest_pending_seconds',
    'Age of the oldest outbound delivery not yet delivered (0: none)',
    (f) => f.oldestPendingSeconds,
  );
  gauge('credits_webhook_deliveries_failed', 'Outbound deliveries whose retries ran out', (f) => f.failed);
  gauge('credits_webhook_endpoints_disabled', 'Webhook endpoints disabled after a run of failures', (f) => f.disabled);
}
