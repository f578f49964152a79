import {
  type CommandOutcome,
  type RecordTopUpOutcome,
  type RequestTopUp,
  type TopUpRequested,
  creditsStreamId,
  parseCreditsEvent,
  topUpOutcomeIdempotencyKey,
  topUpRequestIdempotencyKey,
} from '@libs/credits';
import type { EventStore, SqlExecutor } from '@libs/event-store';
import { type StripeCatalog, packById } from '@libs/stripe';
import {
  type TopUpCrossing,
  autoTopUpSettingsOf,
  claimOpenCrossings,
  finishCrossing,
  markCrossingRequested,
  retryCrossingLater,
  savedPaymentMethodOf,
} from '@projections';
import type Stripe from 'stripe';
import type { CreditsCommandRunner } from '../../credits/credits-command.runner';
import { type TopUpChargeOutcome, chargeTopUp } from './top-up-charge';

/** Crossings worked per pass. */
const CROSSINGS_PER_PASS = 50;
/**
 * Stripe keeps an idempotency key for 24 hours: a top-up asked for longer ago than this is never charged (its
 * key could no longer tell a repeat from a first charge); it is recorded as failed for an operator to look at.
 */
export const TOP_UP_CHARGE_WINDOW_MS = 23 * 3_600_000;
/** After Stripe or the store could not be reached: the crossing is tried again this much later. */
const RETRY_AFTER_MS_DEFAULT = 5_000;

export type TopUpProcessTiming = {
  /** How long a pass holds the crossings it claims. */
  leaseMs: number;
  retryAfterMs?: number;
  now?: () => Date;
};

export type TopUpPass = { requested: number; charged: number; failed: number; skipped: number; retried: number };

/**
 * The top-up process: works the crossings the feed follower queued, oldest first. For each, it asks the user's
 * stream for a top-up (`RequestTopUp`, keyed by the crossing: one per crossing), charges it with Stripe (keyed by
 * the top-up: one charge per top-up), and records the outcome (keyed by the top-up: one outcome). A crash or a
 * second process at any point repeats a step, and a repeated step answers what the first did.
 */
export class TopUpProcess {
  constructor(
    private readonly db: SqlExecutor,
    private readonly store: EventStore,
    private readonly runner: CreditsCommandRunner,
    private readonly stripe: Stripe,
    private readonly catalog: StripeCatalog,
    private readonly timing: TopUpProcessTiming,
  ) {}

  private now(): Date {
    return this.timing.now?.() ?? new Date();
  }

  async runOnce(): Promise<TopUpPass> {
    const pass: TopUpPass = { requested: 0, charged: 0, failed: 0, skipped: 0, retried: 0 };
    // One at a time: a crossing's lease starts when its work does, so a slow Stripe cannot let it lapse under
    // crossings waiting their turn.
    for (let worked = 0; worked < CROSSINGS_PER_PASS; worked++) {
      const [crossing] = await claimOpenCrossings(this.db, 1, this.timing.leaseMs);
      if (crossing === undefined) break;
      try {
        await this.work(crossing, pass);
      } catch (error) {
        pass.retried++;
        const retryAfterMs = this.timing.retryAfterMs ?? RETRY_AFTER_MS_DEFAULT;
        await retryCrossingLater(this.db, crossing.crossingEventId, retryAfterMs, messageOf(error));
        // Stripe or the store is failing: the next pass tries again, rather than this one hammer them.
        break;
      }
    }
    return pass;
  }

  private async work(crossing: TopUpCrossing, pass: TopUpPass): Promise<void> {
    const recorded =
      crossing.topUpId === null
        ? ((await this.requestRecorded(crossing)) ?? (await this.request(crossing, pass)))
        : undefined;
    const topUpId = crossing.topUpId ?? recorded?.eventId;
    if (topUpId === undefined) return;
    const requested = await this.requestedEvent(crossing.userId, topUpId, recorded?.streamVersion);
    const outcome = await this.charge(crossing.userId, requested);
    const answered = await this.runner.run(outcomeCommand(crossing.userId, topUpId, outcome, this.now()));
    if (answered.kind === 'refused' && answered.error.type !== 'unknown-top-up') {
      throw new Error(`the top-up's outcome was refused: ${JSON.stringify(answered.error)}`);
    }
    const status = outcome.kind === 'submitted' ? 'succeeded' : 'failed';
    const detail = outcome.kind === 'submitted' ? outcome.status : `${outcome.reason}: ${outcome.message}`;
    await finishCrossing(this.db, crossing.crossingEventId, status, {
      paymentIntentId: outcome.paymentIntentId,
      detail,
    });
    if (status === 'succeeded') pass.charged++;
    else pass.failed++;
  }

  /**
   * The crossing's top-up if the stream holds it already (a process died between recording it and marking the
   * crossing): it is charged as recorded, whatever the settings say now, so that no top-up is left pending.
   */
  private async requestRecorded(crossing: TopUpCrossing): Promise<CommandOutcome | undefined> {
    const state = await this.runner.currentState(crossing.userId);
    const outcome = state.outcomes.get(topUpRequestIdempotencyKey(crossing.crossingEventId));
    if (outcome?.eventType !== 'TopUpRequested') return undefined;
    await markCrossingRequested(this.db, crossing.crossingEventId, outcome.eventId);
    return outcome;
  }

  /** Asks the stream for the crossing's top-up: its id, or undefined when none is made (and why, on the row). */
  private async request(crossing: TopUpCrossing, pass: TopUpPass): Promise<CommandOutcome | undefined> {
    const skip = async (detail: string) => {
      pass.skipped++;
      await finishCrossing(this.db, crossing.crossingEventId, 'skipped', { detail });
      return undefined;
    };
    const settings = await autoTopUpSettingsOf(this.db, crossing.userId);
    if (settings === undefined || !settings.enabled) return skip('automatic top-up is off for the user');
    const pack = packById(this.catalog, settings.packId);
    if (pack === undefined) return skip(`pack ${settings.packId} is not in the catalog`);
    const saved = await savedPaymentMethodOf(this.db, crossing.userId);
    const customerId = settings.stripeCustomerId ?? saved?.customerId;
    const paymentMethodId = settings.paymentMethodId ?? saved?.paymentMethodId;
    if (customerId === undefined || paymentMethodId === undefined) {
      return skip('no saved card: no Checkout with savePaymentMethod paid, and none set');
    }
    const price = await this.stripe.prices.retrieve(pack.priceId);
    if (price.unit_amount === null) return skip(`price ${pack.priceId} has no fixed unit amount`);
    const command: RequestTopUp = {
      type: 'RequestTopUp',
      data: {
        userId: crossing.userId,
        crossingEventId: crossing.crossingEventId,
        belowCredits: crossing.belowCredits,
        packId: pack.packId,
        credits: pack.creditsPerUnit,
        amount: price.unit_amount,
        currency: price.currency,
        customerId,
        paymentMethodId,
        maxPerMonth: settings.maxPerMonth,
        ...(settings.maxAmountPerMonth === undefined ? {} : { maxAmountPerMonth: settings.maxAmountPerMonth }),
      },
      metadata: { idempotencyKey: topUpRequestIdempotencyKey(crossing.crossingEventId), now: this.now().toISOString() },
    };
    const result = await this.runner.run(command);
    if (result.kind === 'refused') return skip(`no top-up: ${result.error.type} ${JSON.stringify(result.error)}`);
    pass.requested++;
    await markCrossingRequested(this.db, crossing.crossingEventId, result.outcome.eventId);
    return result.outcome;
  }

  /** The top-up as the stream recorded it: a repeat charges what the first request asked, whatever changed since. */
  private async requestedEvent(
    userId: string,
    topUpId: string,
    streamVersion: number | undefined,
  ): Promise<TopUpRequested & { recordedAt: string }> {
    const at = streamVersion === undefined ? {} : { fromVersion: streamVersion, toVersion: streamVersion };
    for await (const stored of this.store.readStream(creditsStreamId(userId), at)) {
      if (stored.id !== topUpId) continue;
      const event = parseCreditsEvent(stored);
      if (event.type !== 'TopUpRequested') throw new Error(`event ${topUpId} is a ${event.type}, not a top-up`);
      return { ...event, recordedAt: event.metadata.occurredAt };
    }
    throw new Error(`user ${userId} has no top-up ${topUpId}`);
  }

  private async charge(
    userId: string,
    requested: TopUpRequested & { recordedAt: string },
  ): Promise<TopUpChargeOutcome> {
    const age = this.now().getTime() - Date.parse(requested.recordedAt);
    if (age > TOP_UP_CHARGE_WINDOW_MS) {
      return {
        kind: 'failed',
        reason: 'charge_window_passed',
        message: 'asked for more than 23 hours ago: not charged now (check Stripe for a payment of this top-up)',
        paymentIntentId: undefined,
      };
    }
    const { packId, amount, currency, customerId, paymentMethodId } = requested.data;
    return chargeTopUp(this.stripe, {
      userId,
      topUpId: requested.id,
      packId,
      customerId,
      paymentMethodId,
      amount,
      currency,
    });
  }
}

function outcomeCommand(userId: string, topUpId: string, outcome: TopUpChargeOutcome, now: Date): RecordTopUpOutcome {
  const recorded: RecordTopUpOutcome['data']['outcome'] =
    outcome.kind === 'submitted'
      ? { kind: 'succeeded', paymentIntentId: outcome.paymentIntentId, status: outcome.status }
      : {
          kind: 'failed',
          reason: outcome.reason,
          message: outcome.message,
          ...(outcome.paymentIntentId === undefined ? {} : { paymentIntentId: outcome.paymentIntentId }),
        };
  return {
    type: 'RecordTopUpOutcome',
    data: { userId, topUpId, outcome: recorded },
    metadata: { idempotencyKey: topUpOutcomeIdempotencyKey(topUpId), now: now.toISOString() },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
