import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import { IsInt, IsObject, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';

export class PlaceHoldRequest {
  @ApiProperty({ description: 'A feature of the price list', example: 'video_generation' })
  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'feature must be 1 to 64 characters of a-z 0-9 _ . -' })
  feature!: string;

  @ApiProperty({ description: 'The job the credits are for', example: 'job-123' })
  @IsString()
  @Length(1, 255)
  reference!: string;

  @ApiPropertyOptional({ description: 'Overrides the price, where the price list allows it', example: 25 })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  amount?: number;

  @ApiPropertyOptional({
    description: 'ISO 8601 duration after which an uncaptured hold is released (default PT15M, at most PT24H)',
    example: 'PT30M',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(2, 64)
  expiresIn?: string;

  @ApiPropertyOptional({ description: 'Kept with the event, returned in the history', example: { model: 'v2' } })
  @ValidateIf((_, value) => value !== undefined)
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class CaptureHoldRequest {
  @ApiPropertyOptional({
    description: 'Credits the job used, from 1 to the held amount (default: all); to use none, release the hold',
    example: 3,
  })
  // Whole numbers only here; the domain answers an amount outside the hold (0 included) with invalid-capture-amount.
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Max(AMOUNT_CREDITS_MAX)
  amount?: number;
}

export class PreviewRequest {
  @ApiProperty({ description: 'A feature of the price list', example: 'face_swap' })
  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'feature must be 1 to 64 characters of a-z 0-9 _ . -' })
  feature!: string;

  @ApiPropertyOptional({ description: 'Overrides the price, where the price list allows it', example: 25 })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  amount?: number;
}

export class GrantCreditsResponse {
  @ApiProperty({ format: 'uuid' }) grantId!: string;
  @ApiProperty({ example: 5 }) credits!: number;
}

/** A hold, as its place, capture and release answer it. */
export class HoldResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ format: 'uuid', description: 'The id of the event that placed it' }) holdId!: string;
  @ApiProperty({ enum: ['active', 'captured', 'released', 'expired'] }) status!: string;
  @ApiProperty({ description: 'Credits reserved', example: 10 }) amount!: number;
  @ApiProperty({ description: 'Credits its capture consumed (0 unless captured)', example: 0 }) capturedAmount!: number;
  @ApiProperty({ example: '2026-12-07T10:15:00.000Z' }) expiresAt!: string;
  @ApiProperty({ type: [GrantCreditsResponse], description: 'The grants it reserved credits of, in spend order' })
  drawnFrom!: GrantCreditsResponse[];
  @ApiProperty({ format: 'uuid', description: 'The event this request recorded (or first recorded)' })
  eventId!: string;
  @ApiProperty({ description: 'Balance right after it (a hold leaves it: it lowers what may be spent)', example: 90 })
  balance!: number;
  @ApiProperty({ description: 'Stream version of the event', example: 3 }) version!: number;
  @ApiProperty({ description: 'Global position of the event (64-bit, as a string)', example: '1043' })
  position!: string;
}

export class PreviewResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ description: 'Whether it would be recorded now; a preview reserves nothing' }) wouldSucceed!: boolean;
  @ApiPropertyOptional({ nullable: true, description: 'The credits it would take' }) amount!: number | null;
  @ApiProperty({ type: [GrantCreditsResponse] }) drawnFrom!: GrantCreditsResponse[];
  @ApiProperty() balance!: number;
  @ApiProperty() spendable!: number;
  @ApiProperty() balanceAfter!: number;
  @ApiProperty() spendableAfter!: number;
  @ApiPropertyOptional({
    nullable: true,
    description:
      'Why it would be refused: the problem type and its fields (insufficient-credits, unknown-feature, ...)',
  })
  refusal!: Record<string, unknown> | null;
}
