import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { EVENT_STORE, type EventStore, type EventStoreLocation, openSqlEventStore } from '@libs/event-store';
import { ReadinessChecks } from '@libs/http';
import { READ_MODEL_MIGRATIONS } from './read-model';

/** DI token of the read model's database (a SqlDriver): the event store's database, for now. */
export const READ_MODEL_DB = Symbol('READ_MODEL_DB');

/** The store and its driver as opened; the projector needs the store's in-process append signal. */
export type OpenedStores = Awaited<ReturnType<typeof openSqlEventStore>>;
export const OPENED_STORES = Symbol('OPENED_STORES');

/** Readiness depends on the store; its connections (or PGlite) close at shutdown. */
class StoresLifecycle implements OnModuleInit, OnApplicationShutdown {
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

/**
 * The event store and the read model's database, opened once per process with
 * every migration applied (the event store's, then the read model's).
 */
@Global()
@Module({})
export class StoresModule {
  static forRoot(location: EventStoreLocation): DynamicModule {
    return {
      module: StoresModule,
      providers: [
        { provide: OPENED_STORES, useFactory: () => openSqlEventStore(location, READ_MODEL_MIGRATIONS) },
        { provide: EVENT_STORE, useFactory: (opened: OpenedStores) => opened.store, inject: [OPENED_STORES] },
        { provide: READ_MODEL_DB, useFactory: (opened: OpenedStores) => opened.driver, inject: [OPENED_STORES] },
        StoresLifecycle,
      ],
      exports: [EVENT_STORE, READ_MODEL_DB, OPENED_STORES],
    };
  }
}
