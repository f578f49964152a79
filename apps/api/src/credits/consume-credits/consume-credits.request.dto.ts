import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import { IsInt, IsObject, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';

export class ConsumeCreditsRequest {
  @ApiProperty({ description: 'A feature of the price list', example: 'face_swap' })
  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'feature must be 1 to 64 characters of a-z 0-9 _ . -' })
  feature!: string;

  @ApiProperty({ description: 'What is paid for, for example the upload id', example: 'upload-123' })
  @IsString()
  @Length(1, 255)
  reference!: string;

  @ApiPropertyOptional({ description: 'Overrides the price, where the price list allows it', example: 25 })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  amount?: number;

  @ApiPropertyOptional({ description: 'Kept with the event, returned in the history', example: { model: 'v2' } })
  @ValidateIf((_, value) => value !== undefined)
  @IsObject()
  metadata?: Record<string, unknown>;
}
