import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ProblemException } from '@libs/http';
import { DELIVERY_STATUSES, type DeliveryStatus, READ_MODEL_DB, pageDeliveries } from '@projections';
import { Inject } from '@nestjs/common';
import type { SqlDriver } from '@libs/event-store';
import { RequiresScope } from '../../auth/api-key.guard';
import {
  PAGE_LIMIT_DEFAULT,
  PAGE_LIMIT_MAX,
  decodeCursor,
  encodeCursor,
  wholeNumberParameter,
} from '../../credits/paging.http';
import { StripeIngestion } from '../stripe-ingestion.service';

const DELIVERIES_CURSOR = 'stripe-deliveries';

/** Every verified Stripe delivery with its outcome, for operators; one can be processed again. */
@ApiTags('stripe')
@ApiBearerAuth()
@Controller('v1/admin/stripe/events')
export class StripeDeliveriesHttpController {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly ingestion: StripeIngestion,
  ) {}

  @Get()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Stripe deliveries, newest first, by outcome and event type' })
  @ApiQuery({ name: 'status', required: false, enum: DELIVERY_STATUSES })
  @ApiQuery({ name: 'type', required: false, description: 'A Stripe event type, e.g. invoice.paid' })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the previous page' })
  async list(
    @Query('status') status: string | undefined,
    @Query('type') eventType: string | undefined,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
  ) {
    if (status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(status)) {
      throw ProblemException.of(400, 'invalid-request', 'Invalid request', {
        detail: `status must be one of ${DELIVERY_STATUSES.join(', ')}`,
      });
    }
    const page = await pageDeliveries(this.db, {
      status: status as DeliveryStatus | undefined,
      eventType,
      beforeSequence: decodeCursor(DELIVERIES_CURSOR, cursor),
      limit: wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
    });
    const next = page.nextBeforeSequence;
    return {
      events: page.deliveries,
      nextCursor: next === undefined ? null : encodeCursor(DELIVERIES_CURSOR, next),
    };
  }

  @Post(':eventId/reprocess')
  @RequiresScope('admin')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Process a failed, ignored or unfinished delivery again (a payment is still credited once)',
  })
  async reprocess(@Param('eventId') eventId: string) {
    const outcome = await this.ingestion.reprocess(eventId);
    if (outcome === undefined) {
      throw ProblemException.of(404, 'stripe-event-not-found', 'Stripe event not found', {
        detail: `no delivery of ${eventId} was received`,
      });
    }
    if (outcome === 'applied') {
      throw ProblemException.of(409, 'stripe-event-already-applied', 'Stripe event already applied', {
        detail: `${eventId} already moved credits or parked its payment: only failed, ignored or unfinished deliveries are reprocessed`,
      });
    }
    return { eventId, ...outcome };
  }
}
