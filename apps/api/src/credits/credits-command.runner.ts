import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import {
  type CommandOutcome,
  type CreditsCommand,
  type CreditsDomainError,
  type CreditsState,
  type Decision,
  type HoldState,
  creditsStreamId,
  decide,
  evolve,
} from '@libs/credits';
import { DuplicateEventIdError, EVENT_STORE, type EventStore, VersionConflictError } from '@libs/event-store';
import { CreditsMetrics } from './credits-metrics';
import { foldCreditsStream, toEventToAppend } from './credits-stream.reader';
import { CreditsStateCache } from './credits-state.cache';
import { type DecidedBatch, decideInOrder } from './decide-in-order';
import { type BatchEntry, PerStreamBatches } from './per-stream-batches';

export type CreditsCommandResult =
  | {
      kind: 'recorded' | 'replayed';
      userId: string;
      outcome: CommandOutcome;
      /** For a command of a hold, the hold as it stands after it. */
      hold?: HoldState;
    }
  | { kind: 'refused'; userId: string; error: CreditsDomainError };

/** What a command would do now, decided on the stream as it stands and never appended. */
export type CreditsPreview = { decision: Decision; state: CreditsState };

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
 * Commands of one stream decided together and appended at once: at most this
 * many, so a decision's events stay well within one append (APPEND_EVENTS_MAX).
 */
const BATCH_COMMANDS_MAX = 100;

/**
 * The one way a credits command runs. Commands for one stream that arrive
 * while its previous batch is written wait and form the next batch: decided
 * one after another on the stream's state, their events appended at once at
 * the version that state was read at. The state comes from a cache of folded
 * streams when it holds one, without reading the store: if another process
 * appended since, the append's version check refuses it (a conflict), and the
 * batch is decided again on the stream read from the cached version on. A
 * refusal is never answered from the cache alone: the tail is read first, so
 * credits granted by another process are seen. Each conflict waits a jittered,
 * growing pause, at most `retriesMax` times.
 */
@Injectable()
export class CreditsCommandRunner {
  private readonly batches = new PerStreamBatches<CreditsCommand, CreditsCommandResult>(
    (streamId, commands) => this.runBatch(streamId, commands),
    BATCH_COMMANDS_MAX,
  );
  private readonly states = new CreditsStateCache();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(COMMAND_RETRIES_MAX) private readonly retriesMax: number,
    private readonly metrics: CreditsMetrics,
  ) {}

  async run(command: CreditsCommand): Promise<CreditsCommandResult> {
    try {
      const result = await this.batches.submit(creditsStreamId(command.data.userId), command);
      this.metrics.commands.inc({ command: command.type, outcome: outcomeLabel(result) });
      return result;
    } catch (error) {
      this.metrics.commands.inc({ command: command.type, outcome: 'failed' });
      throw error;
    }
  }

  /**
   * Consumptions and bonuses go together; any other command (a recharge, a
   * refund, a dispute) is decided and appended on its own, between them, in
   * the order the commands came. Each group is answered when it is stored: a
   * later group's failure fails only that group's commands, never a stored one.
   */
  private async runBatch(streamId: string, entries: ReadonlyArray<CommandEntry>): Promise<void> {
    for (const group of groupsInOrder(entries)) {
      try {
        const results = await this.runWithRetries(
          streamId,
          group.map((entry) => entry.item),
        );
        group.forEach((entry, index) => entry.resolve(results[index]));
      } catch (error) {
        group.forEach((entry) => entry.reject(error));
      }
    }
  }

  /**
   * `afterDuplicate`: the commands run again after an append refused as a duplicate; a second duplicate is then
   * thrown, not answered again (an event id another key took would otherwise be decided and refused forever).
   */
  private async runWithRetries(
    streamId: string,
    commands: readonly CreditsCommand[],
    afterDuplicate = false,
  ): Promise<CreditsCommandResult[]> {
    let conflictedAtVersion: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const toDecideOn = await this.stateToDecideOn(streamId, conflictedAtVersion);
      try {
        return await this.decideAndAppend(streamId, commands, toDecideOn);
      } catch (error) {
        if (error instanceof DuplicateEventIdError && !afterDuplicate) {
          return this.answerDuplicates(streamId, commands, error);
        }
        if (error instanceof DuplicateEventIdError) {
          this.states.delete(streamId);
          throw error;
        }
        if (!(error instanceof VersionConflictError)) {
          // The append may have been stored before it failed (a timeout): what the stream holds is unknown now.
          this.states.delete(streamId);
          throw error;
        }
        conflictedAtVersion = toDecideOn.state.version;
        this.metrics.versionConflicts.inc();
        if (attempt >= this.retriesMax) throw new CommandRetriesExhaustedError(streamId, attempt + 1);
        this.metrics.retries.inc(commands.length);
        await sleep(backoffMilliseconds(attempt));
      }
    }
  }

  private async decideAndAppend(
    streamId: string,
    commands: readonly CreditsCommand[],
    { state, current }: StateToDecideOn,
  ): Promise<CreditsCommandResult[]> {
    const decided = decideInOrder(commands, state);
    if (!current && decided.decisions.some((decision) => decision.kind === 'refused')) {
      return this.decideAndAppend(streamId, commands, { state: await this.readState(streamId), current: true });
    }
    if (decided.events.length === 0) return answers(commands, decided, state);
    const stopTimer = this.metrics.appendDuration.startTimer();
    const appended = await this.store
      .appendToStream(streamId, decided.events.map(toEventToAppend), { expectedVersion: state.version })
      .finally(stopTimer);
    let next = state;
    decided.events.forEach((event, index) => {
      const { streamVersion, globalPosition } = appended.events[index];
      next = evolve(next, { ...event, streamVersion, globalPosition });
    });
    this.states.set(streamId, next);
    return answers(commands, decided, next);
  }

  /**
   * An event of a decision is stored already. Alone, the command answers for
   * itself; in a batch, each command runs again alone to tell which one it was.
   */
  private async answerDuplicates(
    streamId: string,
    commands: readonly CreditsCommand[],
    duplicate: DuplicateEventIdError,
  ): Promise<CreditsCommandResult[]> {
    if (commands.length === 1) return [await this.answerDuplicate(streamId, commands[0], duplicate)];
    // The cache is behind what holds the duplicate: each command alone decides on the stream read.
    this.states.delete(streamId);
    const results: CreditsCommandResult[] = [];
    for (const command of commands) results.push(...(await this.runWithRetries(streamId, [command])));
    return results;
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
    const [decision] = decideInOrder([command], state).decisions;
    const userId = command.data.userId;
    if (decision.kind === 'replayed')
      return withHold({ kind: 'replayed', userId, outcome: decision.outcome }, command, state);
    if (decision.kind === 'refused') return { kind: 'refused', userId, error: decision.error };
    if (command.type === 'CompleteRecharge') {
      return {
        kind: 'refused',
        userId,
        error: { type: 'recharge-already-recorded', rechargeId: command.data.rechargeId },
      };
    }
    // Not its own event (that would have replayed): one it recorded beside it, a carry-over the expiry process
    // recorded first. Decided again on the stream as it is now, it no longer includes it.
    if (decision.kind === 'recorded') return (await this.runWithRetries(streamId, [command], true))[0];
    throw duplicate;
  }

  /**
   * What the command would do now: decided on the stream as it stands (the cached state and the events after
   * it), appended never, the cache left as it was. A preview, not a reservation: a command run next may be
   * decided differently.
   */
  async preview(command: CreditsCommand): Promise<CreditsPreview> {
    const state = await this.currentState(command.data.userId);
    return { decision: decide(command, state), state };
  }

  /** The user's stream folded as it stands now (read from the cached version on). */
  async currentState(userId: string): Promise<CreditsState> {
    const streamId = creditsStreamId(userId);
    return foldCreditsStream(this.store, streamId, this.states.peek(streamId));
  }

  /** The cached state as it is (not known to be current), or the stream read (current). */
  private async stateToDecideOn(streamId: string, conflictedAtVersion: number | undefined): Promise<StateToDecideOn> {
    const cached = this.states.get(streamId);
    if (cached !== undefined && conflictedAtVersion === undefined) return { state: cached, current: false };
    return { state: await this.readState(streamId, conflictedAtVersion), current: true };
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
      // A fold failed on what the store holds: read it all again next time rather than trust the cache.
      this.states.delete(streamId);
      throw error;
    }
  }
}

type StateToDecideOn = { state: CreditsState; current: boolean };

type CommandEntry = BatchEntry<CreditsCommand, CreditsCommandResult>;

/** Runs of consecutive consumptions and bonuses, and every other command alone, in order. */
function groupsInOrder(entries: ReadonlyArray<CommandEntry>): CommandEntry[][] {
  const groups: CommandEntry[][] = [];
  for (const entry of entries) {
    const last = groups[groups.length - 1];
    if (last !== undefined && decidedTogether(entry.item) && decidedTogether(last[0].item)) last.push(entry);
    else groups.push([entry]);
  }
  return groups;
}

/** Their events change the balance, the grants, holds and outcomes, never a recharge's state. */
function decidedTogether(command: CreditsCommand): boolean {
  switch (command.type) {
    case 'ConsumeCredits':
    case 'GrantBonus':
    case 'PlaceHold':
    case 'CaptureHold':
    case 'ReleaseHold':
      return true;
    case 'CompleteRecharge':
    case 'RefundRecharge':
    case 'ReverseRefund':
    case 'OpenDispute':
    case 'CloseDispute':
    case 'ExpireGrant':
    case 'VoidGrant':
    case 'ExpireHold':
    case 'RequestTopUp':
    case 'RecordTopUpOutcome':
      return false;
  }
}

/** Each command's answer; a recorded or replayed one reads its outcome in the state after the append. */
function answers(
  commands: readonly CreditsCommand[],
  decided: DecidedBatch,
  after: CreditsState,
): CreditsCommandResult[] {
  return commands.map((command, index) => {
    const decision = decided.decisions[index];
    const userId = command.data.userId;
    if (decision.kind === 'refused') return { kind: 'refused', userId, error: decision.error };
    const outcome = after.outcomes.get(command.metadata.idempotencyKey)!;
    return withHold({ kind: decision.kind, userId, outcome }, command, after);
  });
}

/** A hold command's answer carries the hold: placed (the outcome's event is it), captured or released. */
function withHold(
  result: Extract<CreditsCommandResult, { kind: 'recorded' | 'replayed' }>,
  command: CreditsCommand,
  after: CreditsState,
): CreditsCommandResult {
  const holdId =
    command.type === 'PlaceHold'
      ? result.outcome.eventId
      : command.type === 'CaptureHold' || command.type === 'ReleaseHold'
        ? command.data.holdId
        : undefined;
  const hold = holdId === undefined ? undefined : after.holds.get(holdId);
  return hold === undefined ? result : { ...result, hold };
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
