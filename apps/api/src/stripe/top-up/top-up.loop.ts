import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { AutoTopUpConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { MetricsRegistry } from '@libs/http';
import type { StripeCatalog } from '@libs/stripe';
import { READ_MODEL_DB, openCrossingsLag } from '@projections';
import { Counter, Gauge } from 'prom-client';
import type Stripe from 'stripe';
import { CreditsCommandRunner } from '../../credits/credits-command.runner';
import { STRIPE_API } from '../stripe-api.client';
import { STRIPE_CATALOG } from '../stripe-ingestion.service';
import { TopUpProcess } from './top-up.process';

export const AUTO_TOP_UP_CONFIG = Symbol('AUTO_TOP_UP_CONFIG');

/**
 * Runs the top-up process in this process, every `AUTO_TOP_UP_POLL_MS`, when Stripe's API key is set (without
 * it, crossings wait: nothing could be charged). Any number of processes may run it: each crossing is worked
 * by the one holding its lease, and every step is keyed.
 */
@Injectable()
export class TopUpLoop implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AutoTopUp');
  private readonly process: TopUpProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private outcomes: Counter<'outcome'> | undefined;

  constructor(
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(STRIPE_API) stripe: Stripe | undefined,
    @Inject(STRIPE_CATALOG) catalog: StripeCatalog,
    @Inject(AUTO_TOP_UP_CONFIG) private readonly config: AutoTopUpConfig,
    runner: CreditsCommandRunner,
    private readonly registry: MetricsRegistry,
  ) {
    this.process =
      stripe === undefined
        ? undefined
        : new TopUpProcess(db, store, runner, stripe, catalog, { leaseMs: config.leaseMs });
  }

  onModuleInit(): void {
    const db = this.db;
    this.outcomes = new Counter({
      name: 'credits_top_ups_total',
      help: 'Crossings this process worked to an end, by outcome: succeeded, failed (declined, needs the card holder), skipped (off, no card, pending, monthly limit)',
      labelNames: ['outcome'] as const,
      registers: [this.registry],
    });
    new Gauge({
      name: 'credits_top_up_crossings_open',
      help: 'Crossings below a top-up threshold not worked to an end yet',
      registers: [this.registry],
      async collect() {
        const lag = await openCrossingsLag(db).catch(() => undefined);
        if (lag !== undefined) this.set(lag.open);
      },
    });
    new Gauge({
      name: 'credits_top_up_lag_seconds',
      help: 'How long the oldest crossing not worked to an end has waited (0: none)',
      registers: [this.registry],
      async collect() {
        const lag = await openCrossingsLag(db).catch(() => undefined);
        if (lag !== undefined) this.set(lag.oldestSeconds);
      },
    });
  }

  onApplicationBootstrap(): void {
    if (this.process !== undefined && this.config.pollMs > 0) this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().then((busy) => this.schedule(busy ? 0 : this.config.pollMs));
    }, delayMs);
  }

  /** One pass; true when it worked something (more may be waiting). Errors are logged and tried again later. */
  private async pass(): Promise<boolean> {
    try {
      const pass = await this.process!.runOnce();
      this.outcomes?.inc({ outcome: 'succeeded' }, pass.charged);
      this.outcomes?.inc({ outcome: 'failed' }, pass.failed);
      this.outcomes?.inc({ outcome: 'skipped' }, pass.skipped);
      if (pass.retried > 0) this.logger.warn({ retried: pass.retried, msg: 'top-ups to try again shortly' });
      return pass.charged + pass.failed + pass.skipped > 0;
    } catch (error) {
      this.logger.error({ err: error, msg: 'top-up pass failed; trying again at the next pass' });
      return false;
    }
  }
}
