import { Controller, Get, Param } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe } from '../credits.http';
import { GetBalanceQuery } from './get-balance.query';

class BalanceResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ example: 99 }) balance!: number;
  @ApiProperty({ description: 'Stream version: the number of events of this user', example: 2 }) version!: number;
}

@ApiTags('credits')
@ApiBearerAuth()
@Controller('v1/users/:userId/balance')
export class GetBalanceHttpController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get()
  @RequiresScope('read')
  @ApiOperation({ summary: "A user's balance (0 and version 0 for a user with no history)" })
  @ApiOkResponse({ type: BalanceResponse })
  balance(@Param('userId', UserIdPipe) userId: string): Promise<BalanceResponse> {
    return this.queryBus.execute(new GetBalanceQuery(userId));
  }
}
