/**
 * `npm run bench`: 1,000 sequential consumes on one user, on each store, through
 * the command runner and through the HTTP API. Prints commands/s and latency
 * percentiles, and checks the result (final balance, events stored); exits 1
 * if a check fails. Figures only: nothing here fails because a machine is slow.
 * The HTTP path runs the app as ROLE says (default `all`: the projector in the
 * same process, as `npm start` does); ROLE=api measures the API alone.
 */
import { MetricsRegistry } from '@libs/http';
import { performance } from 'node:perf_hooks';
import { type AppConfig, loadConfig, parseApiKeys } from '@libs/config';
import { creditsStreamId } from '@libs/credits';
import { type EventStore, openEventStore } from '@libs/event-store';
import { CreditsCommandRunner } from '../apps/api/src/credits/credits-command.runner';
import { foldCreditsStream } from '../apps/api/src/credits/credits-stream.reader';
import { createApp } from '../apps/api/src/create-app';
import { type BenchStore, benchStores, latencyPercentiles } from './bench-figures';
import { CreditsMetrics } from '../apps/api/src/credits/credits-metrics';

const CONSUMES = Number(process.env.BENCH_CONSUMES ?? 1000);
const NOW = new Date().toISOString();
const SECRET = 'bench-secret-0123456789';

type Figures = {
  store: string;
  path: string;
  commandsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  verified: boolean;
};

export async function sequentialConsumesBench(): Promise<boolean> {
  const figures: Figures[] = [];
  for (const target of await benchStores('consumes')) {
    figures.push(await throughRunner(target));
    figures.push(await throughHttp(target));
    await target.cleanUp();
  }
  console.table(figures.map((f) => ({ ...f, commandsPerSecond: Math.round(f.commandsPerSecond) })));
  return figures.every((f) => f.verified);
}

async function throughRunner(target: BenchStore): Promise<Figures> {
  const store = await openEventStore(target.location());
  const runner = new CreditsCommandRunner(store, 10, new CreditsMetrics(new MetricsRegistry()));
  const userId = `runner-${Date.now()}`;
  await runner.run({
    type: 'GrantBonus',
    data: { userId, amount: CONSUMES, reason: 'bench', metadata: {} },
    metadata: { idempotencyKey: 'grant', now: NOW },
  });
  const latencies = await timeSequentially(async (index) => {
    const result = await runner.run({
      type: 'ConsumeCredits',
      data: { userId, feature: 'face_swap', reference: `upload-${index}`, price: { credits: 1 }, metadata: {} },
      metadata: { idempotencyKey: `consume:${index}`, now: NOW },
    });
    if (result.kind !== 'recorded') throw new Error(`consume ${index} was ${result.kind}`);
  });
  const verified = await verify(store, userId);
  await store.close();
  return { store: target.name, path: 'runner', ...summarize(latencies), verified };
}

async function throughHttp(target: BenchStore): Promise<Figures> {
  const config: AppConfig = {
    ...loadConfig({ LOG_LEVEL: 'silent', ROLE: process.env.ROLE }),
    eventStore: target.location(),
  };
  const app = await createApp(config, parseApiKeys(`bench:admin:${SECRET}`));
  await app.listen(0, '127.0.0.1');
  const base = await app.getUrl();
  const userId = `http-${Date.now()}`;
  const post = (path: string, body: unknown, key?: string) =>
    fetch(`${base}/v1/users/${userId}/${path}`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${SECRET}`,
        'Content-Type': 'application/json',
        ...(key ? { 'Idempotency-Key': key } : {}),
      },
      body: JSON.stringify(body),
    });
  await post('bonuses', { amount: CONSUMES, reason: 'bench' }, 'grant');
  const latencies = await timeSequentially(async (index) => {
    const response = await post('consumptions', { feature: 'face_swap', reference: `upload-${index}` });
    if (response.status !== 201) throw new Error(`consume ${index} answered ${response.status}`);
    await response.arrayBuffer();
  });
  const { EVENT_STORE } = await import('@libs/event-store');
  const verified = await verify(app.get<EventStore>(EVENT_STORE), userId);
  await app.close();
  return { store: target.name, path: 'http', ...summarize(latencies), verified };
}

async function timeSequentially(
  consume: (index: number) => Promise<void>,
): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let index = 0; index < CONSUMES; index++) {
    const before = performance.now();
    await consume(index);
    latencies.push(performance.now() - before);
  }
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

async function verify(store: EventStore, userId: string): Promise<boolean> {
  const state = await foldCreditsStream(store, creditsStreamId(userId));
  return state.balance === 0 && state.version === CONSUMES + 1;
}

function summarize({ latencies, seconds }: { latencies: number[]; seconds: number }) {
  const { p50Ms, p99Ms } = latencyPercentiles(latencies);
  return { commandsPerSecond: CONSUMES / seconds, p50Ms, p99Ms };
}
