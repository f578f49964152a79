/**
 * `npm run bench -- webhook`: Stripe deliveries through the real app, on each
 * store: 500 paid Checkout sessions of distinct users (8 in flight, as Stripe
 * delivers concurrently), then every one delivered again. Prints deliveries/s
 * and latency percentiles for both passes, and checks the result: each user
 * credited exactly once, every redelivery a duplicate. Figures only.
 */
import { performance } from 'node:perf_hooks';
import { type AppConfig, loadConfig, parseApiKeys } from '@libs/config';
import { creditsStreamId } from '@libs/credits';
import { EVENT_STORE, type EventStore, type EventStoreLocation } from '@libs/event-store';
import { foldCreditsStream } from '../apps/api/src/credits/credits-stream.reader';
import { createApp } from '../apps/api/src/create-app';
import { packCheckoutCompleted, signedDelivery } from '../test/support/stripe-events';
import { benchStores, latencyPercentiles } from './bench-figures';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 500);
const IN_FLIGHT = 8;
const WEBHOOK_SECRET = 'whsec_bench_0123456789abcdef';

type Figures = {
  store: string;
  pass: string;
  deliveriesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  verified: boolean;
};

export async function stripeWebhookBench(): Promise<boolean> {
  const figures: Figures[] = [];
  for (const target of await benchStores('webhook')) {
    figures.push(...(await deliverTwice(target.name, target.location())));
    await target.cleanUp();
  }
  console.table(figures.map((f) => ({ ...f, deliveriesPerSecond: Math.round(f.deliveriesPerSecond) })));
  return figures.every((f) => f.verified);
}

async function deliverTwice(store: string, location: EventStoreLocation): Promise<Figures[]> {
  const config: AppConfig = { ...loadConfig({ LOG_LEVEL: 'silent', ROLE: process.env.ROLE }), eventStore: location };
  config.stripe = { ...config.stripe, webhookSecrets: [WEBHOOK_SECRET] };
  const app = await createApp(config, parseApiKeys('bench:admin:bench-secret-0123456789'));
  await app.listen(0, '127.0.0.1');
  const url = `${await app.getUrl()}/webhooks/stripe`;
  const users = Array.from({ length: DELIVERIES }, (_, index) => `webhook-${Date.now()}-${index}`);
  const events = users.map((userId) => packCheckoutCompleted(userId));
  const deliver = async (index: number, expected: string) => {
    const { body, signature } = signedDelivery(events[index], WEBHOOK_SECRET);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Stripe-Signature': signature, 'Content-Type': 'application/json' },
      body,
    });
    const outcome = (await response.json()) as { status?: string };
    return response.status === 200 && outcome.status === expected;
  };
  const first = await timeInFlight((index) => deliver(index, 'credited'));
  const again = await timeInFlight((index) => deliver(index, 'duplicate'));
  const credited = await everyUserCreditedOnce(app.get<EventStore>(EVENT_STORE), users);
  await app.close();
  return [
    { store, pass: 'first delivery', ...summarize(first), verified: first.allAsExpected && credited },
    { store, pass: 'redelivery', ...summarize(again), verified: again.allAsExpected && credited },
  ];
}

async function timeInFlight(deliver: (index: number) => Promise<boolean>) {
  const latencies: number[] = [];
  let next = 0;
  let allAsExpected = true;
  const started = performance.now();
  const worker = async () => {
    for (let index = next++; index < DELIVERIES; index = next++) {
      const before = performance.now();
      allAsExpected = (await deliver(index)) && allAsExpected;
      latencies.push(performance.now() - before);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { latencies, seconds: (performance.now() - started) / 1000, allAsExpected };
}

async function everyUserCreditedOnce(store: EventStore, users: string[]): Promise<boolean> {
  for (const userId of users) {
    const state = await foldCreditsStream(store, creditsStreamId(userId));
    if (state.balance !== 100 || state.version !== 1) return false;
  }
  return true;
}

function summarize({ latencies, seconds }: { latencies: number[]; seconds: number }) {
  const { p50Ms, p99Ms } = latencyPercentiles(latencies);
  return { deliveriesPerSecond: DELIVERIES / seconds, p50Ms, p99Ms };
}
