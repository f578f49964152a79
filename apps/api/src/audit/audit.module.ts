import { Module } from '@nestjs/common';
import { ReplayHistoryHandler } from './replay-history/replay-history.handler';
import { ReplayHistoryHttpController } from './replay-history/replay-history.http.controller';

/** What auditors read: histories replayed from the event store. */
@Module({
  controllers: [ReplayHistoryHttpController],
  providers: [ReplayHistoryHandler],
})
export class AuditModule {}
