import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '@libs/config';
import { HealthCheckHttpController } from './health-check.http.controller';
import { HEALTH_CHECK_CONFIG, HealthCheck } from './health-check.service';

/** The health check and repair, for operators (`GET /v1/admin/health-check`) and `npm run health`. */
@Module({})
export class HealthCheckModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: HealthCheckModule,
      controllers: [HealthCheckHttpController],
      providers: [{ provide: HEALTH_CHECK_CONFIG, useValue: config }, HealthCheck],
    };
  }
}
