import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import {
  EVENT_STORE,
  type EventStore,
  type EventStoreLocation,
  type OpenedStores,
  openStores,
} from '@libs/event-store';
import { ReadinessChecks } from '@libs/http';
import { READ_MODEL_MIGRATIONS } from './read-model';

/** DI token of the read model's database (a SqlDriver): the events' database, or on KurrentDB the PostgreSQL beside it. */
export const READ_MODEL_DB = Symbol('READ_MODEL_DB');

export const OPENED_STORES = Symbol('OPENED_STORES');

/** Readiness depends on the store; its connections (or PGlite) close at shutdown. */
class StoresLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(OPENED_STORES) private readonly opened: OpenedStores,
    private readonly readiness: ReadinessChecks,
  ) {}

  onModuleInit(): void {
    this.readiness.register('eventStore', () => this.store.ping());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.opened.close();
  }
}

/**
 * The event store and the read model's database, opened once per process with
 * every migration applied (see openStores). `kurrentDbStore` stands in for
 * the KurrentDB store of `location` in tests where no server runs.
 */
@Global()
@Module({})
export class StoresModule {
  static forRoot(location: EventStoreLocation, options: { kurrentDbStore?: EventStore } = {}): DynamicModule {
    return {
      module: StoresModule,
      providers: [
        { provide: OPENED_STORES, useFactory: () => openStores(location, READ_MODEL_MIGRATIONS, options) },
        { provide: EVENT_STORE, useFactory: (opened: OpenedStores) => opened.store, inject: [OPENED_STORES] },
        { provide: READ_MODEL_DB, useFactory: (opened: OpenedStores) => opened.readModel, inject: [OPENED_STORES] },
        StoresLifecycle,
      ],
      exports: [EVENT_STORE, READ_MODEL_DB, OPENED_STORES],
    };
  }
}
