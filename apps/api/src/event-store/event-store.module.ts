import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { EVENT_STORE, type EventStore, type EventStoreLocation, openEventStore } from '@libs/event-store';

/** Closes the store's connections (or the PGlite database) when the app shuts down. */
class EventStoreCloser implements OnApplicationShutdown {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

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
      providers: [{ provide: EVENT_STORE, useFactory: () => openEventStore(location) }, EventStoreCloser],
      exports: [EVENT_STORE],
    };
  }
}
