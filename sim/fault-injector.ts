import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultyTcpProxy } from './infra/faulty-tcp-proxy';
import type { ScratchPostgres } from './infra/scratch-postgres';
import type { SeededRandom } from './seeded-random';
import type { LedgerProcesses } from './system/ledger-processes';
import type { Trace } from './trace';
import type { Fault } from './workload';

/** Why a kind of fault cannot run on this machine, by kind: said in the output and the report, never silently. */
export type UnavailableFaults = Partial<Record<Fault['kind'], string>>;

export type FaultTargets = {
  processes: LedgerProcesses;
  /** Between the API processes and PostgreSQL: where commands commit. */
  apiProxy: FaultyTcpProxy;
  /** Between the projector process and PostgreSQL. */
  projectorProxy: FaultyTcpProxy;
  /** Absent when the simulation could not create a cluster of its own (then PostgreSQL is never restarted). */
  postgres: ScratchPostgres | undefined;
  database: string;
};

/**
 * Strikes the faults of the schedule at the real system. A fault starts at once; what heals it (a killed
 * process started again, traffic flowing again) runs in the background until `healed()`, so requests keep
 * going while it lasts. The simulation calls `healed()` before it checks: a fault window closes there.
 */
export class FaultInjector {
  readonly counts: Partial<Record<Fault['kind'], number>> = {};
  /** Faults that could not be struck (the harness's own failure, not the ledger's): traced and counted. */
  errors = 0;
  private healing: Array<Promise<void>> = [];
  /** Faults on the cluster go one after the other: a backend is not terminated while the server restarts. */
  private clusterFaults: Promise<void> = Promise.resolve();

  constructor(
    private readonly targets: FaultTargets,
    private readonly random: SeededRandom,
    private readonly trace: Trace,
    readonly unavailable: UnavailableFaults,
  ) {}

  strike(step: number, fault: Fault): void {
    const reason = this.unavailable[fault.kind];
    if (reason !== undefined) {
      this.trace.write(step, 'fault-unavailable', { fault, reason });
      return;
    }
    this.counts[fault.kind] = (this.counts[fault.kind] ?? 0) + 1;
    this.trace.write(step, 'fault', { fault });
    const onCluster = fault.kind === 'terminate-backends' || fault.kind === 'restart-postgres';
    const started = onCluster ? this.clusterFaults.then(() => this.start(step, fault)) : this.start(step, fault);
    const healing = started.catch((error: Error) => {
      this.errors++;
      this.trace.write(step, 'fault-error', { fault, error: String(error) });
    });
    if (onCluster) this.clusterFaults = healing;
    this.healing.push(healing);
  }

  /** Waits for every fault struck so far to be over, and every process to be running. */
  async healed(): Promise<void> {
    const healing = this.healing.splice(0);
    await Promise.all(healing);
    await this.targets.processes.startStopped();
    for (const proxy of this.proxies()) proxy.setDelay(0);
  }

  private async start(step: number, fault: Fault): Promise<void> {
    const { processes, apiProxy, postgres, database } = this.targets;
    switch (fault.kind) {
      case 'kill-process':
        await processes.kill(fault.process);
        await sleep(fault.downMs);
        await processes.startProcess(fault.process);
        return;
      case 'terminate-backends': {
        const terminated = await postgres!.terminateBackends(database, fault.count, (n) => this.pickIndex(n));
        this.trace.write(step, 'fault-done', { fault, terminated });
        return;
      }
      case 'restart-postgres':
        await postgres!.restart(fault.mode);
        return;
      case 'cut-connections':
        this.trace.write(step, 'fault-done', {
          fault,
          cut: this.proxies().reduce((cut, proxy) => cut + proxy.cutSome(() => this.random.float(), fault.fraction), 0),
        });
        return;
      case 'cut-at-commit':
        // On the API processes' connections only: there a cut COMMIT leaves a command's outcome unknown (the
        // projector's loops commit far more often, and would take most cuts).
        apiProxy.cutAtNextCommits(fault.count);
        return;
      case 'delay-traffic':
        for (const proxy of this.proxies()) proxy.setDelay(fault.ms);
        await sleep(fault.forMs);
        for (const proxy of this.proxies()) proxy.setDelay(0);
        return;
      case 'stall-traffic':
        await Promise.all(this.proxies().map((proxy) => proxy.stall(fault.ms)));
        return;
    }
  }

  private proxies(): FaultyTcpProxy[] {
    return [this.targets.apiProxy, this.targets.projectorProxy];
  }

  /** Which backend to terminate, drawn from the seed (the list's order is the server's). */
  private pickIndex(count: number): number {
    return Math.floor(this.random.float() * count);
  }
}
