import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX, USER_ID_PATTERN } from '@libs/credits';
import { IsInt, IsString, Matches, Max, Min, ValidateIf } from 'class-validator';

export class AssignPaymentRequest {
  @ApiProperty({ example: 'user-42' })
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'userId must be 1 to 128 letters, digits or ._:@-' })
  userId!: string;

  @ApiPropertyOptional({
    description: 'Needed only when the catalog could not tell the credits of the payment',
    example: 500,
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(1)
  @Max(AMOUNT_CREDITS_MAX)
  credits?: number;
}
