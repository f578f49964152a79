import { Controller, Get, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../credits.http';
import { PAGE_LIMIT_DEFAULT, wholeNumberParameter } from '../paging.http';
import { LIST_EVENTS_LIMIT_MAX, ListEventsQuery, type UserEventsPage } from './list-events.query';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/users/:userId/events')
export class ListEventsHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('audit')
  @ApiOperation({ summary: "A user's events in stream order, a page at a time" })
  @ApiQuery({ name: 'fromVersion', required: false, description: 'First version of the page (default 1)' })
  @ApiQuery({
    name: 'limit',
    required: false,
    description: `Events per page, 1 to ${LIST_EVENTS_LIMIT_MAX} (default 100)`,
  })
  events(
    @Param('userId', UserIdPipe) userId: string,
    @Query('fromVersion') fromVersion: string | undefined,
    @Query('limit') limit: string | undefined,
  ): Promise<UserEventsPage> {
    const page = new ListEventsQuery(
      userId,
      wholeNumberParameter('fromVersion', fromVersion, 1, 2 ** 31 - 1),
      wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, LIST_EVENTS_LIMIT_MAX),
    );
    return this.queryBus.execute(page);
  }
}
