import { Controller, DefaultValuePipe, Get, Param, ParseIntPipe, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequiresScope } from '../../auth/api-key.guard';
import { ProblemException } from '../../problems/problem-details';
import { UserIdPipe } from '../credits.http';
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
    @Query('fromVersion', new DefaultValuePipe(1), ParseIntPipe) fromVersion: number,
    @Query('limit', new DefaultValuePipe(100), ParseIntPipe) limit: number,
  ): Promise<UserEventsPage> {
    if (fromVersion < 1 || limit < 1 || limit > LIST_EVENTS_LIMIT_MAX) {
      throw ProblemException.of(400, 'invalid-page', 'Invalid page', {
        detail: `fromVersion must be at least 1 and limit from 1 to ${LIST_EVENTS_LIMIT_MAX}`,
      });
    }
    return this.queryBus.execute(new ListEventsQuery(userId, fromVersion, limit));
  }
}
