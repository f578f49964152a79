import { CREDITS_STREAM_PREFIX, USER_ID_PATTERN, creditsStreamId, userIdOfStream } from '@libs/credits';
import type { EventStore, SqlExecutor } from '@libs/event-store';
import type { SectionBuilder } from '../health-report';
import { type AnomalyThresholds, AnomalyWatch } from './anomaly-watch';
import { type ReadModelRows, projectorCheckpoints, readModelRowsOf, usersWithRows } from './read-model-snapshot';
import { type FoldedStream, foldStream } from './stream-fold';

export type ReplayOptions = {
  /** Only these users; all when undefined. */
  users?: readonly string[];
  /** Streams listed and compared per page; streams folded at once. */
  pageSize: number;
  concurrency: number;
  anomalies: AnomalyThresholds & { since: Date; now: Date };
  onProgress?: (eventsRead: number) => void;
};

/** The three sections one pass over the streams fills. */
export type ReplaySections = { readModel: SectionBuilder; integrity: SectionBuilder; anomalies: SectionBuilder };

/**
 * `driftingUsers` holds at most DRIFTING_USERS_KEPT_MAX users (a repair's
 * worth), so that a read model gone wholly wrong does not fill memory.
 */
export type ReplayResult = { streams: number; events: number; driftingUsers: Set<string> };

export const DRIFTING_USERS_KEPT_MAX = 10_000;

type Checkpoints = Awaited<ReturnType<typeof projectorCheckpoints>>;

/**
 * Checks 1, 2 and 6 in one pass: every credits stream, a page at a time, is
 * folded with the domain's `evolve` and compared with its read-model rows as
 * the projector left them. Memory holds one page of streams' summaries and
 * the streams being folded, never the whole store.
 */
export async function replayAndCompare(
  dependencies: { store: EventStore; readModel: SqlExecutor },
  options: ReplayOptions,
  sections: ReplaySections,
): Promise<ReplayResult> {
  // Read before the rows: an event the checkpoint passed is in every row read after it.
  const checkpoints = await projectorCheckpoints(dependencies.readModel);
  const result: ReplayResult = { streams: 0, events: 0, driftingUsers: new Set() };
  const compare = new StreamComparison(dependencies.store, checkpoints, sections, result.driftingUsers);
  for await (const streamIds of pagesOfStreams(dependencies.store, options)) {
    const folded = await foldPage(dependencies, options, sections, streamIds, result);
    for (const { stream, rows } of folded) await compare.stream(stream, rows);
    // A user asked for by `users` may have no stream: only streams holding events count.
    result.streams += folded.filter(({ stream }) => stream.eventsRead > 0).length;
  }
  if (options.users === undefined) await findRowsWithoutStream(dependencies, options, sections, compare, result);
  sections.readModel.count('streams', result.streams);
  sections.readModel.count('events', result.events);
  return result;
}

/** Every credits stream by pages in byte order; or the asked users' streams, existing or not. */
async function* pagesOfStreams(store: EventStore, options: ReplayOptions): AsyncIterable<string[]> {
  if (options.users !== undefined) {
    const streamIds = options.users.map(creditsStreamId);
    for (let start = 0; start < streamIds.length; start += options.pageSize) {
      yield streamIds.slice(start, start + options.pageSize);
    }
    return;
  }
  let after: string | undefined;
  for (;;) {
    const streamIds = await store.listStreams({ prefix: CREDITS_STREAM_PREFIX, after, limit: options.pageSize });
    if (streamIds.length > 0) yield streamIds;
    if (streamIds.length < options.pageSize) return;
    after = streamIds[streamIds.length - 1];
  }
}

/**
 * A page of streams folded, several at once, each with its read-model rows
 * (read before the streams); the events read are counted into `result`.
 */
async function foldPage(
  dependencies: { store: EventStore; readModel: SqlExecutor },
  options: ReplayOptions,
  sections: ReplaySections,
  streamIds: readonly string[],
  result: ReplayResult,
): Promise<Array<{ stream: FoldedStream; rows: ReadModelRows }>> {
  const rows = await readModelRowsOf(dependencies.readModel, streamIds.map(userIdOfStream));
  return mapConcurrently(streamIds, options.concurrency, async (streamId) => {
    const userId = userIdOfStream(streamId);
    const userRows = rows.get(userId)!;
    const watch = new AnomalyWatch(userId, sections.anomalies, options.anomalies, {
      since: options.anomalies.since.getTime(),
      now: options.anomalies.now.getTime(),
    });
    const stream = await foldStream(dependencies.store, streamId, {
      versions: versionsToObserve(userRows),
      onEvent: watch.onEvent,
    });
    result.events += stream.eventsRead;
    options.onProgress?.(result.events);
    return { stream, rows: userRows };
  });
}

/**
 * Users with read-model rows are visited apart, by the read model's own key:
 * a row whose user has no stream is drift. A stream found here but not in the
 * listing lacks its first event (the listing goes by it): it is folded now,
 * and the fold reports the gap.
 */
async function findRowsWithoutStream(
  dependencies: { store: EventStore; readModel: SqlExecutor },
  options: ReplayOptions,
  sections: ReplaySections,
  compare: StreamComparison,
  result: ReplayResult,
): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const userIds = await usersWithRows(dependencies.readModel, after, options.pageSize);
    await mapConcurrently(userIds, options.concurrency, async (userId) => {
      const firstVersion = await firstVersionOf(dependencies.store, userId);
      if (firstVersion === undefined) return compare.rowsWithoutStream(userId);
      if (firstVersion === 1) return;
      const [unlisted] = await foldPage(dependencies, options, sections, [creditsStreamId(userId)], result);
      result.streams++;
      await compare.stream(unlisted.stream, unlisted.rows);
    });
    if (userIds.length < options.pageSize) return;
    after = userIds[userIds.length - 1];
  }
}

/** The version of a user's first stored event; undefined for no stream (or an id no stream can have). */
async function firstVersionOf(store: EventStore, userId: string): Promise<number | undefined> {
  if (!USER_ID_PATTERN.test(userId)) return undefined;
  for await (const event of store.readStream(creditsStreamId(userId), { batchSize: 1 })) return event.streamVersion;
  return undefined;
}

/** The versions the read model stands at, and the next ones: their positions tell lag from drift. */
function versionsToObserve(rows: ReadModelRows): Set<number> {
  const versions = new Set([1]);
  for (const version of [rows.balance?.version, rows.ledger?.lastVersion, rows.recharges?.version]) {
    if (version !== undefined) versions.add(version).add(version + 1);
  }
  return versions;
}

/**
 * Compares one folded stream with its rows. A row behind the stream is lag,
 * not drift, when the projector's checkpoint has not passed the next event.
 */
class StreamComparison {
  constructor(
    private readonly store: EventStore,
    private readonly checkpoints: Checkpoints,
    private readonly sections: ReplaySections,
    private readonly driftingUsers: Set<string>,
  ) {}

  async stream(stream: FoldedStream, rows: ReadModelRows): Promise<void> {
    if (stream.eventsRead === 0) {
      if (rows.balance !== undefined || rows.ledger !== undefined) this.rowsWithoutStream(stream.userId);
      return;
    }
    if (stream.integrityBreak !== undefined) {
      const { kind, version, detail } = stream.integrityBreak;
      this.sections.integrity.add({ kind, severity: 'failed', userId: stream.userId, version, detail });
      this.sections.readModel.count('streams-not-comparable');
      return;
    }
    await this.compareBalance(stream, rows.balance);
    await this.compareLedger(stream, rows.ledger);
    await this.compareRecharges(stream, rows.recharges);
    this.watchNegativeBalance(stream, rows.balance);
  }

  rowsWithoutStream(userId: string): void {
    this.drift(userId, 'read-model-without-stream', `read-model rows for user ${userId}, who has no events`);
  }

  private async compareBalance(stream: FoldedStream, row: ReadModelRows['balance']): Promise<void> {
    const at = await this.comparableVersion(stream, row?.version, this.checkpoints.balance, 'balance');
    if (at === undefined || row === undefined) return;
    const replayed = stream.observed.get(at)!;
    if (replayed.balance !== row.balance || replayed.frozenCredits !== row.frozenCredits) {
      this.drift(
        stream.userId,
        'balance-differs',
        `balance row says ${row.balance} (frozen ${row.frozenCredits}) at version ${at}; ` +
          `the stream says ${replayed.balance} (frozen ${replayed.frozenCredits})`,
        { version: at, readModel: row.balance, replayed: replayed.balance },
      );
    }
  }

  private async compareLedger(stream: FoldedStream, ledger: ReadModelRows['ledger']): Promise<void> {
    const at = await this.comparableVersion(stream, ledger?.lastVersion, this.checkpoints.ledger, 'ledger');
    if (at === undefined || ledger === undefined) return;
    if (ledger.chainBreaks > 0) {
      this.sections.integrity.add({
        kind: 'ledger-chain-broken',
        severity: 'failed',
        userId: stream.userId,
        version: ledger.firstChainBreakVersion ?? 0,
        detail: `${ledger.chainBreaks} ledger rows whose balance-after is not the previous row's plus their delta`,
      });
      this.keepDrifting(stream.userId);
    }
    if (ledger.rows !== at) {
      this.drift(stream.userId, 'ledger-rows-missing', `${ledger.rows} ledger rows for versions 1 to ${at}`, {
        version: at,
        readModel: ledger.rows,
        replayed: at,
      });
    }
    const replayed = stream.observed.get(at)!.balance;
    if (ledger.lastBalanceAfter !== replayed) {
      this.drift(
        stream.userId,
        'ledger-balance-differs',
        `last ledger row says ${ledger.lastBalanceAfter} at version ${at}; the stream says ${replayed}`,
        { version: at, readModel: ledger.lastBalanceAfter, replayed },
      );
    }
  }

  /** The fold knows the recharges of the whole stream only: they are compared once the model is caught up. */
  private async compareRecharges(stream: FoldedStream, model: ReadModelRows['recharges']): Promise<void> {
    const at = await this.comparableVersion(stream, model?.version, this.checkpoints.recharges, 'recharges');
    if (at === undefined || at !== stream.version || model === undefined) return;
    const ids = new Set([...stream.recharges.keys(), ...model.byId.keys()]);
    for (const rechargeId of ids) {
      const replayed = stream.recharges.get(rechargeId);
      const expected = replayed && {
        creditsTakenBack: replayed.creditsTakenBack,
        amountRefunded: replayed.amountRefundedTotal,
        disputeId: replayed.dispute?.disputeId ?? null,
      };
      const row = model.byId.get(rechargeId);
      if (JSON.stringify(expected) === JSON.stringify(row)) continue;
      this.drift(
        stream.userId,
        'recharge-differs',
        `recharge ${rechargeId}: the recharges model says ${JSON.stringify(row ?? 'nothing')}; ` +
          `the stream says ${JSON.stringify(expected ?? 'nothing')}`,
      );
    }
  }

  /**
   * The version at which the row can be compared, or undefined when it cannot
   * (reported here if that is drift). A missing row or one behind the stream
   * is lag when the checkpoint has not passed the first event it lacks.
   */
  private async comparableVersion(
    stream: FoldedStream,
    rowVersion: number | undefined,
    checkpoint: string | undefined,
    model: 'balance' | 'ledger' | 'recharges',
  ): Promise<number | undefined> {
    const version = rowVersion ?? 0;
    if (version > stream.version) {
      this.drift(
        stream.userId,
        `${model}-ahead-of-stream`,
        `${model} row at version ${version}, stream at ${stream.version}`,
      );
      return undefined;
    }
    if (version < stream.version) {
      const nextPosition = stream.observed.get(version + 1)!.globalPosition;
      if (checkpoint !== undefined && (await this.store.hasPassed(checkpoint, nextPosition))) {
        const kind = rowVersion === undefined ? `stream-without-${model}-row` : `${model}-behind-checkpoint`;
        this.drift(
          stream.userId,
          kind,
          `${model} row at version ${version}; the projector passed version ${version + 1}`,
        );
        return undefined;
      }
      this.sections.readModel.count(`${model}-rows-not-projected-yet`);
    }
    return rowVersion;
  }

  /** A negative balance is only ever a refund's recorded debt: anything else is an anomaly. */
  private watchNegativeBalance(stream: FoldedStream, row: ReadModelRows['balance']): void {
    if (stream.balance < 0) this.sections.anomalies.count('refund-debts');
    if (row === undefined || row.balance >= 0) return;
    const replayed = stream.observed.get(row.version)?.balance;
    if (replayed === row.balance) return;
    this.sections.anomalies.add({
      kind: 'negative-balance-without-debt',
      severity: 'failed',
      userId: stream.userId,
      detail: `balance row says ${row.balance} at version ${row.version}; no refund debt explains it (stream: ${replayed})`,
    });
  }

  private drift(userId: string, kind: string, detail: string, values: Record<string, number> = {}): void {
    this.sections.readModel.add({ kind, severity: 'failed', userId, detail, ...values });
    this.keepDrifting(userId);
  }

  private keepDrifting(userId: string): void {
    if (this.driftingUsers.size < DRIFTING_USERS_KEPT_MAX) this.driftingUsers.add(userId);
  }
}

/** Runs `work` over `items` with at most `concurrency` at once; results in the items' order. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
