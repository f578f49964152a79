import { type DynamicModule, Module } from '@nestjs/common';
import type { StripeConfig } from '@libs/config';
import { StripeWebhookHttpController } from './receive-webhook/stripe-webhook.http.controller';
import { STRIPE_WEBHOOK_SECRETS, StripeWebhookVerifier } from './receive-webhook/stripe-webhook.verifier';
import { CreateCheckoutSessionHttpController } from './create-checkout-session/create-checkout-session.http.controller';
import { STRIPE_API, stripeApiClient } from './stripe-api.client';
import { StripeDeliveriesHttpController } from './stripe-deliveries/stripe-deliveries.http.controller';
import { STRIPE_CATALOG, StripeIngestion } from './stripe-ingestion.service';
import { RechargesLookup } from './recharges-lookup';
import { StripeMetrics } from './stripe-metrics';
import { REFUND_SHORTFALL, StripeReversals } from './stripe-reversals';
import { UnmatchedPayments } from './unmatched-payments/unmatched-payments';
import { UnmatchedPaymentsHttpController } from './unmatched-payments/unmatched-payments.http.controller';
import { AutoTopUpHttpController } from './top-up/auto-top-up.http.controller';
import { AUTO_TOP_UP_CONFIG, TopUpLoop } from './top-up/top-up.loop';

/**
 * StripeModule as configured for one application. Nest keeps one instance of
 * a dynamic module per object (module ids are by reference): a module that
 * needs it imports this very object, never a second `forRoot`, which would
 * make a second StripeIngestion and register the webhook's routes twice.
 */
export type ConfiguredStripeModule = DynamicModule & { module: typeof StripeModule };

/** Stripe's webhook, the operators' delivery list and the parked payments. */
@Module({})
export class StripeModule {
  static forRoot(config: StripeConfig): ConfiguredStripeModule {
    return {
      module: StripeModule,
      // For the health check, which compares payments through the same client and reads the parked payments.
      exports: [STRIPE_API, UnmatchedPayments],
      controllers: [
        StripeWebhookHttpController,
        StripeDeliveriesHttpController,
        UnmatchedPaymentsHttpController,
        CreateCheckoutSessionHttpController,
        AutoTopUpHttpController,
      ],
      providers: [
        { provide: STRIPE_WEBHOOK_SECRETS, useValue: config.webhookSecrets },
        { provide: STRIPE_CATALOG, useValue: config.catalog },
        { provide: REFUND_SHORTFALL, useValue: config.refundShortfall },
        { provide: STRIPE_API, useFactory: () => stripeApiClient(config) },
        { provide: AUTO_TOP_UP_CONFIG, useValue: config.autoTopUp },
        TopUpLoop,
        StripeReversals,
        RechargesLookup,
        StripeMetrics,
        StripeWebhookVerifier,
        StripeIngestion,
        UnmatchedPayments,
      ],
    };
  }
}
