import { type DynamicModule, Module, ValidationPipe } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import type { ApiKey, AppConfig } from '@libs/config';
import type { EventStore } from '@libs/event-store';
import { HttpConventionsModule, ProblemException } from '@libs/http';
import { ProjectorModule, StoresModule } from '@projections';
import { LoggerModule } from 'nestjs-pino';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import type { AuthenticatedRequest } from './auth/api-key.guard';
import { CreditsModule } from './credits/credits.module';
import { HealthCheckModule } from './health-check/health-check.module';
import { StripeModule } from './stripe/stripe.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class AppModule {
  /** `kurrentDbStore`: stands in for the KurrentDB store of `config.eventStore` (tests where no server runs). */
  static forRoot(
    config: AppConfig,
    apiKeys: readonly ApiKey[],
    options: { kurrentDbStore?: EventStore } = {},
  ): DynamicModule {
    // One object, imported here and by the health check: one StripeModule (see ConfiguredStripeModule).
    const stripe = StripeModule.forRoot(config.stripe);
    return {
      module: AppModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
            customProps: (request) => ({ apiKey: (request as AuthenticatedRequest).apiKey?.name }),
          },
        }),
        CqrsModule.forRoot(),
        StoresModule.forRoot(config.eventStore, options),
        // ROLE=all: the projector runs here too; ROLE=api leaves it to a projector process.
        ...(config.role === 'all' ? [ProjectorModule.forRoot(config.projector)] : []),
        HttpConventionsModule,
        AuthModule.forRoot(apiKeys),
        CreditsModule.forRoot({
          priceList: config.priceList,
          commandRetriesMax: config.commandRetriesMax,
          readYourWritesTimeoutMs: config.readYourWritesTimeoutMs,
          holdExpiresInMaxSeconds: config.holdExpiresInMaxSeconds,
        }),
        stripe,
        AuditModule,
        WebhooksModule.forRoot(config.outboundWebhooks, config.projector.balanceAlerts),
        HealthCheckModule.forRoot(config, stripe),
      ],
      providers: [{ provide: APP_PIPE, useValue: validationPipe() }],
    };
  }
}

/** Validation happens once, here, from the DTOs; unknown fields are refused. */
function validationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) =>
      ProblemException.of(400, 'invalid-request', 'Invalid request', {
        detail: 'the request body does not match the schema',
        errors: errors.flatMap((error) =>
          Object.values(error.constraints ?? {}).map((message) => ({ field: error.property, message })),
        ),
      }),
  });
}
