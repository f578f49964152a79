import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '@libs/config';
import type { ConfiguredStripeModule } from '../stripe/stripe.module';
import { HealthCheckHttpController } from './health-check.http.controller';
import { HEALTH_CHECK_CONFIG, HealthCheck } from './health-check.service';

/** The health check and repair, for operators (`GET /v1/admin/health-check`) and `npm run health`. */
@Module({})
export class HealthCheckModule {
  /** `stripe`: the application's StripeModule, for its Stripe client (STRIPE_API) and its parked payments. */
  static forRoot(config: AppConfig, stripe: ConfiguredStripeModule): DynamicModule {
    return {
      module: HealthCheckModule,
      imports: [stripe],
      controllers: [HealthCheckHttpController],
      providers: [{ provide: HEALTH_CHECK_CONFIG, useValue: config }, HealthCheck],
    };
  }
}
