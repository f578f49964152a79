import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { OUTBOUND_WEBHOOKS_DESCRIPTION } from './webhooks/webhook-payloads.openapi';
import type { ApiKey, AppConfig } from '@libs/config';
import type { EventStore } from '@libs/event-store';
import { acceptJsonBodies, acceptRawBodiesAt, answerClientErrorsAsProblems } from '@libs/http';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { STRIPE_WEBHOOK_PATH } from './stripe/receive-webhook/stripe-webhook.http.controller';

/**
 * Builds the API (not yet listening): used by main.ts and by the end-to-end
 * tests, which may give a `kurrentDbStore` (KurrentDB over a model of its client).
 */
export async function createApp(
  config: AppConfig,
  apiKeys: readonly ApiKey[],
  options: { kurrentDbStore?: EventStore } = {},
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, apiKeys, options), {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  answerClientErrorsAsProblems(app.getHttpServer());
  acceptRawBodiesAt(app, STRIPE_WEBHOOK_PATH);
  acceptJsonBodies(app);
  app.disable('x-powered-by');
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Credits ledger')
      .setDescription('Prepaid usage credits: consume, grant, recharge, audit. Errors are RFC 9457 problem details.')
      .setVersion('1')
      .addBearerAuth()
      .addTag('webhooks', OUTBOUND_WEBHOOKS_DESCRIPTION)
      .build(),
  );
  SwaggerModule.setup('docs', app, document);
  await app.init();
  return app;
}
