import { Injectable } from '@nestjs/common';
import { MetricsRegistry } from '@libs/http';
import { Counter } from 'prom-client';

/** Metrics of Stripe's webhook, on the app's registry (served at /metrics). */
@Injectable()
export class StripeMetrics {
  readonly deliveries: Counter<'event_type' | 'outcome'>;

  constructor(registry: MetricsRegistry) {
    this.deliveries = new Counter({
      name: 'stripe_webhook_deliveries_total',
      help:
        'Stripe webhook deliveries, by event type and outcome (credited, debited, frozen, unfrozen, duplicate, ' +
        'ignored, parked, failed; rejected: the signature did not verify; error: answered 503 for Stripe to retry)',
      labelNames: ['event_type', 'outcome'] as const,
      registers: [registry],
    });
  }
}
