import { Controller, Get, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { USER_ID_PATTERN } from '@libs/credits';
import { ProblemException } from '@libs/http';
import { RECHARGE_STATUSES, type RechargeStatus } from '@projections';
import { RequiresScope } from '../../auth/api-key.guard';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, decodeCursor, wholeNumberParameter } from '../../credits/paging.http';
import { RECHARGES_CURSOR } from './list-recharges.handler';
import { ListRechargesQuery, type RechargesPageView } from './list-recharges.query';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/recharges')
export class ListRechargesHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('audit')
  @ApiOperation({ summary: 'Recharges, newest first, by status and user' })
  @ApiQuery({ name: 'status', required: false, enum: RECHARGE_STATUSES })
  @ApiQuery({ name: 'userId', required: false })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the previous page' })
  recharges(
    @Query('status') status: string | undefined,
    @Query('userId') userId: string | undefined,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
  ): Promise<RechargesPageView> {
    if (status !== undefined && !(RECHARGE_STATUSES as readonly string[]).includes(status)) {
      throw ProblemException.of(400, 'invalid-request', 'Invalid request', {
        detail: `status must be one of ${RECHARGE_STATUSES.join(', ')}`,
      });
    }
    if (userId !== undefined && !USER_ID_PATTERN.test(userId)) {
      throw ProblemException.of(400, 'invalid-user-id', 'Invalid user id', { detail: 'see the user id rules' });
    }
    return this.queryBus.execute(
      new ListRechargesQuery(
        { status: status as RechargeStatus | undefined, userId },
        decodeCursor(RECHARGES_CURSOR, cursor),
        wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
      ),
    );
  }
}
