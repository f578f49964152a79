import { Controller, Get, Headers, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiProperty, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../credits.http';
import { minPositionFrom } from '../read-your-writes';
import { GetBalanceQuery } from './get-balance.query';

class BalanceResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ description: 'Below zero only for a debt a refund left (REFUND_SHORTFALL=debt)', example: 99 })
  balance!: number;
  @ApiProperty({ description: 'Part of the balance an open payment dispute holds: not spendable', example: 0 })
  frozenCredits!: number;
  @ApiProperty({
    description: 'Part of the balance active holds reserve for jobs in progress: not spendable',
    example: 0,
  })
  heldCredits!: number;
  @ApiProperty({
    description:
      'What a consumption may take now: unfrozen, unheld credits of grants not past their expiry, less any debt',
    example: 99,
  })
  spendable!: number;
  @ApiProperty({
    description: 'Credits of grants not past their expiry, by category (frozen ones included, held ones not)',
    example: { paid: 80, promotional: 19 },
  })
  byCategory!: { paid: number; promotional: number };
  @ApiProperty({
    description: 'The next grants to expire, soonest first (at most 5), with their unfrozen credits',
    example: [{ grantId: '0f8e…', credits: 19, expiresAt: '2027-01-31T00:00:00.000Z' }],
  })
  expiring!: Array<{ grantId: string; credits: number; expiresAt: string }>;
  @ApiProperty({ description: 'Stream version of the last event applied', example: 2 }) version!: number;
  @ApiProperty({ description: 'Its global position; null for a user with no events', example: '1042', nullable: true })
  position!: string | null;
  @ApiProperty({ description: 'When the read model row was written', nullable: true })
  projectedAt!: string | null;
}

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/balance')
export class GetBalanceHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('read')
  @ApiOperation({ summary: "A user's balance, from the balance projection (0 for a user with no events)" })
  @ApiQuery({ name: 'minPosition', required: false, description: "Wait until this command's position is projected" })
  @ApiHeader({ name: 'X-Min-Position', required: false, description: 'Same as minPosition' })
  @ApiOkResponse({ type: BalanceResponse })
  balance(
    @Param('userId', UserIdPipe) userId: string,
    @Query('minPosition') minPosition: string | undefined,
    @Headers('x-min-position') minPositionHeader: string | undefined,
  ): Promise<BalanceResponse> {
    return this.queryBus.execute(new GetBalanceQuery(userId, minPositionFrom(minPosition, minPositionHeader)));
  }
}
