import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import { Public } from '../auth/api-key.guard';
import { ProblemException } from '../problems/problem-details';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  /** The process is up and serving HTTP. */
  @Public()
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** The event store answers: the service can take commands. */
  @Public()
  @Get('ready')
  @HealthCheck()
  async ready() {
    try {
      return await this.health.check([() => this.eventStoreReachable()]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      throw ProblemException.of(503, 'not-ready', 'Not ready', { checks: error.getResponse() });
    }
  }

  private async eventStoreReachable() {
    const check = this.indicator.check('eventStore');
    try {
      await this.store.ping();
      return check.up();
    } catch (error) {
      return check.down({ message: error instanceof Error ? error.message : String(error) });
    }
  }
}
