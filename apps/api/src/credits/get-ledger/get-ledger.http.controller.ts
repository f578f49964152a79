import { Controller, Get, Headers, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../credits.http';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, decodeCursor, wholeNumberParameter } from '../paging.http';
import { minPositionFrom } from '../read-your-writes';
import { LEDGER_CURSOR } from './get-ledger.handler';
import { GetLedgerQuery, type LedgerPageView } from './get-ledger.query';

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/ledger')
export class GetLedgerHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('read')
  @ApiOperation({ summary: "A user's credit movements, newest first, with the balance after each" })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the previous page' })
  @ApiQuery({ name: 'minPosition', required: false, description: "Wait until this command's position is projected" })
  ledger(
    @Param('userId', UserIdPipe) userId: string,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
    @Query('minPosition') minPosition: string | undefined,
    @Headers('x-min-position') minPositionHeader: string | undefined,
  ): Promise<LedgerPageView> {
    const beforeVersion = decodeCursor(LEDGER_CURSOR, cursor, 2 ** 31 - 1);
    return this.queryBus.execute(
      new GetLedgerQuery(
        userId,
        beforeVersion === undefined ? undefined : Number(beforeVersion),
        wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        minPositionFrom(minPosition, minPositionHeader),
      ),
    );
  }
}
