import { MetricsRegistry } from '@libs/http';
import { creditsStreamId, holdEndedIdempotencyKey } from '@libs/credits';
import type { EventStore } from '@libs/event-store';
import { CreditsCommandRunner, type CreditsCommandResult } from '../../apps/api/src/credits/credits-command.runner';
import { CreditsMetrics } from '../../apps/api/src/credits/credits-metrics';
import { foldCreditsStream } from '../../apps/api/src/credits/credits-stream.reader';
import { runConcurrent } from './run-concurrent';
import type { WorkloadOptions } from './workload-options';

const NOW = new Date().toISOString();
const FEATURE = 'bench';
/** The credits of each small grant a bench grant begins with (see `grant`). */
const GRANT_PART_SMALL_CREDITS = 5;

/** A command the ledger answered with neither success nor an insufficient balance: counted as failed. */
export class UnexpectedAnswerError extends Error {
  override readonly name = 'UnexpectedAnswerError';
  constructor(readonly result: CreditsCommandResult) {
    super(`unexpected answer ${result.kind}${result.kind === 'refused' ? ` (${result.error.type})` : ''}`);
  }
}

/**
 * How a workload's consume runs: a consumption, or a hold of the amount followed by its capture (the holds
 * bench: a job that reserves its credits, then pays what it used).
 */
export type ConsumeAs = 'consumption' | 'hold-and-capture';

/**
 * Our ledger behind the peers' interface (grant, consume, balances,
 * ledgerStats, retries): the real command runner, in-process, over the store.
 */
export class LedgerUnderTest {
  private readonly metrics = new CreditsMetrics(new MetricsRegistry());
  private readonly runner: CreditsCommandRunner;

  constructor(
    readonly store: EventStore,
    private readonly options: WorkloadOptions,
    private readonly consumeAs: ConsumeAs = 'consumption',
  ) {
    this.runner = new CreditsCommandRunner(store, options.retries, this.metrics);
  }

  /** Version-conflict retries so far (the runner's `retries` counter). */
  async retries(): Promise<number> {
    const { values } = await this.metrics.retries.get();
    return values.reduce((sum, { value }) => sum + value, 0);
  }

  /**
   * `amount` credits in `grantParts` grants: small ones first (promotional, expiring in a year, each of its own
   * priority), then the rest, so a user's consumes draw from one grant, then the next, in spend order.
   */
  async grant(userId: string, amount: number, reference: string): Promise<'ok'> {
    const small = Math.min(GRANT_PART_SMALL_CREDITS, Math.floor(amount / this.options.grantParts));
    const parts = small === 0 ? [] : Array.from({ length: this.options.grantParts - 1 }, () => small);
    parts.push(amount - parts.reduce((sum, credits) => sum + credits, 0));
    for (const [index, credits] of parts.entries()) {
      const last = index === parts.length - 1;
      const result = await this.runner.run({
        type: 'GrantBonus',
        data: {
          userId,
          amount: credits,
          reason: 'bench',
          metadata: {},
          ...(last ? {} : { priority: 10 + index, expiresIn: 'P1Y' }),
        },
        metadata: { idempotencyKey: parts.length === 1 ? reference : `${reference}-${index}`, now: NOW },
      });
      if (result.kind !== 'recorded') throw new UnexpectedAnswerError(result);
    }
    return 'ok';
  }

  async consume(userId: string, amount: number, reference: string): Promise<'ok' | 'rejected'> {
    if (this.consumeAs === 'hold-and-capture') return this.holdAndCapture(userId, amount, reference);
    const result = await this.runner.run({
      type: 'ConsumeCredits',
      data: { userId, feature: FEATURE, reference, price: { credits: amount }, metadata: {} },
      metadata: { idempotencyKey: reference, now: NOW },
    });
    if (result.kind === 'recorded') return 'ok';
    if (result.kind === 'refused' && result.error.type === 'insufficient-credits') return 'rejected';
    throw new UnexpectedAnswerError(result);
  }

  /** A hold of `amount`, then its capture of all of it: 'rejected' when the hold is refused for want of credits. */
  private async holdAndCapture(userId: string, amount: number, reference: string): Promise<'ok' | 'rejected'> {
    const held = await this.runner.run({
      type: 'PlaceHold',
      data: { userId, feature: FEATURE, reference, price: { credits: amount }, metadata: {} },
      metadata: { idempotencyKey: reference, now: NOW },
    });
    if (held.kind === 'refused' && held.error.type === 'insufficient-credits') return 'rejected';
    if (held.kind !== 'recorded') throw new UnexpectedAnswerError(held);
    const holdId = held.outcome.eventId;
    const captured = await this.runner.run({
      type: 'CaptureHold',
      data: { userId, holdId },
      metadata: { idempotencyKey: holdEndedIdempotencyKey(holdId), now: NOW },
    });
    if (captured.kind !== 'recorded') throw new UnexpectedAnswerError(captured);
    return 'ok';
  }

  /** Balances of the users whose stream holds events, each folded from its stream with `evolve`. */
  async balances(userIds: readonly string[]): Promise<Map<string, number>> {
    const balances = new Map<string, number>();
    await runConcurrent(userIds.length, this.options.pool, async (index) => {
      const state = await foldCreditsStream(this.store, creditsStreamId(userIds[index]));
      if (state.version > 0) balances.set(userIds[index], state.balance);
    });
    return balances;
  }

  /** Every event stored, and how many of them record a consumption (a hold's capture is one). */
  async ledgerStats(): Promise<{ events: number; consumes: number }> {
    let events = 0;
    let consumes = 0;
    for await (const event of this.store.readAll({ batchSize: 10_000 })) {
      events++;
      if (event.type === 'CreditsConsumed' || event.type === 'HoldCaptured') consumes++;
    }
    return { events, consumes };
  }

  info(): Record<string, unknown> {
    return {
      design: 'CreditsCommandRunner of the API, in-process, over openEventStore',
      consume_as: this.consumeAs,
      store: this.options.store,
      pool: this.options.pool,
      retries_max: this.options.retries,
    };
  }
}
