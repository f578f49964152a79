import { Global, Module } from '@nestjs/common';
import { CreditsMetrics } from './credits-metrics';
import { MetricsController } from './metrics.controller';

@Global()
@Module({
  controllers: [MetricsController],
  providers: [CreditsMetrics],
  exports: [CreditsMetrics],
})
export class MetricsModule {}
