import { Controller, Headers, HttpCode, Logger, Post, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ProblemException, Public } from '@libs/http';
import type { Request } from 'express';
import type { StripeEventEnvelope } from '@libs/stripe';
import { StripeIngestion } from '../stripe-ingestion.service';
import { StripeMetrics } from '../stripe-metrics';
import { StripeWebhookVerifier } from './stripe-webhook.verifier';

export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

/**
 * Stripe's deliveries. No API key: the signature authenticates. 200 only once
 * the outcome is durable; any other failure is 503 so that Stripe retries
 * (the ledger is idempotent by payment id, so a retry never credits twice).
 */
@ApiExcludeController()
@Controller(STRIPE_WEBHOOK_PATH.slice(1))
export class StripeWebhookHttpController {
  private readonly logger = new Logger(StripeWebhookHttpController.name);

  constructor(
    private readonly verifier: StripeWebhookVerifier,
    private readonly ingestion: StripeIngestion,
    private readonly metrics: StripeMetrics,
  ) {}

  @Post()
  @Public()
  @HttpCode(200)
  async receive(@Req() request: Request, @Headers('stripe-signature') signature: string | undefined) {
    const event = this.verifiedOrCounted(request.body, signature);
    try {
      const outcome = await this.ingestion.receive(event);
      this.metrics.deliveries.inc({ event_type: event.type, outcome: outcome.status });
      return { eventId: event.id, ...outcome };
    } catch (error) {
      this.metrics.deliveries.inc({ event_type: event.type, outcome: 'error' });
      this.logger.error({ err: error, stripeEventId: event.id, stripeEventType: event.type }, 'Stripe delivery failed');
      throw ProblemException.of(503, 'stripe-delivery-failed', 'Stripe delivery not processed', {
        detail: 'a transient failure stopped this delivery; Stripe retries it, and a retry credits at most once',
      });
    }
  }

  /** A delivery that does not verify has no trustworthy type: it is counted as `unknown`. */
  private verifiedOrCounted(body: unknown, signature: string | undefined): StripeEventEnvelope {
    try {
      return this.verifier.verify(body, signature);
    } catch (error) {
      this.metrics.deliveries.inc({ event_type: 'unknown', outcome: 'rejected' });
      throw error;
    }
  }
}
