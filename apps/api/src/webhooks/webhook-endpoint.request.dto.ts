import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsIn, IsString, Length, ValidateIf } from 'class-validator';
import { WEBHOOK_EVENT_TYPES } from '@libs/webhooks';

const URL_LENGTH_MAX = 2_048;

export class CreateWebhookEndpointRequest {
  @ApiProperty({ example: 'https://example.com/hooks/credits', description: 'https (http only where allowed)' })
  @IsString()
  @Length(1, URL_LENGTH_MAX)
  url!: string;

  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true, example: ['recharge.completed', 'grant.expired'] })
  @ArrayMinSize(1)
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length)
  @ArrayUnique()
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true })
  events!: string[];

  @ApiPropertyOptional({ example: 'billing service' })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(0, 500)
  description?: string;
}

export class UpdateWebhookEndpointRequest {
  @ApiPropertyOptional({ example: 'https://example.com/hooks/credits' })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(1, URL_LENGTH_MAX)
  url?: string;

  @ApiPropertyOptional({ enum: WEBHOOK_EVENT_TYPES, isArray: true })
  @ValidateIf((_, value) => value !== undefined)
  @ArrayMinSize(1)
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length)
  @ArrayUnique()
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true })
  events?: string[];

  @ApiPropertyOptional({ nullable: true })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @Length(0, 500)
  description?: string | null;

  @ApiPropertyOptional({
    enum: ['enabled', 'paused'],
    description: 'paused: no new events, queued ones wait; enabled: again (clears a disabled one and its failures)',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsIn(['enabled', 'paused'])
  status?: 'enabled' | 'paused';
}
