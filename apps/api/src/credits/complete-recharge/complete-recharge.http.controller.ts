import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Causation } from '@libs/credits';
import { RequiresScope } from '../../auth/api-key.guard';
import { CausedBy } from '../../auth/caused-by.decorator';
import { CreditsMovementResponse, UserIdPipe, runMovement } from '../credits.http';
import { CompleteRechargeCommand } from './complete-recharge.command';
import { CompleteRechargeRequest } from './complete-recharge.request.dto';

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/recharges')
export class CompleteRechargeHttpController {
  constructor(private readonly commandBus: CommandBus) {}

  @Post()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Record a manual recharge (idempotent by rechargeId)' })
  @ApiResponse({ status: 201, type: CreditsMovementResponse, description: 'Recorded' })
  @ApiResponse({ status: 200, type: CreditsMovementResponse, description: 'This recharge id was already recorded' })
  @ApiResponse({ status: 409, description: 'idempotency-key-reused: the recharge id was recorded with other values' })
  async recharge(
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: CompleteRechargeRequest,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<CreditsMovementResponse> {
    const command = new CompleteRechargeCommand(
      userId,
      body.rechargeId,
      body.credits,
      body.amountPaid,
      body.currency,
      { kind: 'manual' },
      body.metadata ?? {},
      causedBy,
    );
    return runMovement(this.commandBus, command, response);
  }
}
