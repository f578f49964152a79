import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { EVENT_STORE, type EventStore, type EventStoreLocation, openEventStore } from '@libs/event-store';
import { ReadinessChecks } from '@libs/http';

/** Makes readiness depend on the store, and closes its connections (or PGlite) at shutdown. */
class EventStoreLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly readiness: ReadinessChecks,
  ) {}

  onModuleInit(): void {
    this.readiness.register('eventStore', () => this.store.ping());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/** Provides the EVENT_STORE port, opened and migrated, to the whole app. */
@Global()
@Module({})
export class EventStoreModule {
  static forRoot(location: EventStoreLocation): DynamicModule {
    return {
      module: EventStoreModule,
      providers: [{ provide: EVENT_STORE, useFactory: () => openEventStore(location) }, EventStoreLifecycle],
      exports: [EVENT_STORE],
    };
  }
}
