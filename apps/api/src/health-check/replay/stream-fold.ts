import {
  type CreditsState,
  type GrantLedger,
  type RechargeState,
  type RecordedCreditsEvent,
  evolve,
  initialState,
  parseCreditsEvent,
  userIdOfStream,
} from '@libs/credits';
import type { EventStore, RecordedEvent } from '@libs/event-store';

/** Why a stream cannot be folded past a version: what the integrity check reports. */
export type IntegrityBreak = {
  kind: 'version-gap' | 'event-unparsable' | 'duplicate-idempotency-key' | 'balance-rule-broken';
  version: number;
  detail: string;
};

/** One stream folded with the domain's own `evolve`, with what the checks need and no more. */
export type FoldedStream = {
  streamId: string;
  userId: string;
  /** Events read, including any after a break. */
  eventsRead: number;
  /** The state after the last event folded: the whole stream unless `integrityBreak`. */
  balance: number;
  frozenCredits: number;
  version: number;
  /** Balance and position after each version the caller asked about (the read model's versions). */
  observed: Map<number, ObservedVersion>;
  /** The recharges as the whole stream leaves them (a user has few). */
  recharges: ReadonlyMap<string, RechargeState>;
  /** The grants as the whole stream leaves them: a persistent tree, held as the fold made it. */
  grants: GrantLedger;
  /** The holds as the whole stream leaves them: a persistent tree, held as the fold made it. */
  holds: CreditsState['holds'];
  integrityBreak?: IntegrityBreak;
};

export type ObservedVersion = { balance: number; frozenCredits: number; globalPosition: string };

/** What a fold reports of each event it folds, for the data-anomaly check. */
export type FoldObserver = (event: RecordedCreditsEvent & { recordedAt: string }, balanceAfter: number) => void;

/**
 * Reads one stream in bounded batches and folds it, checking first what
 * `evolve` would only throw on: contiguous versions, known schemas, each
 * idempotency key used once. Memory is this stream's state; nothing is kept
 * of it after the fold but the few numbers above.
 */
export async function foldStream(
  store: EventStore,
  streamId: string,
  observe: { versions: ReadonlySet<number>; onEvent?: FoldObserver },
): Promise<FoldedStream> {
  let state: CreditsState = initialState();
  const folded: FoldedStream = {
    streamId,
    userId: userIdOfStream(streamId),
    eventsRead: 0,
    balance: 0,
    frozenCredits: 0,
    version: 0,
    observed: new Map(),
    recharges: new Map(),
    grants: state.grants,
    holds: state.holds,
  };
  for await (const stored of store.readStream(streamId, { batchSize: 1000 })) {
    folded.eventsRead++;
    if (folded.integrityBreak !== undefined) continue;
    const next = foldOne(state, stored);
    if ('kind' in next) {
      folded.integrityBreak = next;
      continue;
    }
    state = next.state;
    if (observe.versions.has(state.version)) {
      const { balance, frozenCredits } = state;
      folded.observed.set(state.version, { balance, frozenCredits, globalPosition: stored.globalPosition });
    }
    observe.onEvent?.({ ...next.event, recordedAt: stored.recordedAt }, state.balance);
  }
  const { balance, frozenCredits, version } = state;
  return {
    ...folded,
    balance,
    frozenCredits,
    version,
    recharges: new Map(state.recharges.entries()),
    grants: state.grants,
    holds: state.holds,
  };
}

function foldOne(
  state: CreditsState,
  stored: RecordedEvent,
): { state: CreditsState; event: RecordedCreditsEvent } | IntegrityBreak {
  const version = stored.streamVersion;
  if (version !== state.version + 1) {
    return { kind: 'version-gap', version, detail: `version ${version} follows version ${state.version}` };
  }
  let event: RecordedCreditsEvent;
  try {
    event = parseCreditsEvent(stored);
  } catch (error) {
    return { kind: 'event-unparsable', version, detail: messageOf(error) };
  }
  const key = event.metadata.idempotencyKey;
  if (state.outcomes.has(key)) {
    const first = state.outcomes.get(key)!.streamVersion;
    return {
      kind: 'duplicate-idempotency-key',
      version,
      detail: `key ${key} used at versions ${first} and ${version}`,
    };
  }
  try {
    return { state: evolve(state, event), event };
  } catch (error) {
    return { kind: 'balance-rule-broken', version, detail: messageOf(error) };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
