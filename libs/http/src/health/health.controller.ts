import { Controller, Get, Logger, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ProblemException } from '../problems/problem-details';
import { Public } from '../public-route';
import { type ReadinessCheck, ReadinessChecks } from './readiness-checks';

@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly checks: ReadinessChecks,
  ) {}

  /** The process is up and serving HTTP. */
  @Public()
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** Every registered dependency answers: the process can do its work. */
  @Public()
  @Get('ready')
  @HealthCheck()
  async ready() {
    try {
      return await this.health.check(
        this.checks.entries().map(
          ([name, check]) =>
            () =>
              this.run(name, check),
        ),
      );
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      throw ProblemException.of(503, 'not-ready', 'Not ready', { checks: error.getResponse() });
    }
  }

  /** The failure is logged, not answered: its text may name hosts or credentials, and probes need no key. */
  private async run(name: string, check: ReadinessCheck) {
    const indicator = this.indicator.check(name);
    try {
      return indicator.up((await check()) ?? {});
    } catch (error) {
      this.logger.warn({ err: error, check: name }, 'readiness check failed');
      return indicator.down({ message: 'failing: see the service log' });
    }
  }
}
