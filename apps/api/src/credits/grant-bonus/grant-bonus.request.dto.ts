import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import { IsInt, IsObject, IsString, Length, Max, Min, ValidateIf } from 'class-validator';

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
}
