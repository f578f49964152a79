import {
  CREDITS_STREAM_PREFIX,
  type Grant,
  type GrantLedger,
  USER_ID_PATTERN,
  creditsStreamId,
  userIdOfStream,
} from '@libs/credits';
import type { EventStore, SqlExecutor } from '@libs/event-store';
import type { SectionBuilder } from '../health-report';
import { type AnomalyThresholds, AnomalyWatch } from './anomaly-watch';
import {
  type GrantFigures,
  type ReadModelRows,
  disputesText,
  projectorCheckpoints,
  readModelRowsOf,
  usersWithRows,
} from './read-model-snapshot';
import { type HoldsVerdict, holdsVerdictOf } from './holds-verdict';
import { type FoldedStream, foldStream } from './stream-fold';

export type ReplayOptions = {
  /** Only these users; all when undefined. */
  users?: readonly string[];
  /** Streams listed and compared per page; streams folded at once. */
  pageSize: number;
  concurrency: number;
  anomalies: AnomalyThresholds & { since: Date; now: Date };
  /** A grant past its expiry by more than `graceSeconds` at `now`, with credits left and no `CreditsExpired`, is overdue. */
  grantExpiry: { graceSeconds: number; now: Date };
  onProgress?: (eventsRead: number) => void;
};

/** The sections one pass over the streams fills (of recharge status, the expiries overdue). */
export type ReplaySections = {
  readModel: SectionBuilder;
  integrity: SectionBuilder;
  anomalies: SectionBuilder;
  rechargeStatus: SectionBuilder;
};

/**
 * `driftingUsers` holds at most DRIFTING_USERS_KEPT_MAX users (a repair's
 * worth), so that a read model gone wholly wrong does not fill memory.
 */
export type ReplayResult = { streams: number; events: number; driftingUsers: Set<string> };

export const DRIFTING_USERS_KEPT_MAX = 10_000;

type Checkpoints = Awaited<ReturnType<typeof projectorCheckpoints>>;

/**
 * A folded stream as the comparison holds it until its page is compared: its
 * grants reduced, as soon as it is folded, to what is reported of them, so
 * that a page never holds its streams' grant ledgers.
 */
type ComparedStream = Omit<FoldedStream, 'grants' | 'holds'> & { grants: GrantsVerdict; holds: HoldsVerdict };

type GrantsVerdict = {
  /** What differs from the grants model; judged only when the model stands at the stream's version. */
  differences: Array<{
    kind: 'grant-ledger-differs' | 'grant-differs';
    detail: string;
    values: Record<string, number>;
  }>;
  /** Active grants past their expiry at the check's start with credits left, none frozen: no `CreditsExpired` yet. */
  due: Grant[];
};

/**
 * Checks 1, 2 and 6 in one pass, and the grant expiries of check 3: every
 * credits stream, a page at a time, is folded with the domain's `evolve` and
 * compared with its read-model rows as the projector left them. Memory holds
 * one page of streams' summaries and the streams being folded, never the
 * whole store.
 */
export async function replayAndCompare(
  dependencies: { store: EventStore; readModel: SqlExecutor },
  options: ReplayOptions,
  sections: ReplaySections,
): Promise<ReplayResult> {
  // Read before the rows: an event the checkpoint passed is in every row read after it.
  const checkpoints = await projectorCheckpoints(dependencies.readModel);
  const result: ReplayResult = { streams: 0, events: 0, driftingUsers: new Set() };
  const compare = new StreamComparison(
    dependencies.store,
    checkpoints,
    sections,
    result.driftingUsers,
    options.grantExpiry,
  );
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
): Promise<Array<{ stream: ComparedStream; rows: ReadModelRows }>> {
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
    const nowMs = options.grantExpiry.now.getTime();
    const grants = grantsVerdictOf(stream, userRows.grants, nowMs);
    const holds = holdsVerdictOf(stream, userRows.holds, nowMs);
    return { stream: { ...stream, grants, holds }, rows: userRows };
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
  for (const version of [
    rows.balance?.version,
    rows.ledger?.lastVersion,
    rows.recharges?.version,
    rows.grants?.version,
    rows.holds?.version,
  ]) {
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
    private readonly grantExpiry: ReplayOptions['grantExpiry'],
  ) {}

  async stream(stream: ComparedStream, rows: ReadModelRows): Promise<void> {
    if (stream.eventsRead === 0) {
      if (Object.values(rows).some((model) => model !== undefined)) this.rowsWithoutStream(stream.userId);
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
    await this.compareGrants(stream, rows.grants);
    await this.compareHolds(stream, rows.holds);
    this.watchNegativeBalance(stream, rows.balance);
    this.watchGrantExpiries(stream);
    this.watchHoldExpiries(stream);
  }

  rowsWithoutStream(userId: string): void {
    this.drift(userId, 'read-model-without-stream', `read-model rows for user ${userId}, who has no events`);
  }

  private async compareBalance(stream: ComparedStream, row: ReadModelRows['balance']): Promise<void> {
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

  private async compareLedger(stream: ComparedStream, ledger: ReadModelRows['ledger']): Promise<void> {
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
  private async compareRecharges(stream: ComparedStream, model: ReadModelRows['recharges']): Promise<void> {
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
   * Each grant's figures, and the user's debt and dispute freezes, once the
   * grants model is caught up with the stream (the fold knows the grants as
   * the whole stream leaves them, as with recharges).
   */
  private async compareGrants(stream: ComparedStream, model: ReadModelRows['grants']): Promise<void> {
    const at = await this.comparableVersion(stream, model?.version, this.checkpoints.grants, 'grants');
    if (at === undefined || at !== stream.version || model === undefined) return;
    for (const { kind, detail, values } of stream.grants.differences) {
      this.drift(stream.userId, kind, detail, { version: at, ...values });
    }
  }

  /** Each hold's row, once the holds model is caught up with the stream (held credits are the grants' to compare). */
  private async compareHolds(stream: ComparedStream, model: ReadModelRows['holds']): Promise<void> {
    const at = await this.comparableVersion(stream, model?.version, this.checkpoints.holds, 'holds');
    if (at === undefined || at !== stream.version || model === undefined) return;
    for (const { kind, detail } of stream.holds.differences) this.drift(stream.userId, kind, detail, { version: at });
  }

  /**
   * The version at which the row can be compared, or undefined when it cannot
   * (reported here if that is drift). A missing row or one behind the stream
   * is lag when the checkpoint has not passed the first event it lacks.
   */
  private async comparableVersion(
    stream: ComparedStream,
    rowVersion: number | undefined,
    checkpoint: string | undefined,
    model: 'balance' | 'ledger' | 'recharges' | 'grants' | 'holds',
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
  private watchNegativeBalance(stream: ComparedStream, row: ReadModelRows['balance']): void {
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

  /**
   * The expiry process records `CreditsExpired` for every grant past its
   * expiry with credits left and none frozen (a dispute holds a frozen one);
   * one still active in the stream more than the grace period after its
   * expiry is overdue: the process is behind, stopped, or cannot see it (its
   * list of grants due is the grants read model). Within the grace period it
   * is only counted. The stream is the judge, not the read model.
   */
  private watchGrantExpiries(stream: ComparedStream): void {
    const nowMs = this.grantExpiry.now.getTime();
    const graceSeconds = this.grantExpiry.graceSeconds;
    for (const grant of stream.grants.due) {
      const overdueSeconds = Math.round((nowMs - grant.expiresAtMs) / 1000);
      if (overdueSeconds <= graceSeconds) {
        this.sections.rechargeStatus.count('grant-expiries-due');
        continue;
      }
      this.sections.rechargeStatus.add({
        kind: 'grant-expiry-overdue',
        severity: 'failed',
        userId: stream.userId,
        grantId: grant.grantId,
        expiresAt: grant.expiresAt,
        credits: grant.remaining,
        overdueSeconds,
        detail:
          `grant ${grant.grantId} (${grant.category}) expired at ${grant.expiresAt} with ${grant.remaining} credits ` +
          `left and has no CreditsExpired ${overdueSeconds} s later (grace ${graceSeconds} s): ` +
          'is the expiry process running (GRANT_EXPIRY_INTERVAL_MS), and the grants projection caught up?',
      });
    }
  }

  /**
   * The expiry process records `HoldExpired` for every hold still active past its `expiresAt`, and the credits it
   * reserved stay unspendable until then: one active in the stream more than the grace period after its expiry is
   * overdue, judged by the stream as grants are.
   */
  private watchHoldExpiries(stream: ComparedStream): void {
    const nowMs = this.grantExpiry.now.getTime();
    const graceSeconds = this.grantExpiry.graceSeconds;
    for (const hold of stream.holds.due) {
      const overdueSeconds = Math.round((nowMs - hold.expiresAtMs) / 1000);
      if (overdueSeconds <= graceSeconds) {
        this.sections.rechargeStatus.count('hold-expiries-due');
        continue;
      }
      this.sections.rechargeStatus.add({
        kind: 'hold-expiry-overdue',
        severity: 'failed',
        userId: stream.userId,
        holdId: hold.holdId,
        expiresAt: hold.expiresAt,
        credits: hold.amount,
        overdueSeconds,
        detail:
          `hold ${hold.holdId} expired at ${hold.expiresAt} holding ${hold.amount} credits and has no HoldExpired ` +
          `${overdueSeconds} s later (grace ${graceSeconds} s): is the expiry process running ` +
          '(GRANT_EXPIRY_INTERVAL_MS), and the holds projection caught up?',
      });
    }
  }

  private drift(userId: string, kind: string, detail: string, values: Record<string, number> = {}): void {
    this.sections.readModel.add({ kind, severity: 'failed', userId, detail, ...values });
    this.keepDrifting(userId);
  }

  private keepDrifting(userId: string): void {
    if (this.driftingUsers.size < DRIFTING_USERS_KEPT_MAX) this.driftingUsers.add(userId);
  }
}

/**
 * What is reported of a stream's grants, computed as soon as it is folded:
 * how they differ from the grants model when it stands at the stream's
 * version, and those past their expiry at `nowMs` that the expiry process
 * should have closed (it leaves frozen ones alone while a dispute holds them).
 */
function grantsVerdictOf(stream: FoldedStream, model: ReadModelRows['grants'], nowMs: number): GrantsVerdict {
  const ledger = stream.grants;
  const due: Grant[] = [];
  for (const [[expiresAtMs], grantId] of ledger.dueOrder.entries()) {
    if (expiresAtMs > nowMs) break;
    const grant = ledger.byId.get(grantId)!;
    // A grant frozen by a dispute, or holding credits for a hold, closes when that ends: not due to the process.
    if (grant.frozen === 0 && (grant.held === 0 || grant.rollover !== undefined)) due.push(grant);
  }
  const comparable = model !== undefined && model.version === stream.version && stream.integrityBreak === undefined;
  return { differences: comparable ? grantDifferencesOf(ledger, model, stream.version) : [], due };
}

function grantDifferencesOf(
  ledger: GrantLedger,
  model: NonNullable<ReadModelRows['grants']>,
  version: number,
): GrantsVerdict['differences'] {
  const differences: GrantsVerdict['differences'] = [];
  const disputes = disputesText([...ledger.disputes.entries()]);
  if (ledger.debt !== model.ledger.debt || disputes !== model.ledger.disputes) {
    differences.push({
      kind: 'grant-ledger-differs',
      detail:
        `grant ledger row says debt ${model.ledger.debt}, disputes ${model.ledger.disputes} at version ${version}; ` +
        `the stream says debt ${ledger.debt}, disputes ${disputes}`,
      values: { readModel: model.ledger.debt, replayed: ledger.debt },
    });
  }
  const ids = new Set([...ledger.byId.keys(), ...model.byId.keys()]);
  for (const grantId of ids) {
    const replayed = ledger.byId.get(grantId);
    const row = model.byId.get(grantId);
    const described = grantDifferences(replayed, row);
    if (described === '') continue;
    differences.push({
      kind: 'grant-differs',
      detail: `grant ${grantId} at version ${version}: ${described}`,
      values:
        replayed === undefined || row === undefined ? {} : { readModel: row.remaining, replayed: replayed.remaining },
    });
  }
  return differences;
}

/** The figures compared of a grant, in the order a reader expects them. */
const GRANT_FIGURES = [
  'remaining',
  'frozen',
  'held',
  'status',
  'spent',
  'expired',
  'voided',
  'takenBack',
  'debtPaid',
  'granted',
  'category',
  'priority',
  'expiresAtMs',
  'sequence',
  'rechargeId',
  'rolledOver',
  'sourceGrantId',
  'rolledInto',
] as const satisfies ReadonlyArray<keyof GrantFigures>;

/** What differs between the stream's grant and the read model's row, as `name: read model X, stream Y; ...`; '' when nothing. */
function grantDifferences(replayed: Grant | undefined, row: GrantFigures | undefined): string {
  if (row !== undefined && replayed === undefined) {
    return `a row (remaining ${row.remaining}, ${row.status}) for a grant the stream never made`;
  }
  if (row === undefined || replayed === undefined) {
    return replayed === undefined ? '' : `no row; the stream says remaining ${replayed.remaining}, ${replayed.status}`;
  }
  return GRANT_FIGURES.filter((name) => replayed[name] !== row[name])
    .map((name) => `${figureName(name)}: read model ${shown(name, row[name])}, stream ${shown(name, replayed[name])}`)
    .join('; ');
}

const figureName = (name: (typeof GRANT_FIGURES)[number]) => (name === 'expiresAtMs' ? 'expiresAt' : name);

function shown(name: (typeof GRANT_FIGURES)[number], value: unknown): string {
  if (name !== 'expiresAtMs' || typeof value !== 'number') return String(value);
  if (value === Infinity) return 'never';
  return Number.isFinite(value) ? new Date(value).toISOString() : String(value);
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
