import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkoutSessionCompleted, signedDelivery } from '../test/support/stripe-events';
import { WebhookReceiver } from '../test/support/webhook-receiver';
import { checkHealth } from './checker';
import { LedgerClient, type LedgerRequest } from './ledger-client';
import { PACK } from './model/commands';
import { SeededRandom } from './seeded-random';
import {
  SIM_AUTHORIZATION,
  SIM_WEBHOOK_SECRET,
  ledgerEnvironment,
  registerWebhookEndpoint,
} from './system/ledger-environment';
import { LedgerProcesses, PROCESS_NAMES, type ProcessName } from './system/ledger-processes';
import { openSimulationDatabase } from './system/simulation-database';
import { Trace } from './trace';

export type SoakOptions = { seconds: number; rate: number; users: number; log?: (line: string) => void };

/** One sampling window: the requests answered in it and each process's resident memory at its end. */
export type SoakWindow = {
  atSeconds: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  rssMiB: Partial<Record<ProcessName, number>>;
};

export type SoakReport = {
  seconds: number;
  targetRate: number;
  achievedRate: number;
  requests: number;
  /** Answers other than 2xx and the 402s a tight balance gives, and requests that got no answer. */
  errors: number;
  windows: SoakWindow[];
  /** Least-squares slope of each process's resident memory after the first fifth of the run, MiB per hour. */
  rssSlopeMiBPerHour: Partial<Record<ProcessName, number>>;
  healthViolations: string[];
  passed: boolean;
};

const WINDOW_MS = 10_000;
const ONCE = { giveUpAfterMs: 0, attemptTimeoutMs: 10_000 };
const PATIENT = { giveUpAfterMs: 120_000, attemptTimeoutMs: 120_000 };

/**
 * `npm run soak`: a steady mixed load (consumptions, bonuses, holds captured, Stripe payments, balance reads)
 * at a fixed rate, open loop, on two API processes and a projector process (with the expiry process and the
 * webhook dispatcher delivering to a receiver), on PostgreSQL. Every ten seconds: the latency of the window
 * and each process's resident memory. At the end: the memory's slope, and the health check.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const directory = mkdtempSync(join(tmpdir(), 'credits-soak-'));
  const database = await openSimulationDatabase('credits_soak');
  const receiver = new WebhookReceiver();
  const trace = new FailuresTrace(join(directory, 'trace.jsonl'));
  let processes: LedgerProcesses | undefined;
  try {
    const { target } = database;
    const url = `postgres://postgres@${target.host}:${target.port}/${database.database}`;
    processes = await LedgerProcesses.start(ledgerEnvironment(url), directory);
    const running = processes;
    // The load's client sends each request once: a failure is counted, not retried. The checks' waits longer.
    const client = new LedgerClient(() => running.apiUrls, SIM_AUTHORIZATION, trace, ONCE);
    const checks = new LedgerClient(() => running.apiUrls, SIM_AUTHORIZATION, trace, PATIENT);
    await registerWebhookEndpoint(checks, await receiver.start());
    log(`soak: ${options.rate} requests/s for ${options.seconds} s on ${options.users} users; logs in ${directory}`);
    const load = new SoakLoad(client, running, options);
    const windows = await load.run(log);
    const healthViolations = await checkHealth(checks, 0);
    return reportOf(options, load, windows, healthViolations);
  } finally {
    await processes?.stopAll();
    await receiver.stop();
    await trace.close();
    await database.close();
  }
}

/** Only failures go to the soak's trace: its answers are too many to keep. */
class FailuresTrace extends Trace {
  override write(step: number, kind: string, detail: Record<string, unknown> = {}): void {
    if (kind !== 'answer' || (typeof detail.status === 'number' && detail.status >= 500))
      super.write(step, kind, detail);
  }
}

class SoakLoad {
  private readonly random: SeededRandom;
  private latencies: number[] = [];
  private windowErrors = 0;
  requests = 0;
  errors = 0;
  private step = 0;

  constructor(
    private readonly client: LedgerClient,
    private readonly processes: LedgerProcesses,
    private readonly options: SoakOptions,
  ) {
    this.random = new SeededRandom(options.seconds * 7919 + options.rate);
  }

  /** Sends at the rate until the time is up (open loop: a slow answer does not slow the sending). */
  async run(log: (line: string) => void): Promise<SoakWindow[]> {
    const startedAt = Date.now();
    const endsAt = startedAt + this.options.seconds * 1000;
    const inFlight = new Set<Promise<void>>();
    const windows: SoakWindow[] = [];
    let nextWindowAt = startedAt + WINDOW_MS;
    for (let sent = 0; Date.now() < endsAt; sent++) {
      const dueAt = startedAt + (sent * 1000) / this.options.rate;
      if (dueAt > Date.now()) await sleep(dueAt - Date.now());
      const request: Promise<void> = this.sendOne().finally(() => inFlight.delete(request));
      inFlight.add(request);
      if (Date.now() >= nextWindowAt) {
        windows.push(this.closeWindow((Date.now() - startedAt) / 1000));
        log(describeWindow(windows[windows.length - 1]));
        nextWindowAt += WINDOW_MS;
      }
    }
    await Promise.all(inFlight);
    windows.push(this.closeWindow((Date.now() - startedAt) / 1000));
    return windows;
  }

  private async sendOne(): Promise<void> {
    const request = this.nextRequest();
    const startedAt = performance.now();
    const outcome = await this.client.send(request);
    this.latencies.push(performance.now() - startedAt);
    this.requests++;
    const ok =
      outcome.status !== 'unknown' && ((outcome.status >= 200 && outcome.status < 300) || outcome.status === 402);
    if (!ok) {
      this.errors++;
      this.windowErrors++;
    }
  }

  /** The mix: mostly consumptions, as a product's backend sends them. */
  private nextRequest(): LedgerRequest {
    const step = ++this.step;
    const userId = `soak-u${this.random.int(0, this.options.users - 1)}`;
    const kind = this.random.weighted({ consume: 70, bonus: 10, hold: 8, checkout: 4, balance: 8 });
    switch (kind) {
      case 'consume':
        return post(step, `/v1/users/${userId}/consumptions`, { feature: 'face_swap', reference: `c-${step}` });
      case 'bonus':
        return {
          ...post(step, `/v1/users/${userId}/bonuses`, { amount: 20, reason: 'soak', expiresIn: 'PT1M' }),
          idempotencyKey: `soak-bonus-${step}`,
        };
      case 'hold':
        return post(step, `/v1/users/${userId}/holds`, {
          feature: 'video_generation',
          reference: `h-${step}`,
          amount: 5,
          expiresIn: 'PT5S',
        });
      case 'checkout':
        return stripeDelivery(step, userId);
      case 'balance':
        return { step, method: 'GET', path: `/v1/users/${userId}/balance` };
    }
  }

  private closeWindow(atSeconds: number): SoakWindow {
    const sorted = this.latencies.sort((a, b) => a - b);
    const window: SoakWindow = {
      atSeconds: Math.round(atSeconds),
      requests: sorted.length,
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99)),
      errors: this.windowErrors,
      rssMiB: residentMemory(this.processes),
    };
    this.latencies = [];
    this.windowErrors = 0;
    return window;
  }
}

function post(step: number, path: string, body: unknown): LedgerRequest {
  return { step, method: 'POST', path, body };
}

function stripeDelivery(step: number, userId: string): LedgerRequest {
  const event = checkoutSessionCompleted(
    { client_reference_id: userId, payment_intent: `pi_soak_${step}`, metadata: { packId: PACK.packId } },
    { id: `evt_soak_${step}` },
  );
  const { body, signature } = signedDelivery(event, SIM_WEBHOOK_SECRET);
  const headers = { 'content-type': 'application/json', 'stripe-signature': signature };
  return { step, method: 'POST', path: '/webhooks/stripe', raw: { body, headers } };
}

/** VmRSS of each running process, from /proc (Linux). */
function residentMemory(processes: LedgerProcesses): Partial<Record<ProcessName, number>> {
  const rss: Partial<Record<ProcessName, number>> = {};
  for (const name of PROCESS_NAMES) {
    const pid = processes.pid(name);
    if (pid === undefined) continue;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    rss[name] = round(kib / 1024);
  }
  return rss;
}

function reportOf(options: SoakOptions, load: SoakLoad, windows: SoakWindow[], health: string[]): SoakReport {
  const rssSlopeMiBPerHour: Partial<Record<ProcessName, number>> = {};
  const settled = windows.slice(Math.floor(windows.length / 5));
  for (const name of PROCESS_NAMES) {
    const points: Array<[number, number]> = [];
    for (const window of settled) {
      const mib = window.rssMiB[name];
      if (mib !== undefined) points.push([window.atSeconds, mib]);
    }
    rssSlopeMiBPerHour[name] = round(slope(points) * 3600);
  }
  return {
    seconds: options.seconds,
    targetRate: options.rate,
    achievedRate: round(load.requests / options.seconds),
    requests: load.requests,
    errors: load.errors,
    windows,
    rssSlopeMiBPerHour,
    healthViolations: health,
    passed: load.errors === 0 && health.length === 0,
  };
}

/** Least-squares slope of y over x; 0 with fewer than two points. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  if (points.length < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function describeWindow(window: SoakWindow): string {
  const rss = Object.entries(window.rssMiB)
    .map(([name, mib]) => `${name} ${mib} MiB`)
    .join(', ');
  return `${window.atSeconds} s: ${window.requests} answers, p50 ${window.p50Ms} ms, p99 ${window.p99Ms} ms, ${window.errors} errors; ${rss}`;
}
