import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Causation } from '@libs/credits';
import { RequiresScope } from '../../auth/api-key.guard';
import { CausedBy } from '../../auth/caused-by.decorator';
import { CreditsMovementResponse, UserIdPipe, runMovement, idempotencyKeyFrom } from '../credits.http';
import { GrantBonusCommand } from './grant-bonus.command';
import { GrantBonusRequest } from './grant-bonus.request.dto';

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/bonuses')
export class GrantBonusHttpController {
  constructor(private readonly commandBus: CommandBus) {}

  @Post()
  @RequiresScope('grant')
  @ApiOperation({ summary: 'Grant bonus credits' })
  @ApiHeader({ name: 'Idempotency-Key', required: true })
  @ApiResponse({ status: 201, type: CreditsMovementResponse, description: 'Granted' })
  @ApiResponse({ status: 200, type: CreditsMovementResponse, description: 'Replay of an earlier identical request' })
  @ApiResponse({ status: 409, description: 'idempotency-key-reused' })
  @ApiResponse({ status: 422, description: 'invalid-grant-terms, grant-limit-exceeded, balance-limit-exceeded' })
  async grant(
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: GrantBonusRequest,
    @Headers('idempotency-key') idempotencyKeyHeader: string | undefined,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<CreditsMovementResponse> {
    const idempotencyKey = idempotencyKeyFrom(idempotencyKeyHeader, { required: true })!;
    const { amount, reason, metadata = {}, category, priority, expiresAt, expiresIn } = body;
    const terms = { category, priority, expiresAt, expiresIn };
    const command = new GrantBonusCommand(userId, amount, reason, metadata, idempotencyKey, causedBy, terms);
    return runMovement(this.commandBus, command, response);
  }
}
