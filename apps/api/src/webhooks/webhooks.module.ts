import { type DynamicModule, Module } from '@nestjs/common';
import type { BalanceAlertsConfig, OutboundWebhooksConfig } from '@libs/config';
import { BALANCE_ALERTS_CONFIG, BalanceAlertsHttpController } from './balance-alerts.http.controller';
import { WebhookDeliveriesHttpController } from './webhook-deliveries.http.controller';
import { OUTBOUND_WEBHOOKS_CONFIG, WebhookEndpointsHttpController } from './webhook-endpoints.http.controller';

/** Operators' side of outbound webhooks; the dispatcher runs beside the projector. Needs StoresModule. */
@Module({})
export class WebhooksModule {
  static forRoot(config: OutboundWebhooksConfig, alerts: BalanceAlertsConfig): DynamicModule {
    return {
      module: WebhooksModule,
      controllers: [WebhookEndpointsHttpController, WebhookDeliveriesHttpController, BalanceAlertsHttpController],
      providers: [
        { provide: OUTBOUND_WEBHOOKS_CONFIG, useValue: config },
        { provide: BALANCE_ALERTS_CONFIG, useValue: alerts },
      ],
    };
  }
}
