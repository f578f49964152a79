import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX, GRANT_CATEGORIES, GRANT_PRIORITY_MAX, type GrantCategory } from '@libs/credits';
import { IsIn, IsInt, IsObject, IsString, Length, Max, Min, ValidateIf } from 'class-validator';

export class GrantBonusRequest {
  @ApiProperty({ example: 50 })
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  amount!: number;

  @ApiProperty({ example: 'welcome bonus' })
  @IsString()
  @Length(1, 200)
  reason!: string;

  @ApiPropertyOptional({ example: { campaign: 'launch' } })
  @ValidateIf((_, value) => value !== undefined)
  @IsObject()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({
    enum: GRANT_CATEGORIES,
    default: 'promotional',
    description: '`paid` for credits sold outside Stripe (a sales-led top-up): reported as revenue, spent last',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsIn(GRANT_CATEGORIES)
  category?: GrantCategory;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: GRANT_PRIORITY_MAX,
    description: 'Lower is spent first; defaults to 100 for promotional credits and 200 for paid ones',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(0)
  @Max(GRANT_PRIORITY_MAX)
  priority?: number;

  @ApiPropertyOptional({
    example: '2027-01-31T00:00:00Z',
    description: 'When its unspent credits lapse (ISO 8601 with its offset); or give expiresIn. Neither: never',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(1, 64)
  expiresAt?: string;

  @ApiPropertyOptional({
    example: 'P30D',
    description: 'An ISO 8601 duration from the time of the request, in UTC (P1M from 31 January: end of February)',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(1, 64)
  expiresIn?: string;
}
