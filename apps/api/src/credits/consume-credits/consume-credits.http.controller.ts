import { Body, Controller, Headers, HttpCode, Param, Post, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Causation } from '@libs/credits';
import { RequiresScope } from '../../auth/api-key.guard';
import { CausedBy } from '../../auth/caused-by.decorator';
import { CreditsMovementResponse, UserIdPipe, runMovement, idempotencyKeyFrom } from '../credits.http';
import { ConsumeCreditsCommand } from './consume-credits.command';
import { ConsumeCreditsRequest } from './consume-credits.request.dto';
import { PreviewRequest, PreviewResponse } from '../holds/holds.dto';
import { type PreviewAnswer, PreviewQuery } from '../holds/preview.handler';

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/consumptions')
export class ConsumeCreditsHttpController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post()
  @RequiresScope('consume')
  @ApiOperation({ summary: 'Spend credits on a feature, priced by the price list' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Defaults to the feature and reference' })
  @ApiResponse({ status: 201, type: CreditsMovementResponse, description: 'Consumed' })
  @ApiResponse({ status: 200, type: CreditsMovementResponse, description: 'Replay of an earlier identical request' })
  @ApiResponse({ status: 402, description: 'insufficient-credits' })
  @ApiResponse({ status: 404, description: 'unknown-feature' })
  @ApiResponse({ status: 409, description: 'idempotency-key-reused' })
  async consume(
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: ConsumeCreditsRequest,
    @Headers('idempotency-key') idempotencyKeyHeader: string | undefined,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<CreditsMovementResponse> {
    const idempotencyKey = idempotencyKeyFrom(idempotencyKeyHeader, { required: false });
    const command = new ConsumeCreditsCommand(
      userId,
      body.feature,
      body.reference,
      body.amount,
      body.metadata ?? {},
      idempotencyKey,
      causedBy,
    );
    return runMovement(this.commandBus, command, response);
  }

  @Post('preview')
  @RequiresScope('consume')
  @ApiOperation({ summary: 'Whether a consumption would succeed now, its price and grants; writes nothing' })
  @ApiResponse({ status: 200, type: PreviewResponse })
  @HttpCode(200)
  preview(@Param('userId', UserIdPipe) userId: string, @Body() body: PreviewRequest): Promise<PreviewAnswer> {
    return this.queryBus.execute(new PreviewQuery(userId, 'consumption', body.feature, body.amount));
  }
}
