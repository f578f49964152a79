import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsString, Length, ValidateIf } from 'class-validator';

export class VoidGrantRequest {
  @ApiProperty({ example: 'granted to the wrong user' })
  @IsString()
  @Length(1, 200)
  reason!: string;

  @ApiPropertyOptional({ example: { ticket: 'SUP-1234' } })
  @ValidateIf((_, value) => value !== undefined)
  @IsObject()
  metadata?: Record<string, unknown>;
}
