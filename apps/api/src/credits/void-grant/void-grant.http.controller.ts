import { Body, Controller, Param, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Causation } from '@libs/credits';
import { RequiresScope } from '../../auth/api-key.guard';
import { CausedBy } from '../../auth/caused-by.decorator';
import { CreditsMovementResponse, GrantIdPipe, UserIdPipe, runMovement } from '../credits.http';
import { VoidGrantCommand } from './void-grant.command';
import { VoidGrantRequest } from './void-grant.request.dto';

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/grants/:grantId/void')
export class VoidGrantHttpController {
  constructor(private readonly commandBus: CommandBus) {}

  @Post()
  @RequiresScope('admin')
  @ApiOperation({
    summary: 'Remove what is left of a bonus',
    description:
      'Idempotent by the grant: a second void answers the first one. A recharge is not voided: refund its payment.',
  })
  @ApiResponse({ status: 201, type: CreditsMovementResponse, description: 'Voided' })
  @ApiResponse({ status: 200, type: CreditsMovementResponse, description: 'Voided already: the first outcome' })
  @ApiResponse({ status: 404, description: 'unknown-grant' })
  @ApiResponse({ status: 409, description: 'grant-not-closable (expired, or a recharge)' })
  async voidGrant(
    @Param('userId', UserIdPipe) userId: string,
    @Param('grantId', GrantIdPipe) grantId: string,
    @Body() body: VoidGrantRequest,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<CreditsMovementResponse> {
    const command = new VoidGrantCommand(userId, grantId, body.reason, body.metadata ?? {}, causedBy);
    return runMovement(this.commandBus, command, response);
  }
}
