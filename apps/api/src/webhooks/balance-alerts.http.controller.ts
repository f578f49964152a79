import { Body, Controller, Get, Inject, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import type { BalanceAlertsConfig } from '@libs/config';
import type { SqlDriver } from '@libs/event-store';
import { READ_MODEL_DB, alertStateOf, lowBalanceThresholdOf, setLowBalanceThreshold } from '@projections';
import { RequiresScope } from '../auth/api-key.guard';
import { UserIdPipe } from '../credits/credits.http';

export const BALANCE_ALERTS_CONFIG = Symbol('BALANCE_ALERTS_CONFIG');

export class BalanceAlertsRequest {
  @ApiProperty({
    nullable: true,
    example: 50,
    description: 'credits.low when spendable credits fall below this; null: the configured default',
  })
  @ValidateIf((_, value) => value !== null)
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  lowBalanceBelow!: number | null;
}

type BalanceAlertsAnswer = {
  userId: string;
  lowBalanceBelow: number;
  /** `default` when the user has no threshold of their own. */
  source: 'user' | 'default';
  /** As the alerts last decided: below the threshold, at zero (both false before the user's first event). */
  belowLow: boolean;
  depleted: boolean;
};

/** A user's low-balance threshold for the `credits.low` webhook. */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/users/:userId/alerts')
export class BalanceAlertsHttpController {
  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(BALANCE_ALERTS_CONFIG) private readonly config: BalanceAlertsConfig,
  ) {}

  @Get()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'The threshold in force for the user, and where the alerts stand' })
  async get(@Param('userId', UserIdPipe) userId: string): Promise<BalanceAlertsAnswer> {
    return this.answer(userId);
  }

  @Put()
  @RequiresScope('admin')
  @ApiOperation({
    summary: 'Set the user’s threshold (null: back to the default); it applies from their next event on',
  })
  async put(
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: BalanceAlertsRequest,
  ): Promise<BalanceAlertsAnswer> {
    await setLowBalanceThreshold(this.db, userId, body.lowBalanceBelow);
    return this.answer(userId);
  }

  private async answer(userId: string): Promise<BalanceAlertsAnswer> {
    const own = await lowBalanceThresholdOf(this.db, userId);
    const state = await alertStateOf(this.db, userId);
    return {
      userId,
      lowBalanceBelow: own ?? this.config.lowBalanceBelowDefault,
      source: own === undefined ? 'default' : 'user',
      belowLow: state?.version ? state.belowLow : false,
      depleted: state?.version ? state.depleted : false,
    };
  }
}
