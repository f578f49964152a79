import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '@libs/config';
import { HttpConventionsModule } from '@libs/http';
import { ProjectorModule, StoresModule } from '@projections';
import { LoggerModule } from 'nestjs-pino';

/** The projector process (ROLE=projector): projections, and HTTP for /health and /metrics only. */
@Module({})
export class ProjectorAppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ProjectorAppModule,
      imports: [
        LoggerModule.forRoot({ pinoHttp: { level: config.logLevel, autoLogging: false } }),
        HttpConventionsModule,
        StoresModule.forRoot(config.eventStore),
        ProjectorModule.forRoot(config.projector),
      ],
    };
  }
}
