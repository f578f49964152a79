import { Controller, Get, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequiresScope } from '../../auth/api-key.guard';
import { ProblemException } from '@libs/http';
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
    @Query('fromVersion') fromVersion: string | undefined,
    @Query('limit') limit: string | undefined,
  ): Promise<UserEventsPage> {
    const page = new ListEventsQuery(
      userId,
      pageParameter(fromVersion, 1, 2 ** 31 - 1),
      pageParameter(limit, 100, LIST_EVENTS_LIMIT_MAX),
    );
    return this.queryBus.execute(page);
  }
}

/** Plain decimal digits within bounds; anything else (`ten`, `1.5`, `0x10`) is refused, not defaulted. */
function pageParameter(value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = /^[0-9]{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= 1 && parsed <= max)) {
    throw ProblemException.of(400, 'invalid-page', 'Invalid page', {
      detail: `fromVersion must be a whole number of at least 1, and limit one from 1 to ${LIST_EVENTS_LIMIT_MAX}`,
    });
  }
  return parsed;
}
