import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { DateTime, Duration } from 'luxon';
import type { Causation } from '@libs/credits';
import { ProblemException } from '@libs/http';
import type { HoldStateFilter } from '@projections';
import type { Response } from 'express';
import { RequiresScope } from '../../auth/api-key.guard';
import { CausedBy } from '../../auth/caused-by.decorator';
import { CommandRetriesExhaustedError, type CreditsCommandResult } from '../credits-command.runner';
import { HoldIdPipe, UserIdPipe, idempotencyKeyFrom, problemOfDomainError } from '../credits.http';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, decodeCursor, wholeNumberParameter } from '../paging.http';
import { minPositionFrom } from '../read-your-writes';
import { EndHoldCommand, PlaceHoldCommand } from './hold-commands';
import { CaptureHoldRequest, HoldResponse, PlaceHoldRequest, PreviewRequest, PreviewResponse } from './holds.dto';
import { HOLDS_CURSOR } from './list-holds.handler';
import { type HoldAnswer, ListHoldsQuery, type UserHoldsPage } from './list-holds.query';
import { type PreviewAnswer, PreviewQuery } from './preview.handler';

export const HOLD_EXPIRES_IN_MAX_SECONDS = Symbol('HOLD_EXPIRES_IN_MAX_SECONDS');

const STATES: readonly HoldStateFilter[] = ['active', 'captured', 'released', 'expired', 'all'];

class HoldListedResponse {
  @ApiProperty({ format: 'uuid' }) holdId!: string;
  @ApiProperty() feature!: string;
  @ApiProperty() reference!: string;
  @ApiProperty({
    enum: ['active', 'captured', 'released', 'expired'],
    description: 'At the time of the query: expired as soon as its expiresAt has passed uncaptured',
  })
  state!: string;
  @ApiProperty({ enum: ['active', 'captured', 'released', 'expired'], description: 'As recorded' }) status!: string;
  @ApiProperty() amount!: number;
  @ApiProperty() capturedAmount!: number;
  @ApiProperty() expiresAt!: string;
  @ApiProperty({ description: 'The grants it reserved credits of: [{ grantId, credits }]' }) drawnFrom!: object[];
  @ApiProperty() placedAt!: string;
  @ApiPropertyOptional({ nullable: true }) endedAt!: string | null;
}

class UserHoldsPageResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ type: [HoldListedResponse] }) holds!: HoldAnswer[];
  @ApiPropertyOptional({ nullable: true, description: 'Pass as cursor for the next page' }) nextCursor!: string | null;
}

/**
 * Holds: reserve a job's credits before it runs, then capture what it used or
 * release them; the expiry process releases a hold forgotten past its
 * expiresAt. A hold ends once: capture, release and expiry share its key.
 */
@ApiTags('holds')
@ApiBearerAuth()
@Controller('v1/users/:userId/holds')
export class HoldsHttpController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
    @Inject(HOLD_EXPIRES_IN_MAX_SECONDS) private readonly expiresInMaxSeconds: number,
  ) {}

  @Post()
  @RequiresScope('consume')
  @ApiOperation({ summary: "Reserve a job's credits, priced by the price list, from what may be spent now" })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Defaults to the feature and reference' })
  @ApiResponse({ status: 201, type: HoldResponse, description: 'Held' })
  @ApiResponse({ status: 200, type: HoldResponse, description: 'Replay of an earlier identical request' })
  @ApiResponse({ status: 402, description: 'insufficient-credits' })
  @ApiResponse({ status: 404, description: 'unknown-feature' })
  @ApiResponse({ status: 409, description: 'idempotency-key-reused' })
  @ApiResponse({ status: 422, description: 'invalid-hold-terms' })
  async place(
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: PlaceHoldRequest,
    @Headers('idempotency-key') idempotencyKeyHeader: string | undefined,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<HoldResponse> {
    this.refuseLongerThanAllowed(body.expiresIn);
    const idempotencyKey = idempotencyKeyFrom(idempotencyKeyHeader, { required: false });
    const command = new PlaceHoldCommand(
      userId,
      body.feature,
      body.reference,
      body.amount,
      body.expiresIn,
      body.metadata ?? {},
      idempotencyKey,
      causedBy,
    );
    return answerHold(await this.execute(command), response);
  }

  @Post(':holdId/capture')
  @RequiresScope('consume')
  @ApiOperation({ summary: 'Consume what the job used of the hold (default all) and release the rest, at once' })
  @ApiResponse({ status: 201, type: HoldResponse, description: 'Captured' })
  @ApiResponse({ status: 200, type: HoldResponse, description: 'The same capture again: its first outcome' })
  @ApiResponse({ status: 404, description: 'unknown-hold' })
  @ApiResponse({
    status: 409,
    description: 'hold-expired, hold-already-captured (another amount), hold-already-released',
  })
  @ApiResponse({ status: 422, description: 'invalid-capture-amount' })
  async capture(
    @Param('userId', UserIdPipe) userId: string,
    @Param('holdId', HoldIdPipe) holdId: string,
    @Body() body: CaptureHoldRequest,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<HoldResponse> {
    const command = new EndHoldCommand(userId, holdId, { capture: body.amount }, causedBy);
    return answerHold(await this.execute(command), response);
  }

  @Post(':holdId/release')
  @RequiresScope('consume')
  @ApiOperation({ summary: "Release all of the hold's credits (the job failed or was cancelled)" })
  @ApiResponse({ status: 201, type: HoldResponse, description: 'Released' })
  @ApiResponse({ status: 200, type: HoldResponse, description: 'Released or expired already: how it ended' })
  @ApiResponse({ status: 404, description: 'unknown-hold' })
  @ApiResponse({ status: 409, description: 'hold-already-captured' })
  async release(
    @Param('userId', UserIdPipe) userId: string,
    @Param('holdId', HoldIdPipe) holdId: string,
    @Res({ passthrough: true }) response: Response,
    @CausedBy() causedBy: Causation,
  ): Promise<HoldResponse> {
    return answerHold(await this.execute(new EndHoldCommand(userId, holdId, 'release', causedBy)), response);
  }

  @Get()
  @RequiresScope('read')
  @ApiOperation({ summary: "A user's holds in the order they were placed" })
  @ApiQuery({ name: 'status', required: false, enum: STATES, description: 'Default active' })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` })
  @ApiQuery({ name: 'cursor', required: false, description: 'The nextCursor of the previous page' })
  @ApiQuery({ name: 'minPosition', required: false, description: "Wait until this command's position is projected" })
  @ApiHeader({ name: 'X-Min-Position', required: false, description: 'Same as minPosition' })
  @ApiOkResponse({ type: UserHoldsPageResponse })
  list(
    @Param('userId', UserIdPipe) userId: string,
    @Query('status') status: string | undefined,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
    @Query('minPosition') minPosition: string | undefined,
    @Headers('x-min-position') minPositionHeader: string | undefined,
  ): Promise<UserHoldsPage> {
    const query = new ListHoldsQuery(
      userId,
      stateFrom(status),
      Number(decodeCursor(HOLDS_CURSOR, cursor, 2 ** 31 - 1) ?? 0),
      wholeNumberParameter('limit', limit, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
      minPositionFrom(minPosition, minPositionHeader),
    );
    return this.queryBus.execute(query);
  }

  @Post('preview')
  @RequiresScope('consume')
  @ApiOperation({ summary: 'Whether a hold would be placed now, its price and grants; writes nothing' })
  @ApiResponse({ status: 200, type: PreviewResponse })
  @HttpCode(200)
  preview(@Param('userId', UserIdPipe) userId: string, @Body() body: PreviewRequest): Promise<PreviewAnswer> {
    return this.queryBus.execute(new PreviewQuery(userId, 'hold', body.feature, body.amount));
  }

  private async execute(command: PlaceHoldCommand | EndHoldCommand): Promise<CreditsCommandResult> {
    try {
      return await this.commandBus.execute(command);
    } catch (error) {
      if (!(error instanceof CommandRetriesExhaustedError)) throw error;
      throw ProblemException.of(503, 'concurrency-conflict', 'Concurrency conflict', {
        detail: 'other writers kept changing this user; retry the request (it is safe to repeat)',
      });
    }
  }

  /**
   * The settable bound on a hold's life (`HOLD_EXPIRES_IN_MAX_SECONDS`), measured as the domain counts it: from
   * now, in UTC calendar units (P1M is a month from now). The domain refuses what is not a positive duration.
   */
  private refuseLongerThanAllowed(expiresIn: string | undefined): void {
    if (expiresIn === undefined) return;
    const duration = Duration.fromISO(expiresIn);
    if (!duration.isValid) return;
    const now = DateTime.utc();
    const lastsSeconds = now.plus(duration).diff(now).as('seconds');
    if (lastsSeconds <= this.expiresInMaxSeconds) return;
    throw ProblemException.of(422, 'invalid-hold-terms', 'Invalid hold terms', {
      detail: `expiresIn must be at most ${this.expiresInMaxSeconds} seconds (HOLD_EXPIRES_IN_MAX_SECONDS)`,
      field: 'expiresIn',
    });
  }
}

/** 201 for what this request recorded, 200 and `Idempotent-Replayed: true` for how the hold stood already. */
function answerHold(result: CreditsCommandResult, response: Response): HoldResponse {
  if (result.kind === 'refused') throw problemOfDomainError(result.error);
  response.status(result.kind === 'recorded' ? HttpStatus.CREATED : HttpStatus.OK);
  if (result.kind === 'replayed') response.setHeader('Idempotent-Replayed', 'true');
  const hold = result.hold;
  if (hold === undefined) throw new Error(`a hold command answered without its hold (${result.outcome.eventType})`);
  const { eventId, balanceAfter, streamVersion, globalPosition } = result.outcome;
  return {
    userId: result.userId,
    holdId: hold.holdId,
    status: hold.status,
    amount: hold.amount,
    capturedAmount: hold.capturedAmount,
    expiresAt: hold.expiresAt,
    drawnFrom: [...hold.drawnFrom],
    eventId,
    balance: balanceAfter,
    version: streamVersion,
    position: globalPosition,
  };
}

function stateFrom(status: string | undefined): HoldStateFilter {
  if (status === undefined) return 'active';
  if ((STATES as readonly string[]).includes(status)) return status as HoldStateFilter;
  throw ProblemException.of(400, 'invalid-request', 'Invalid request', {
    detail: `status must be one of ${STATES.join(', ')}`,
    errors: [{ field: 'status', message: `must be one of ${STATES.join(', ')}` }],
  });
}
