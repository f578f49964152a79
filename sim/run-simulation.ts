import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebhookReceiver } from '../test/support/webhook-receiver';
import { type SentLog, type StreamsCheck, checkHealth, checkReadModel, checkStreams } from './checker';
import { FaultInjector, type UnavailableFaults } from './fault-injector';
import { FaultyTcpProxy } from './infra/faulty-tcp-proxy';
import type { ScratchPostgres } from './infra/scratch-postgres';
import { LedgerClient } from './ledger-client';
import { SeededRandom } from './seeded-random';
import { StepExecutor } from './step-executor';
import { SIM_AUTHORIZATION, ledgerEnvironment, registerWebhookEndpoint } from './system/ledger-environment';
import { openSimulationDatabase } from './system/simulation-database';
import { LedgerProcesses } from './system/ledger-processes';
import { Trace } from './trace';
import { checkWebhooks } from './webhook-check';
import { type FaultMode, type Step, workload } from './workload';

export type SimulationOptions = {
  seed: number;
  steps: number;
  faults: FaultMode;
  users?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** A defect planted in the processes (`CREDITS_PLANTED_DEFECT`), to show the checker finds it. */
  plantedDefect?: string;
  /** Progress lines (the CLI prints them; the test suite does not). */
  log?: (line: string) => void;
};

export type SimulationReport = {
  seed: number;
  steps: number;
  faults: FaultMode;
  passed: boolean;
  /** The step the first violation was found at (a checkpoint's or the end's), and the violations. */
  failedAtStep?: number;
  violations: string[];
  tracePath: string;
  durationMs: number;
  faultsStruck: Partial<Record<string, number>>;
  faultsUnavailable: UnavailableFaults;
  /** Faults the harness failed to strike (traced as `fault-error`). */
  faultErrors: number;
  /** `COMMIT`s the proxy forwarded and then cut before their answer: outcomes the client could not know. */
  commitsCut: number;
  /**
   * Requests sent again after a failure or a 503 and then answered as their first attempt had been applied
   * (`Idempotent-Replayed`): the outcomes a client could not know, that the ledger kept once.
   */
  replayedAfterRetry: number;
  answers: Record<string, number>;
  checkpoints: number;
  webhooks: { expected: number; received: number; copies: number };
};

/** Steps after a fault before its window closes: the requests it hit have been retried by then. */
const FAULT_WINDOW_STEPS = 10;

/**
 * One seed's run against the real system: its own PostgreSQL cluster behind a faulty TCP proxy, two API
 * processes and a projector process, a webhook receiver; the schedule drawn from the seed; a check at the close
 * of every fault window and a full one at the end.
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const startedAt = Date.now();
  const log = options.log ?? (() => undefined);
  const steps = workload({ users: 4, ...options });
  const directory = mkdtempSync(join(tmpdir(), `credits-sim-${options.seed}-`));
  const trace = new Trace(join(directory, 'trace.jsonl'));
  const world = await World.create(options, steps, directory, trace, log);
  const report: SimulationReport = {
    seed: options.seed,
    steps: options.steps,
    faults: options.faults,
    passed: false,
    violations: [],
    tracePath: trace.path,
    durationMs: 0,
    faultsStruck: world.faults.counts,
    faultsUnavailable: world.faults.unavailable,
    faultErrors: 0,
    commitsCut: 0,
    replayedAfterRetry: 0,
    answers: {},
    checkpoints: 0,
    webhooks: { expected: 0, received: 0, copies: 0 },
  };
  try {
    await drive(world, steps, options.concurrency ?? 6, report, log);
  } catch (error) {
    report.violations.push(`the run stopped: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await world.close();
    await trace.close();
  }
  report.passed = report.violations.length === 0;
  report.durationMs = Date.now() - startedAt;
  report.faultErrors = world.faults.errors;
  report.commitsCut = world.apiProxy.commitCuts;
  report.replayedAfterRetry = [...world.executor.outcomes.values()].filter(
    (outcome) => outcome.status !== 'unknown' && outcome.attempts > 1 && outcome.replayed,
  ).length;
  report.answers = countAnswers(world.executor);
  return report;
}

async function drive(
  world: World,
  steps: Step[],
  concurrency: number,
  report: SimulationReport,
  log: (line: string) => void,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  const drain = async () => {
    while (inFlight.size > 0) await Promise.all(inFlight);
    await world.executor.deliveriesDone();
  };
  let openWindowSince: number | undefined;
  for (const step of steps) {
    if (step.kind === 'fault') {
      world.faults.strike(step.step, step.fault);
      openWindowSince ??= step.step;
      continue;
    }
    if (openWindowSince !== undefined && step.step - openWindowSince >= FAULT_WINDOW_STEPS) {
      await drain();
      await world.faults.healed();
      report.checkpoints++;
      if (failed(report, step.step, await world.checkpoint(step.step))) return;
      openWindowSince = undefined;
    }
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    const running: Promise<void> = world.executor.execute(step).finally(() => inFlight.delete(running));
    inFlight.add(running);
    if (step.step % 100 === 0) log(`seed ${report.seed}: step ${step.step} of ${report.steps}`);
  }
  await drain();
  await world.faults.healed();
  const end = report.steps + 1;
  failed(report, end, await world.finalCheck(end, report));
}

function failed(report: SimulationReport, step: number, violations: string[]): boolean {
  if (violations.length === 0) return false;
  report.failedAtStep ??= step;
  report.violations.push(...violations);
  return true;
}

function countAnswers(executor: StepExecutor): Record<string, number> {
  const answers: Record<string, number> = {};
  for (const outcome of executor.outcomes.values()) {
    const key = outcome.status === 'unknown' ? 'unknown' : String(outcome.status);
    answers[key] = (answers[key] ?? 0) + 1;
  }
  return answers;
}

/** Everything one run starts, and stops at its end. */
class World {
  private constructor(
    readonly processes: LedgerProcesses,
    readonly apiProxy: FaultyTcpProxy,
    readonly projectorProxy: FaultyTcpProxy,
    readonly postgres: ScratchPostgres | undefined,
    readonly receiver: WebhookReceiver,
    readonly client: LedgerClient,
    readonly executor: StepExecutor,
    readonly faults: FaultInjector,
    readonly users: string[],
    private readonly steps: ReadonlyMap<number, Step>,
    private readonly directory: string,
    private readonly closeDatabase: () => Promise<void>,
  ) {}

  static async create(
    options: SimulationOptions,
    steps: Step[],
    directory: string,
    trace: Trace,
    log: (line: string) => void,
  ): Promise<World> {
    const unavailable: UnavailableFaults = {};
    const {
      postgres,
      unavailable: noCluster,
      target,
      database,
      close,
    } = await openSimulationDatabase(`credits_sim_${options.seed}`);
    if (noCluster !== undefined) {
      log(`${noCluster}; restart-postgres and terminate-backends will not run`);
      unavailable['restart-postgres'] = noCluster;
      unavailable['terminate-backends'] = noCluster;
    }
    const apiProxy = new FaultyTcpProxy(target);
    const projectorProxy = new FaultyTcpProxy(target);
    await apiProxy.start();
    await projectorProxy.start();
    const receiver = new WebhookReceiver();
    const hookUrl = await receiver.start();
    const urlThrough = (proxy: FaultyTcpProxy) => `postgres://postgres@127.0.0.1:${proxy.port}/${database}`;
    const processes = await LedgerProcesses.start(
      ledgerEnvironment(urlThrough(apiProxy), options.plantedDefect),
      directory,
      (name): Record<string, string> => (name === 'projector' ? { DATABASE_URL: urlThrough(projectorProxy) } : {}),
    );
    const client = new LedgerClient(() => processes.apiUrls, SIM_AUTHORIZATION, trace);
    await registerWebhookEndpoint(client, hookUrl);
    const faults = new FaultInjector(
      { processes, apiProxy, projectorProxy, postgres, database },
      new SeededRandom(options.seed ^ 0x5eed),
      trace,
      unavailable,
    );
    const users = Array.from({ length: options.users ?? 4 }, (_, index) => `sim-${options.seed}-u${index}`);
    const executor = new StepExecutor(client, trace);
    const stepsByNumber = new Map(steps.map((step) => [step.step, step]));
    return new World(
      processes,
      apiProxy,
      projectorProxy,
      postgres,
      receiver,
      client,
      executor,
      faults,
      users,
      stepsByNumber,
      directory,
      close,
    );
  }

  /** Streams against the model and the answers, and the health check (a projection behind is not a failure). */
  async checkpoint(step: number): Promise<string[]> {
    const streams = await checkStreams(this.client, this.sentLog(), step);
    const violations = [...this.answeredViolations(), ...streams.violations, ...(await checkHealth(this.client, step))];
    if (violations.length > 0) this.keepStreams(streams.events);
    return violations;
  }

  private answeredViolations(): string[] {
    return this.executor.violations.map(({ step, violation }) => `step ${step}: ${violation}`);
  }

  /** The streams a failed check read, beside the trace: what the violations name can be looked up there. */
  private keepStreams(events: ReadonlyMap<string, unknown>): void {
    writeFileSync(join(this.directory, 'streams.json'), JSON.stringify(Object.fromEntries(events), null, 1));
  }

  private sentLog(): SentLog {
    const { outcomes, payments, holdIds } = this.executor;
    return { steps: this.steps, outcomes, payments, holdIds, users: this.users };
  }

  /**
   * At the end: once the expiry process has closed every grant and hold past its expiry, the streams against the
   * model, the read model against it, the health check, and every outbound event delivered in order.
   */
  async finalCheck(step: number, report: SimulationReport): Promise<string[]> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const streams = await checkStreams(this.client, this.sentLog(), step);
      // Settled: no grant with credits left will expire and no hold is active, so no event comes between
      // reading the streams and reading the read model (the short expiries are all over within seconds).
      const due = [...streams.models.values()].flatMap((model) => [
        ...model.dueAt(Infinity),
        ...model.activeHoldsDueAt(Infinity),
      ]);
      if (streams.violations.length > 0) {
        this.keepStreams(streams.events);
        return [...this.answeredViolations(), ...streams.violations];
      }
      if (due.length === 0 || Date.now() > deadline) {
        const violations = this.answeredViolations();
        if (due.length > 0) violations.push(`grants or holds never expired within 60 s: ${due.join(', ')}`);
        violations.push(...(await checkReadModel(this.client, streams.models, streams.events, step)));
        violations.push(...(await checkHealth(this.client, step)));
        const webhooks = await checkWebhooks(this.receiver, streams.events, 30_000);
        report.webhooks = webhooks.figures;
        violations.push(...webhooks.violations, ...(await this.recheck(streams, step)));
        if (violations.length > 0) this.keepStreams(streams.events);
        return violations;
      }
      await sleep(250);
    }
  }

  /**
   * The streams read once more after the last checks: a request a client gave up on may still commit late
   * (a second copy would show here), and the read model is compared again if anything was written since.
   */
  private async recheck(before: StreamsCheck, step: number): Promise<string[]> {
    const after = await checkStreams(this.client, this.sentLog(), step);
    const count = (check: StreamsCheck) => [...check.events.values()].reduce((sum, events) => sum + events.length, 0);
    if (count(after) === count(before)) return after.violations;
    return [...after.violations, ...(await checkReadModel(this.client, after.models, after.events, step))];
  }

  async close(): Promise<void> {
    await this.processes.stopAll();
    await this.apiProxy.stop();
    await this.projectorProxy.stop();
    await this.receiver.stop();
    await this.closeDatabase();
  }
}
