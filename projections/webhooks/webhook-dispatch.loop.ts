import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { WebhookDispatchConfig } from '@libs/config';
import type { SqlDriver } from '@libs/event-store';
import { READ_MODEL_DB } from '../stores.module';
import { WebhookDispatcher } from './webhook-dispatcher';

export const WEBHOOK_DISPATCH_CONFIG = Symbol('WEBHOOK_DISPATCH_CONFIG');

/** Runs the webhook dispatcher in this process, beside the projector whose outbox it sends. */
@Injectable()
export class WebhookDispatchLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WebhookDispatcher');
  readonly dispatcher: WebhookDispatcher;

  constructor(@Inject(READ_MODEL_DB) db: SqlDriver, @Inject(WEBHOOK_DISPATCH_CONFIG) config: WebhookDispatchConfig) {
    this.dispatcher = new WebhookDispatcher(db, config, {
      error: (message, details) => this.logger.error({ ...details, msg: message }),
    });
  }

  onApplicationBootstrap(): void {
    this.dispatcher.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher.stop();
  }
}
