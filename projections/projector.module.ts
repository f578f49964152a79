import {
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { ProjectorConfig } from '@libs/config';
import { CREDITS_STREAM_PREFIX } from '@libs/credits';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { MetricsRegistry, ReadinessChecks } from '@libs/http';
import { Gauge } from 'prom-client';
import { GRANT_EXPIRY_CONFIG, GrantExpiryLoop } from './expiry/grant-expiry.loop';
import { feedFollowers } from './read-model';
import { type ProjectionLag, projectionLag } from './runtime/projection-lag';
import { Projector } from './runtime/projector';
import { READ_MODEL_DB } from './stores.module';
import { WEBHOOK_DISPATCH_CONFIG, WebhookDispatchLoop } from './webhooks/webhook-dispatch.loop';
import { WEBHOOK_OUTBOX } from './webhooks/webhook-outbox.projection';

export const PROJECTOR = Symbol('PROJECTOR');
const LAG_CACHE_MS = 1000;
const PROJECTOR_CONFIG = Symbol('PROJECTOR_CONFIG');

/** Runs the projector in this process, and reports its lag on /metrics and /health/ready. */
class ProjectorLifecycle implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private stopListening: (() => void) | undefined;
  /** One lag computation serves a scrape's two gauges and the readiness probe of the same second. */
  private lagsCache: { at: number; lags: Promise<ProjectionLag[]> } | undefined;

  constructor(
    @Inject(PROJECTOR) private readonly projector: Projector,
    @Inject(PROJECTOR_CONFIG) private readonly config: ProjectorConfig,
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly readiness: ReadinessChecks,
    private readonly registry: MetricsRegistry,
  ) {}

  onModuleInit(): void {
    this.readiness.register('projections', () => this.checkProjections());
    this.registerLagGauges();
  }

  /**
   * The projector reads batches after its checkpoint with `readAll` and polls;
   * a store that can signal appends wakes it earlier (SQL: this process's
   * appends; KurrentDB: a subscription to `$all` filtered on the server to the
   * credits streams, the only ones the read model reads). The signal carries
   * nothing the projector relies on: the checkpoint, moved in the same
   * transaction as the rows, is where every catch-up starts, so a signal
   * missed (a dropped subscription) delays a batch by one poll at most.
   */
  onApplicationBootstrap(): void {
    this.stopListening = this.store.subscribeToAppends?.(() => this.projector.wake(), {
      streamPrefixes: [CREDITS_STREAM_PREFIX],
    });
    this.projector.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopListening?.();
    await this.projector.stop();
  }

  private async checkProjections() {
    const failed = this.projector.status().filter((progress) => progress.failure !== undefined);
    if (failed.length > 0) throw new Error(failed.map((progress) => progress.failure!.message).join('; '));
    const lags = await this.lags();
    const behind = lags.filter((lag) => lag.lagSeconds > this.config.lagSecondsMax);
    if (behind.length > 0) {
      throw new Error(
        `behind by more than ${this.config.lagSecondsMax} s: ${behind.map((lag) => lag.projection).join(', ')}`,
      );
    }
    return { lag: lags.map(({ projection, lagEvents, lagSeconds }) => ({ projection, lagEvents, lagSeconds })) };
  }

  private lags(): Promise<ProjectionLag[]> {
    if (this.lagsCache === undefined || Date.now() - this.lagsCache.at > LAG_CACHE_MS) {
      const lags = Promise.all(
        feedFollowers(this.config.balanceAlerts).map(({ name }) => projectionLag(this.db, this.store, name)),
      );
      this.lagsCache = { at: Date.now(), lags };
      lags.catch(() => (this.lagsCache = undefined));
    }
    return this.lagsCache.lags;
  }

  private registerLagGauges(): void {
    // A database error leaves the gauges unset: the rest of /metrics must still answer.
    const lagOf = () => this.lags().catch(() => [] as ProjectionLag[]);
    new Gauge({
      name: 'credits_projection_lag_events',
      help: 'Committed events the projection has not applied yet',
      labelNames: ['projection'] as const,
      registers: [this.registry],
      async collect() {
        for (const lag of await lagOf()) this.set({ projection: lag.projection }, lag.lagEvents);
      },
    });
    new Gauge({
      name: 'credits_projection_lag_seconds',
      help: 'Age of the oldest event the projection has not applied yet',
      labelNames: ['projection'] as const,
      registers: [this.registry],
      async collect() {
        for (const lag of await lagOf()) this.set({ projection: lag.projection }, lag.lagSeconds);
      },
    });
  }
}

/**
 * The projector of every read model, and the grants' expiry process, in this process (ROLE=all or
 * ROLE=projector). Needs StoresModule.
 */
@Module({})
export class ProjectorModule {
  static forRoot(config: ProjectorConfig): DynamicModule {
    const logger = new Logger('Projector');
    return {
      module: ProjectorModule,
      providers: [
        { provide: PROJECTOR_CONFIG, useValue: config },
        {
          provide: PROJECTOR,
          inject: [READ_MODEL_DB, EVENT_STORE, WebhookDispatchLoop],
          useFactory: (db: SqlDriver, store: EventStore, webhooks: WebhookDispatchLoop) =>
            new Projector(db, store, feedFollowers(config.balanceAlerts), {
              ...config,
              log: {
                error: (message, details) => logger.error({ ...details, msg: message }),
              },
              // What the outbox queued is sent at once, not at the dispatcher's next look.
              afterBatch: (projection) => {
                if (projection === WEBHOOK_OUTBOX) webhooks.dispatcher.wake();
              },
            }),
        },
        ProjectorLifecycle,
        { provide: GRANT_EXPIRY_CONFIG, useValue: config.grantExpiry },
        GrantExpiryLoop,
        { provide: WEBHOOK_DISPATCH_CONFIG, useValue: config.webhookDispatch },
        WebhookDispatchLoop,
      ],
      exports: [PROJECTOR],
    };
  }
}
