import { type DynamicModule, Module } from '@nestjs/common';
import type { OutboundWebhooksConfig } from '@libs/config';
import { WebhookDeliveriesHttpController } from './webhook-deliveries.http.controller';
import { OUTBOUND_WEBHOOKS_CONFIG, WebhookEndpointsHttpController } from './webhook-endpoints.http.controller';

/** Operators' side of outbound webhooks; the dispatcher runs beside the projector. Needs StoresModule. */
@Module({})
export class WebhooksModule {
  static forRoot(config: OutboundWebhooksConfig): DynamicModule {
    return {
      module: WebhooksModule,
      controllers: [WebhookEndpointsHttpController, WebhookDeliveriesHttpController],
      providers: [{ provide: OUTBOUND_WEBHOOKS_CONFIG, useValue: config }],
    };
  }
}
