import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import {
  type CommandOutcome,
  type CreditsCommand,
  type CreditsDomainError,
  type CreditsState,
  creditsStreamId,
  decide,
  evolve,
} from '@libs/credits';
import { DuplicateEventIdError, EVENT_STORE, type EventStore, VersionConflictError } from '@libs/event-store';
import { CreditsMetrics } from './credits-metrics';
import { foldCreditsStream, toEventToAppend } from './credits-stream.reader';
import { CreditsStateCache } from './credits-state.cache';
import { PerStreamQueue } from './per-stream-queue';

export type CreditsCommandResult =
  | { kind: 'recorded' | 'replayed'; userId: string; outcome: CommandOutcome }
  | { kind: 'refused'; userId: string; error: CreditsDomainError };

export const COMMAND_RETRIES_MAX = Symbol('COMMAND_RETRIES_MAX');

/** Every retry after a version conflict lost the race: the caller should try again later (HTTP 503). */
export class CommandRetriesExhaustedError extends Error {
  override readonly name = 'CommandRetriesExhaustedError';
  constructor(
    readonly streamId: string,
    readonly attempts: number,
  ) {
    super(`stream ${streamId}: still conflicting after ${attempts} attempts`);
  }
}

/**
 * The one way a credits command runs: read the stream, fold it, decide, and
 * append at the version read. A version conflict (or a duplicate event id:
 * the same command won elsewhere) means another writer got there first: read
 * again and decide again, after a jittered, growing pause, at most
 * `retriesMax` times.
 */
@Injectable()
export class CreditsCommandRunner {
  private readonly queue = new PerStreamQueue();
  private readonly states = new CreditsStateCache();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(COMMAND_RETRIES_MAX) private readonly retriesMax: number,
    private readonly metrics: CreditsMetrics,
  ) {}

  async run(command: CreditsCommand): Promise<CreditsCommandResult> {
    const streamId = creditsStreamId(command.data.userId);
    try {
      const result = await this.queue.run(streamId, () => this.runWithRetries(streamId, command));
      this.metrics.commands.inc({ command: command.type, outcome: outcomeLabel(result) });
      return result;
    } catch (error) {
      this.metrics.commands.inc({ command: command.type, outcome: 'failed' });
      throw error;
    }
  }

  private async runWithRetries(streamId: string, command: CreditsCommand): Promise<CreditsCommandResult> {
    let conflictedAtVersion: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const state = await this.readState(streamId, conflictedAtVersion);
      try {
        return await this.decideAndAppend(streamId, command, state);
      } catch (error) {
        if (error instanceof DuplicateEventIdError) return this.answerDuplicate(streamId, command, error);
        if (!(error instanceof VersionConflictError)) throw error;
        conflictedAtVersion = state.version;
        this.metrics.versionConflicts.inc();
        if (attempt >= this.retriesMax) throw new CommandRetriesExhaustedError(streamId, attempt + 1);
        this.metrics.retries.inc();
        await sleep(backoffMilliseconds(attempt));
      }
    }
  }

  private async decideAndAppend(
    streamId: string,
    command: CreditsCommand,
    state: CreditsState,
  ): Promise<CreditsCommandResult> {
    const userId = command.data.userId;
    const decision = decide(command, state);
    if (decision.kind === 'refused') return { kind: 'refused', userId, error: decision.error };
    if (decision.kind === 'replayed') return { kind: 'replayed', userId, outcome: decision.outcome };
    const stopTimer = this.metrics.appendDuration.startTimer();
    const appended = await this.store
      .appendToStream(streamId, decision.events.map(toEventToAppend), { expectedVersion: state.version })
      .finally(stopTimer);
    let next = state;
    decision.events.forEach((event, index) => {
      const { streamVersion, globalPosition } = appended.events[index];
      next = evolve(next, { ...event, streamVersion, globalPosition });
    });
    this.states.set(streamId, next);
    return { kind: 'recorded', userId, outcome: next.outcomes.get(command.metadata.idempotencyKey)! };
  }

  /**
   * An event of this decision is stored already. If this stream holds it, the
   * same command won in another process: answer with its outcome. Otherwise
   * another user's stream holds it: only a recharge id is unique ledger-wide.
   */
  private async answerDuplicate(
    streamId: string,
    command: CreditsCommand,
    duplicate: DuplicateEventIdError,
  ): Promise<CreditsCommandResult> {
    this.states.delete(streamId);
    const state = await this.readState(streamId);
    const decision = decide(command, state);
    const userId = command.data.userId;
    if (decision.kind === 'replayed') return { kind: 'replayed', userId, outcome: decision.outcome };
    if (decision.kind === 'refused') return { kind: 'refused', userId, error: decision.error };
    if (command.type === 'CompleteRecharge') {
      return {
        kind: 'refused',
        userId,
        error: { type: 'recharge-already-recorded', rechargeId: command.data.rechargeId },
      };
    }
    throw duplicate;
  }

  /**
   * Cached state plus the events other writers appended since; always current when it returns.
   * After a conflict at `conflictedAtVersion` the tail read normally finds the winner's events,
   * and keeping the cache keeps this writer as quick as the winner: dropping it made every retry
   * a full read, so a loser kept losing (starved) on a hot stream. A tail that finds nothing new
   * means the cache is ahead of the store (a failover to a replica that lost commits): only then
   * is the stream read again from its start.
   */
  private async readState(streamId: string, conflictedAtVersion?: number): Promise<CreditsState> {
    try {
      let state = await foldCreditsStream(this.store, streamId, this.states.get(streamId));
      if (conflictedAtVersion !== undefined && state.version <= conflictedAtVersion) {
        state = await foldCreditsStream(this.store, streamId);
      }
      this.states.set(streamId, state);
      return state;
    } catch (error) {
      // A failed fold may have extended the cached state's outcomes: never reuse it.
      this.states.delete(streamId);
      throw error;
    }
  }
}

/**
 * Full jitter over an exponential ceiling: 5 ms, 10 ms, ... capped at 100 ms.
 * On a hot stream written by two processes each attempt loses about half the
 * time, so the bound of retries (25 by default) matters more than long pauses.
 */
function backoffMilliseconds(attempt: number): number {
  const ceiling = Math.min(100, 5 * 2 ** attempt);
  return Math.random() * ceiling;
}

function outcomeLabel(result: CreditsCommandResult): string {
  return result.kind === 'refused' ? `refused:${result.error.type}` : result.kind;
}
