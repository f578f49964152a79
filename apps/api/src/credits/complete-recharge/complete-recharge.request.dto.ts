import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX, AMOUNT_PAID_MINOR_MAX } from '@libs/credits';
import { IsInt, IsObject, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';

export class CompleteRechargeRequest {
  @ApiProperty({
    description: 'Your id of the payment; a recharge is recorded once per id',
    example: 'invoice-2026-0042',
  })
  @IsString()
  @Length(1, 255)
  rechargeId!: string;

  @ApiProperty({ example: 500 })
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  credits!: number;

  @ApiProperty({ description: "In the currency's minor unit (cents)", example: 999 })
  @IsInt()
  @Min(0)
  @Max(AMOUNT_PAID_MINOR_MAX)
  amountPaid!: number;

  @ApiProperty({ description: 'ISO 4217, lower case', example: 'usd' })
  @IsString()
  @Matches(/^[a-z]{3}$/, { message: 'currency must be a three-letter ISO 4217 code in lower case' })
  currency!: string;

  @ApiPropertyOptional({ example: { note: 'bank transfer' } })
  @ValidateIf((_, value) => value !== undefined)
  @IsObject()
  metadata?: Record<string, unknown>;
}
