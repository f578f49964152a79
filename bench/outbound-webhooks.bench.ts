/**
 * `npm run bench -- outbound-webhooks`: outbound webhooks through the real app (`ROLE=all`, the default settings
 * but private URLs allowed), to one fast receiver on loopback, on each store.
 * - Latency: recharges over HTTP one after another, 10 ms apart (a load the dispatcher keeps up with: latency of
 *   a backlog is the throughput's question); for each, the time from its answer (the event committed) to the
 *   receiver getting its delivery.
 * - Throughput: with the dispatcher stopped, recharges of many users queue; then it starts, and the time to
 *   deliver them all gives deliveries per second (`WEBHOOK_CONCURRENCY_PER_ENDPOINT`, 8, in flight).
 * - `BENCH_WEBHOOK_ENDPOINTS=N` (default 1): N endpoints, each with its own receiver, subscribed to the same
 *   events: the throughput phase then counts every endpoint's deliveries (endpoints are dispatched apart).
 * Verified: every recharge delivered to every endpoint, under distinct ids, each user's in stream order.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AppConfig, loadConfig, parseApiKeys } from '@libs/config';
import type { EventStoreLocation } from '@libs/event-store';
import { WebhookDispatchLoop } from '@projections';
import { createApp } from '../apps/api/src/create-app';
import { WebhookReceiver } from '../test/support/webhook-receiver';
import { benchStores, latencyPercentiles } from './bench-figures';

const LATENCY_RECHARGES = Number(process.env.BENCH_LATENCY_RECHARGES ?? 400);
const QUEUED_USERS = Number(process.env.BENCH_QUEUED_USERS ?? 500);
const QUEUED_PER_USER = 4;
const LATENCY_PAUSE_MS = 10;
const ADMIN_KEY = 'bench-secret-0123456789';
const ENDPOINTS = Number(process.env.BENCH_WEBHOOK_ENDPOINTS ?? 1);

type Figures = { store: string; phase: string; deliveries: number; perSecond: number; p50Ms: number; p99Ms: number };

export async function outboundWebhooksBench(): Promise<boolean> {
  const figures: Figures[] = [];
  let verified = true;
  for (const target of await benchStores('outbound')) {
    const run = await measure(target.name, target.location());
    figures.push(...run.figures);
    verified &&= run.verified;
    await target.cleanUp();
  }
  console.table(figures);
  console.log(`every recharge delivered once, in order per user: ${verified}`);
  return verified;
}

async function measure(store: string, location: EventStoreLocation) {
  const config: AppConfig = {
    ...loadConfig({ LOG_LEVEL: 'silent', OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS: 'true', GRANT_EXPIRY_INTERVAL_MS: '0' }),
    eventStore: location,
  };
  const app = await createApp(config, parseApiKeys(`bench:admin:${ADMIN_KEY}`));
  await app.listen(0, '127.0.0.1');
  const base = await app.getUrl();
  const receivers = Array.from({ length: ENDPOINTS }, () => new WebhookReceiver());
  const [receiver] = receivers;
  try {
    for (const each of receivers) {
      const url = await each.start();
      await call(base, 'POST', '/v1/admin/webhook-endpoints', { url, events: ['recharge.completed'] });
    }

    const answeredAt = new Map<string, number>();
    const rechargeOf = (userId: string, index: number) => async () => {
      const rechargeId = `bench-${userId}-${index}`;
      await call(base, 'POST', `/v1/users/${userId}/recharges`, {
        rechargeId,
        credits: 10,
        amountPaid: 100,
        currency: 'usd',
      });
      answeredAt.set(rechargeId, performance.now());
    };
    for (let index = 0; index < LATENCY_RECHARGES; index++) {
      await rechargeOf(`lat-${index}`, 0)();
      await sleep(LATENCY_PAUSE_MS);
    }
    await Promise.all(receivers.map((each) => each.waitFor(LATENCY_RECHARGES, 60_000)));
    // The receiver's clock is this process's: performance.now() of arrival against the answer's.
    const latencies = receiver.received.map(
      ({ payload, at }) => at - performance.timeOrigin - answeredAt.get(String(payload.data.rechargeId))!,
    );

    const dispatcher = app.get(WebhookDispatchLoop, { strict: false }).dispatcher;
    await dispatcher.stop();
    const queuedJobs = Array.from({ length: QUEUED_USERS }, (_, user) => async () => {
      for (let index = 0; index < QUEUED_PER_USER; index++) await rechargeOf(`tp-${user}`, index)();
    });
    await inFlight(queuedJobs, 16);
    const queued = QUEUED_USERS * QUEUED_PER_USER;
    await waitForPending(base, queued * ENDPOINTS);
    const started = performance.now();
    dispatcher.start();
    await Promise.all(receivers.map((each) => each.waitFor(LATENCY_RECHARGES + queued, 120_000)));
    const seconds = (performance.now() - started) / 1000;
    await sleep(200);

    const verified = receivers.every((each) => deliveredOnceInOrder(each, LATENCY_RECHARGES + queued));
    return {
      verified,
      figures: [
        {
          store,
          phase: 'latency (commit → receiver)',
          deliveries: LATENCY_RECHARGES,
          perSecond: NaN,
          ...pick(latencies),
        },
        {
          store,
          phase: `throughput (queued, ${ENDPOINTS} endpoint${ENDPOINTS === 1 ? '' : 's'})`,
          deliveries: queued * ENDPOINTS,
          perSecond: Math.round((queued * ENDPOINTS) / seconds),
          p50Ms: NaN,
          p99Ms: NaN,
        },
      ],
    };
  } finally {
    await Promise.all(receivers.map((each) => each.stop()));
    await app.close();
  }
}

function pick(latencies: number[]) {
  const { p50Ms, p99Ms } = latencyPercentiles(latencies);
  return { p50Ms, p99Ms };
}

function deliveredOnceInOrder(receiver: WebhookReceiver, expected: number): boolean {
  const ids = new Set(receiver.received.map(({ payload }) => payload.id));
  const byUser = new Map<string, number[]>();
  for (const { payload } of receiver.received) {
    const userId = payload.userId ?? '';
    byUser.set(userId, [...(byUser.get(userId) ?? []), payload.data.ledgerEvent!.streamVersion]);
  }
  const inOrder = [...byUser.values()].every((versions) => versions.every((v, i) => i === 0 || v > versions[i - 1]));
  return ids.size === expected && receiver.received.length === expected && inOrder;
}

/** Until the outbox has queued `count` deliveries (the pending gauge of /metrics). */
async function waitForPending(base: string, count: number): Promise<void> {
  for (;;) {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    if (Number(/credits_webhook_deliveries_pending (\d+)/.exec(metrics)?.[1] ?? 0) >= count) return;
    await sleep(50);
  }
}

async function call(base: string, method: string, path: string, body?: object): Promise<unknown> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

async function inFlight(jobs: ReadonlyArray<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}
