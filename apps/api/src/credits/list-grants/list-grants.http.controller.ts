import { Controller, Get, Headers, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { ProblemException } from '@libs/http';
import type { GrantStateFilter } from '@projections';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../credits.http';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, decodeCursor, wholeNumberParameter } from '../paging.http';
import { minPositionFrom } from '../read-your-writes';
import { GRANTS_CURSOR } from './list-grants.handler';
import { ListGrantsQuery, type UserGrantsPage } from './list-grants.query';

const STATES: readonly GrantStateFilter[] = ['active', 'depleted', 'expired', 'voided', 'all'];

class GrantResponse {
  @ApiProperty({ format: 'uuid', description: 'The id of the event that made it' }) grantId!: string;
  @ApiProperty({ enum: ['paid', 'promotional'] }) category!: string;
  @ApiProperty({ description: 'Lower is spent first', example: 100 }) priority!: number;
  @ApiPropertyOptional({ nullable: true, example: '2027-01-31T00:00:00.000Z' }) expiresAt!: string | null;
  @ApiPropertyOptional({ nullable: true, description: 'The recharge it is the credits of' }) rechargeId!: string | null;
  @ApiProperty({
    enum: ['active', 'depleted', 'expired', 'voided'],
    description: 'At the time of the query: expired as soon as its expiresAt has passed',
  })
  state!: string;
  @ApiProperty({ enum: ['active', 'expired', 'voided'], description: 'As recorded' }) status!: string;
  @ApiProperty() grantedCredits!: number;
  @ApiProperty({ description: 'Of them, what paid a debt a refund left' }) debtPaidCredits!: number;
  @ApiProperty() spentCredits!: number;
  @ApiProperty() expiredCredits!: number;
  @ApiProperty() voidedCredits!: number;
  @ApiProperty({ description: 'Taken back by refunds and lost disputes' }) takenBackCredits!: number;
  @ApiProperty({ description: 'Left, frozen ones included' }) remainingCredits!: number;
  @ApiProperty({ description: 'Held by an open dispute' }) frozenCredits!: number;
  @ApiProperty({ description: "Carried at its expiry into the grant rolledInto (a plan period's carry-over)" })
  rolledOverCredits!: number;
  @ApiPropertyOptional({
    nullable: true,
    format: 'uuid',
    description: 'The grant whose left-over credits it carries (a carry-over grant only)',
  })
  sourceGrantId!: string | null;
  @ApiPropertyOptional({ nullable: true, format: 'uuid', description: 'The grant its carried credits went into' })
  rolledInto!: string | null;
  @ApiProperty() grantedAt!: string;
  @ApiPropertyOptional({ nullable: true }) closedAt!: string | null;
}

class UserGrantsPageResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ type: [GrantResponse] }) grants!: GrantResponse[];
  @ApiPropertyOptional({ nullable: true, description: 'Pass as cursor for the next page' }) nextCursor!: string | null;
}

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/grants')
export class ListGrantsHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('read')
  @ApiOperation({
    summary: "A user's grants in the order they were made, with what was spent, expired, voided and is left",
  })
  @ApiQuery({ name: 'status', required: false, enum: STATES, description: 'Default active' })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the previous page' })
  @ApiQuery({ name: 'minPosition', required: false, description: "Wait until this command's position is projected" })
  @ApiHeader({ name: 'X-Min-Position', required: false, description: 'Same as minPosition' })
  @ApiOkResponse({ type: UserGrantsPageResponse })
  grants(
    @Param('userId', UserIdPipe) userId: string,
    @Query('status') status: string | undefined,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
    @Query('minPosition') minPosition: string | undefined,
    @Headers('x-min-position') minPositionHeader: string | undefined,
  ): Promise<UserGrantsPage> {
    const query = new ListGrantsQuery(
      userId,
      stateFrom(status),
      Number(decodeCursor(GRANTS_CURSOR, cursor, 2 ** 31 - 1) ?? 0),
      wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
      minPositionFrom(minPosition, minPositionHeader),
    );
    return this.queryBus.execute(query);
  }
}

function stateFrom(status: string | undefined): GrantStateFilter {
  if (status === undefined) return 'active';
  if ((STATES as readonly string[]).includes(status)) return status as GrantStateFilter;
  throw ProblemException.of(400, 'invalid-request', 'Invalid request', {
    detail: `status must be one of ${STATES.join(', ')}`,
    errors: [{ field: 'status', message: `must be one of ${STATES.join(', ')}` }],
  });
}
