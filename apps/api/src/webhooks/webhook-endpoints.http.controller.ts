import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { OutboundWebhooksConfig } from '@libs/config';
import type { SqlDriver } from '@libs/event-store';
import { ProblemException } from '@libs/http';
import {
  READ_MODEL_DB,
  type WebhookEndpoint,
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  findWebhookEndpoint,
  listWebhookEndpoints,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from '@projections';
import { RequiresScope } from '../auth/api-key.guard';
import { UuidPipe } from './uuid.pipe';
import { CreateWebhookEndpointRequest, UpdateWebhookEndpointRequest } from './webhook-endpoint.request.dto';
import { assertRegistrableUrl } from './webhook-url.guard';

export const OUTBOUND_WEBHOOKS_CONFIG = Symbol('OUTBOUND_WEBHOOKS_CONFIG');

/** Operators' endpoints for outbound webhooks. A secret is shown once: when made, and when rotated. */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/admin/webhook-endpoints')
export class WebhookEndpointsHttpController {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(OUTBOUND_WEBHOOKS_CONFIG) private readonly config: OutboundWebhooksConfig,
  ) {}

  @Post()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Register an endpoint; its signing secret is in this answer only' })
  @ApiResponse({ status: 201, description: '{ ...endpoint, secret }' })
  @ApiResponse({ status: 422, description: 'webhook-url-refused: scheme, credentials, or an address not allowed' })
  async create(@Body() body: CreateWebhookEndpointRequest): Promise<WebhookEndpoint & { secret: string }> {
    await assertRegistrableUrl(body.url, this.config.allowPrivateUrls);
    const { endpoint, secret } = await createWebhookEndpoint(this.db, body);
    return { ...endpoint, secret };
  }

  @Get()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Every endpoint, oldest first (no secrets)' })
  async list(): Promise<{ endpoints: WebhookEndpoint[] }> {
    return { endpoints: await listWebhookEndpoints(this.db) };
  }

  @Get(':id')
  @RequiresScope('admin')
  @ApiOperation({ summary: 'One endpoint (no secret)' })
  async get(@Param('id', UuidPipe) id: string): Promise<WebhookEndpoint> {
    return found(id, await findWebhookEndpoint(this.db, id));
  }

  @Patch(':id')
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Change its URL, events or description; pause it, or enable it again' })
  async update(
    @Param('id', UuidPipe) id: string,
    @Body() body: UpdateWebhookEndpointRequest,
  ): Promise<WebhookEndpoint> {
    if (body.url !== undefined) await assertRegistrableUrl(body.url, this.config.allowPrivateUrls);
    return found(id, await updateWebhookEndpoint(this.db, id, body));
  }

  @Delete(':id')
  @RequiresScope('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove an endpoint and its deliveries' })
  async remove(@Param('id', UuidPipe) id: string): Promise<void> {
    if (!(await deleteWebhookEndpoint(this.db, id))) found(id, undefined);
  }

  @Post(':id/rotate-secret')
  @RequiresScope('admin')
  @HttpCode(200)
  @ApiOperation({
    summary: 'A new signing secret, in this answer only; the old one keeps signing beside it for the overlap',
  })
  async rotate(@Param('id', UuidPipe) id: string): Promise<WebhookEndpoint & { secret: string }> {
    const rotated = found(id, await rotateWebhookSecret(this.db, id, this.config.secretOverlapSeconds));
    return { ...rotated.endpoint, secret: rotated.secret };
  }
}

function found<T>(id: string, value: T | undefined): T {
  if (value === undefined) {
    throw ProblemException.of(404, 'webhook-endpoint-not-found', 'Webhook endpoint not found', {
      detail: `no endpoint ${id}`,
    });
  }
  return value;
}
