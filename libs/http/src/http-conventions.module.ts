import { Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health/health.controller';
import { ReadinessChecks } from './health/readiness-checks';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsRegistry } from './metrics/metrics-registry';
import { ProblemDetailsFilter } from './problems/problem-details.filter';

/**
 * What every HTTP process of the service shares: problem+json errors,
 * `/health/live` and `/health/ready`, and Prometheus `/metrics`.
 */
@Global()
@Module({
  imports: [TerminusModule],
  controllers: [HealthController, MetricsController],
  providers: [MetricsRegistry, ReadinessChecks, { provide: APP_FILTER, useClass: ProblemDetailsFilter }],
  exports: [MetricsRegistry, ReadinessChecks],
})
export class HttpConventionsModule {}
