import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { HISTORY_FIELDS, type HistoryStop } from '@libs/credits';
import { ProblemException } from '@libs/http';
import { stringify } from 'csv-stringify/sync';
import type { Response } from 'express';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../../credits/credits.http';
import { type HistoryView, ReplayHistoryQuery } from './replay-history.query';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit/users/:userId/history')
export class ReplayHistoryHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('audit')
  @ApiOperation({ summary: "A user's history replayed from the event store, optionally up to a moment or a version" })
  @ApiQuery({ name: 'asOf', required: false, description: 'ISO 8601: stop before the first event decided after it' })
  @ApiQuery({ name: 'atVersion', required: false, description: 'Stop after this stream version' })
  @ApiQuery({ name: 'format', required: false, enum: ['json', 'csv'] })
  async history(
    @Param('userId', UserIdPipe) userId: string,
    @Query('asOf') asOf: string | undefined,
    @Query('atVersion') atVersion: string | undefined,
    @Query('format') format: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<HistoryView | string> {
    const stop = stopFrom(asOf, atVersion);
    if (format !== undefined && format !== 'json' && format !== 'csv') throw invalid('format must be json or csv');
    const history: HistoryView = await this.queryBus.execute(new ReplayHistoryQuery(userId, stop));
    if (format !== 'csv') return history;
    response.type('text/csv; charset=utf-8');
    return stringify(history.entries, { header: true, columns: [...HISTORY_FIELDS] });
  }
}

function stopFrom(asOf: string | undefined, atVersion: string | undefined): HistoryStop {
  if (asOf !== undefined && atVersion !== undefined) throw invalid('give asOf or atVersion, not both');
  if (asOf !== undefined) {
    if (!/^\d{4}-\d{2}-\d{2}T/.test(asOf) || Number.isNaN(Date.parse(asOf))) {
      throw invalid('asOf must be an ISO 8601 time, e.g. 2026-11-27T12:00:00Z');
    }
    return { asOf: new Date(asOf).toISOString() };
  }
  if (atVersion !== undefined) {
    const version = /^[0-9]{1,10}$/.test(atVersion) ? Number(atVersion) : Number.NaN;
    if (!(version >= 1 && version <= 2_147_483_647)) throw invalid('atVersion must be a whole number from 1');
    return { atVersion: version };
  }
  return {};
}

function invalid(detail: string): ProblemException {
  return ProblemException.of(400, 'invalid-request', 'Invalid request', { detail });
}
