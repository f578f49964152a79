import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { GrantExpiryConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { MetricsRegistry, ReadinessChecks } from '@libs/http';
import { Counter, Gauge } from 'prom-client';
import { READ_MODEL_DB } from '../stores.module';
import { noticeGrantsExpiring } from '../webhooks/grant-expiring-notices';
import { GrantExpiry } from './grant-expiry';

export const GRANT_EXPIRY_CONFIG = Symbol('GRANT_EXPIRY_CONFIG');

/**
 * Runs the expiry process in this process (beside the projector): a pass every
 * `intervalMs`, more at once while a pass finds a full batch. Its lag (the
 * oldest grant due and not expired) is on /metrics, and /health/ready fails
 * when it passes `lagSecondsMax`.
 */
@Injectable()
export class GrantExpiryLoop implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('GrantExpiry');
  private readonly expiry: GrantExpiry;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private expiredTotal: Counter | undefined;
  private holdsExpiredTotal: Counter | undefined;

  constructor(
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(GRANT_EXPIRY_CONFIG) private readonly config: GrantExpiryConfig,
    private readonly readiness: ReadinessChecks,
    private readonly registry: MetricsRegistry,
  ) {
    this.expiry = new GrantExpiry(store, db);
  }

  onModuleInit(): void {
    this.readiness.register('grant-expiry', () => this.checkLag());
    const expiry = this.expiry;
    new Gauge({
      name: 'credits_grant_expiry_lag_seconds',
      help: 'How long the oldest grant past its expiry has waited for its CreditsExpired (0: none waiting)',
      registers: [this.registry],
      async collect() {
        const lag = await expiry.lag().catch(() => undefined);
        if (lag !== undefined) this.set(lag.lagSeconds);
      },
    });
    new Gauge({
      name: 'credits_grants_due',
      help: 'Grants past their expiry with credits left and no CreditsExpired yet',
      registers: [this.registry],
      async collect() {
        const lag = await expiry.lag().catch(() => undefined);
        if (lag !== undefined) this.set(lag.dueGrants);
      },
    });
    this.expiredTotal = new Counter({
      name: 'credits_grants_expired_total',
      help: 'Grants this process expired',
      registers: [this.registry],
    });
    new Gauge({
      name: 'credits_hold_expiry_lag_seconds',
      help: 'How long the oldest hold past its expiry has waited for its HoldExpired (0: none waiting)',
      registers: [this.registry],
      async collect() {
        const lag = await expiry.holdLag().catch(() => undefined);
        if (lag !== undefined) this.set(lag.lagSeconds);
      },
    });
    new Gauge({
      name: 'credits_holds_due',
      help: 'Active holds past their expiry, not released yet',
      registers: [this.registry],
      async collect() {
        const lag = await expiry.holdLag().catch(() => undefined);
        if (lag !== undefined) this.set(lag.dueHolds);
      },
    });
    this.holdsExpiredTotal = new Counter({
      name: 'credits_holds_expired_total',
      help: 'Holds this process released at their expiry',
      registers: [this.registry],
    });
  }

  onApplicationBootstrap(): void {
    if (this.config.intervalMs > 0) this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().then((again) => this.schedule(again ? 0 : this.config.intervalMs));
    }, delayMs);
  }

  /**
   * One pass; true when it expired a full batch (more may be due). A pass that found grants expired already
   * (the read model has not projected them yet) waits for the interval rather than read their streams again at
   * once. A failed pass is logged and tried again later.
   */
  private async pass(): Promise<boolean> {
    try {
      const pass = await this.expiry.runOnce(this.config.batchSize);
      // What nothing records: grants about to expire, announced once each (outbound webhooks).
      const noticed = await noticeGrantsExpiring(
        this.db,
        new Date(),
        this.config.expiringNoticeSeconds,
        this.config.batchSize,
      );
      this.expiredTotal?.inc(pass.expired);
      this.holdsExpiredTotal?.inc(pass.holdsExpired ?? 0);
      if (pass.usersSkipped) this.logger.warn({ usersSkipped: pass.usersSkipped, msg: 'users skipped: streams busy' });
      return (
        pass.expired >= this.config.batchSize ||
        (pass.holdsExpired ?? 0) >= this.config.batchSize ||
        noticed >= this.config.batchSize
      );
    } catch (error) {
      this.logger.error({ err: error, msg: 'grant expiry pass failed; trying again at the next pass' });
      return false;
    }
  }

  private async checkLag() {
    const lag = await this.expiry.lag();
    if (lag.lagSeconds > this.config.lagSecondsMax) {
      throw new Error(
        `${lag.dueGrants} grants past their expiry not expired, the oldest for ${Math.round(lag.lagSeconds)} s ` +
          `(more than ${this.config.lagSecondsMax} s)`,
      );
    }
    // An overdue hold keeps its credits from being spent: the same bound.
    const holds = await this.expiry.holdLag();
    if (holds.lagSeconds > this.config.lagSecondsMax) {
      throw new Error(
        `${holds.dueHolds} holds past their expiry not released, the oldest for ${Math.round(holds.lagSeconds)} s ` +
          `(more than ${this.config.lagSecondsMax} s)`,
      );
    }
    return { ...lag, dueHolds: holds.dueHolds, holdLagSeconds: holds.lagSeconds };
  }
}
