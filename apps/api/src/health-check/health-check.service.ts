import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '@libs/config';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { PROJECTIONS, ProjectionInvariantError, READ_MODEL_DB, rebuildRowsOfUser } from '@projections';
import type Stripe from 'stripe';
import { STRIPE_API } from '../stripe/stripe-api.client';
import { UnmatchedPayments } from '../stripe/unmatched-payments/unmatched-payments';
import { checkConfiguration } from './checks/configuration.check';
import { checkRechargeStatus } from './checks/recharge-status.check';
import { checkStripePaymentSync } from './checks/stripe-payment-sync/stripe-payment-sync.check';
import {
  type HealthCheckOptions,
  REPLAY_CONCURRENCY,
  REPLAY_PAGE_SIZE,
  STRIPE_DELIVERY_GRACE_SECONDS,
} from './health-check.options';
import { type CheckName, type HealthReport, type RepairedUser, SectionBuilder, overallStatus } from './health-report';
import { replayAndCompare } from './replay/replay.check';

export const HEALTH_CHECK_CONFIG = Symbol('HEALTH_CHECK_CONFIG');

/** What a run reports as it goes, for a progress bar. */
export type HealthCheckProgress = { eventsReplayed: number; eventsTotal: number };

/**
 * The six checks and the repair. The event streams are the truth: the read
 * model is compared with them, and a repair rebuilds read-model rows from
 * them; nothing here ever writes to the event store.
 */
@Injectable()
export class HealthCheck {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODEL_DB) private readonly readModel: SqlDriver,
    @Inject(STRIPE_API) private readonly stripe: Stripe | undefined,
    @Inject(HEALTH_CHECK_CONFIG) private readonly config: AppConfig,
    private readonly unmatchedPayments: UnmatchedPayments,
  ) {}

  /** One report; with `repair`, the report of a second run after the drifting users' rows were rebuilt. */
  async run(options: HealthCheckOptions, onProgress?: (progress: HealthCheckProgress) => void): Promise<HealthReport> {
    const first = await this.check(options, onProgress);
    if (!options.repair) return first.report;
    const repaired = await this.repair([...first.driftingUsers]);
    const second = await this.check(options, onProgress);
    const repairedUsers: RepairedUser[] = repaired.map((user) => ({
      ...user,
      cleanAfterRepair: !second.driftingUsers.has(user.userId),
    }));
    return { ...second.report, repair: { repairedUsers, statusBeforeRepair: first.report.status } };
  }

  private async check(
    options: HealthCheckOptions,
    onProgress?: (progress: HealthCheckProgress) => void,
  ): Promise<{ report: HealthReport; driftingUsers: Set<string> }> {
    const startedAt = new Date();
    const section = (name: CheckName) => new SectionBuilder(name, options.findingsMax);
    const sections = {
      readModel: section('read-model-vs-replay'),
      integrity: section('transaction-integrity'),
      rechargeStatus: section('recharge-status'),
      stripeSync: section('stripe-payment-sync'),
      configuration: section('configuration'),
      anomalies: section('data-anomalies'),
    };
    await checkConfiguration(
      { config: this.config, store: this.store, readModel: this.readModel },
      sections.configuration,
    );
    const eventsTotal = await this.store.countEventsAfter(undefined, Number.MAX_SAFE_INTEGER);
    const replay = await replayAndCompare(
      { store: this.store, readModel: this.readModel },
      {
        users: options.users,
        pageSize: REPLAY_PAGE_SIZE,
        concurrency: REPLAY_CONCURRENCY,
        anomalies: { ...options, now: startedAt },
        grantExpiry: { graceSeconds: options.expiryGraceSeconds, now: startedAt },
        onProgress: (eventsReplayed) => onProgress?.({ eventsReplayed, eventsTotal }),
      },
      sections,
    );
    await checkRechargeStatus(
      { readModel: this.readModel, parkedPayments: () => this.unmatchedPayments.list() },
      { nonFinalAgeSecondsMax: options.nonFinalAgeSecondsMax, now: startedAt },
      sections.rechargeStatus,
    );
    await checkStripePaymentSync(
      { stripe: this.stripe, readModel: this.readModel, catalog: this.config.stripe.catalog },
      { since: options.since, until: new Date(startedAt.getTime() - STRIPE_DELIVERY_GRACE_SECONDS * 1000) },
      sections.stripeSync,
    );
    const checks = [
      sections.readModel,
      sections.integrity,
      sections.rechargeStatus,
      sections.stripeSync,
      sections.configuration,
      sections.anomalies,
    ].map((builder) => builder.build());
    const report: HealthReport = {
      status: overallStatus(checks),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      eventsReplayed: replay.events,
      streamsReplayed: replay.streams,
      checks,
    };
    return { report, driftingUsers: replay.driftingUsers };
  }

  /**
   * One transaction per user, each rebuilt from the user's own stream. A user
   * whose rows cannot be rebuilt (an event the projections refuse) keeps the
   * rows as they were, and the report says why; the others are repaired.
   */
  private async repair(userIds: string[]): Promise<Array<Omit<RepairedUser, 'cleanAfterRepair'>>> {
    const repaired = [];
    for (const userId of userIds) {
      try {
        const { eventsApplied } = await rebuildRowsOfUser(this.readModel, this.store, PROJECTIONS, userId);
        repaired.push({ userId, eventsReplayed: eventsApplied });
      } catch (error) {
        if (!(error instanceof ProjectionInvariantError)) throw error;
        repaired.push({ userId, eventsReplayed: 0, repairFailed: error.message });
      }
    }
    return repaired;
  }
}
