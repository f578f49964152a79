import { Controller, Get, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { hasScope } from '@libs/config';
import { ProblemException } from '@libs/http';
import { type AuthenticatedRequest, RequiresScope } from '../auth/api-key.guard';
import { HealthCheckOptionsError, type HealthCheckSettings, healthCheckOptionsFrom } from './health-check.options';
import { HealthCheck } from './health-check.service';
import type { HealthReport } from './health-report';

type HealthCheckQuery = {
  users?: string;
  since?: string;
  findings?: string;
  staleAfter?: string;
  expiryGrace?: string;
  amountMax?: string;
  burstMax?: string;
  burstWindow?: string;
  futureSkew?: string;
  repair?: string;
};

@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/health-check')
export class HealthCheckHttpController {
  constructor(private readonly healthCheck: HealthCheck) {}

  /** 200 with the report whatever it found (its `status` says); a check that cannot run is a 5xx. */
  @Get()
  @RequiresScope('audit')
  @ApiOperation({ summary: 'Replays every stream, compares it with the read model and runs the other checks' })
  @ApiQuery({ name: 'users', required: false, description: 'Comma-separated user ids; default every user' })
  @ApiQuery({
    name: 'since',
    required: false,
    description: 'Window of the Stripe and anomaly checks: 12h, 7d or a date',
  })
  @ApiQuery({ name: 'findings', required: false, description: 'Findings listed per check (default 20)' })
  @ApiQuery({
    name: 'expiryGrace',
    required: false,
    description: 'Seconds past its expiry a grant may wait for its CreditsExpired (default 3600)',
  })
  @ApiQuery({ name: 'repair', required: false, description: "true: rebuild drifting users' rows (scope admin)" })
  async run(@Query() query: HealthCheckQuery, @Req() request: AuthenticatedRequest): Promise<HealthReport> {
    assertEachGivenOnce(query);
    const repair = repairOf(query.repair, request);
    try {
      return await this.healthCheck.run(healthCheckOptionsFrom(settingsOf(query, repair), new Date()));
    } catch (error) {
      if (!(error instanceof HealthCheckOptionsError)) throw error;
      throw ProblemException.of(400, 'invalid-request', 'Invalid request', { detail: error.message });
    }
  }
}

/** Express reads `?users=a&users=b` as an array: one value per parameter, or a clear 400. */
function assertEachGivenOnce(query: HealthCheckQuery): void {
  const repeated = Object.entries(query).find(([, value]) => typeof value !== 'string');
  if (repeated !== undefined) {
    throw ProblemException.of(400, 'invalid-request', 'Invalid request', {
      detail: `${repeated[0]} must be given once (a comma-separated list for users)`,
    });
  }
}

function repairOf(repair: string | undefined, request: AuthenticatedRequest): boolean {
  if (repair === undefined || repair === 'false') return false;
  if (repair !== 'true') {
    throw ProblemException.of(400, 'invalid-request', 'Invalid request', { detail: 'repair must be true or false' });
  }
  if (request.apiKey === undefined || !hasScope(request.apiKey, 'admin')) {
    throw ProblemException.of(403, 'forbidden', 'Forbidden', {
      detail: `a repair writes the read model: the API key "${request.apiKey?.name}" lacks the scope "admin"`,
      requiredScope: 'admin',
    });
  }
  return true;
}

function settingsOf(query: HealthCheckQuery, repair: boolean): HealthCheckSettings {
  return {
    users: query.users,
    since: query.since,
    findings: query.findings,
    'stale-after': query.staleAfter,
    'expiry-grace': query.expiryGrace,
    'amount-max': query.amountMax,
    'burst-max': query.burstMax,
    'burst-window': query.burstWindow,
    'future-skew': query.futureSkew,
    repair,
  };
}
