import { Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { SqlDriver } from '@libs/event-store';
import { ProblemException } from '@libs/http';
import {
  READ_MODEL_DB,
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
  pageWebhookDeliveries,
  redeliverWebhook,
} from '@projections';
import { RequiresScope } from '../auth/api-key.guard';
import { UuidPipe } from './uuid.pipe';
import {
  PAGE_LIMIT_DEFAULT,
  PAGE_LIMIT_MAX,
  decodeCursor,
  encodeCursor,
  wholeNumberParameter,
} from '../credits/paging.http';

const DELIVERIES_CURSOR = 'webhook-deliveries';
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The log of outbound deliveries, newest first; one can be sent again. */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/admin/webhook-deliveries')
export class WebhookDeliveriesHttpController {
  constructor(@Inject(READ_MODEL_DB) private readonly db: SqlDriver) {}

  @Get()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Deliveries, newest first, by endpoint and status' })
  @ApiQuery({ name: 'endpoint', required: false, description: 'An endpoint id' })
  @ApiQuery({ name: 'status', required: false, enum: WEBHOOK_DELIVERY_STATUSES })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the previous page' })
  async list(
    @Query('endpoint') endpointId: string | undefined,
    @Query('status') status: string | undefined,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
  ): Promise<{ deliveries: WebhookDelivery[]; nextCursor: string | null }> {
    if (endpointId !== undefined && !UUID_PATTERN.test(endpointId)) invalid('endpoint must be an endpoint id');
    if (status !== undefined && !(WEBHOOK_DELIVERY_STATUSES as readonly string[]).includes(status)) {
      invalid(`status must be one of ${WEBHOOK_DELIVERY_STATUSES.join(', ')}`);
    }
    const page = await pageWebhookDeliveries(this.db, {
      endpointId,
      status: status as WebhookDeliveryStatus | undefined,
      beforeSequence: decodeCursor(DELIVERIES_CURSOR, cursor),
      limit: wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
    });
    const next = page.nextBeforeSequence;
    return {
      deliveries: page.deliveries,
      nextCursor: next === undefined ? null : encodeCursor(DELIVERIES_CURSOR, next),
    };
  }

  @Post(':id/redeliver')
  @RequiresScope('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send a delivery again, now, with the same id (its endpoint must be enabled)' })
  async redeliver(@Param('id', UuidPipe) id: string): Promise<WebhookDelivery> {
    const delivery = await redeliverWebhook(this.db, id);
    if (delivery === undefined) {
      throw ProblemException.of(404, 'webhook-delivery-not-found', 'Webhook delivery not found', {
        detail: `no delivery ${id}`,
      });
    }
    return delivery;
  }
}

function invalid(detail: string): never {
  throw ProblemException.of(400, 'invalid-request', 'Invalid request', { detail });
}
