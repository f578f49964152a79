/**
 * `npm run bench -- grants`: consumes on a user holding many active grants. The decision and the fold alone
 * (decide + evolve, in memory) for 1 to 10,000 grants, then through the command runner on PGlite for a user
 * with 10,000 grants against one with a single grant. Prints µs per consume and commands/s; checks that every
 * consume was recorded, the balance is what was granted less what was consumed, and the grants sum to it.
 */
import { performance } from 'node:perf_hooks';
import { MetricsRegistry } from '@libs/http';
import {
  type CreditsCommand,
  type CreditsEvent,
  type CreditsState,
  creditsStreamId,
  decide,
  evolve,
  grantsBalance,
  initialState,
} from '@libs/credits';
import { type EventStore, openEventStore } from '@libs/event-store';
import { CreditsCommandRunner } from '../apps/api/src/credits/credits-command.runner';
import { CreditsMetrics } from '../apps/api/src/credits/credits-metrics';
import { foldCreditsStream, toEventToAppend } from '../apps/api/src/credits/credits-stream.reader';
import { benchStores, latencyPercentiles } from './bench-figures';

const CONSUMES = Number(process.env.BENCH_CONSUMES ?? 2000);
const CONSUME_CREDITS = 3;
/** What every user is granted in all, in as many grants as measured: the same consumes fit each. */
const GRANTED_CREDITS = Math.max(100_000, CONSUMES * CONSUME_CREDITS);
const NOW = new Date().toISOString();
const USER_ID = 'bench-grants';

export async function grantsBench(): Promise<boolean> {
  // A first pass warms the JIT up; the second is reported.
  [1, 100, 1_000, 10_000].forEach((grants) => inMemoryConsumes(grants));
  const inMemory = [1, 100, 1_000, 10_000].map((grants) => inMemoryConsumes(grants));
  console.table(inMemory.map(({ verified: _, ...figures }) => figures));
  const [target] = await benchStores('grants');
  const runner = [await runnerConsumes(target.location(), 1), await runnerConsumes(target.location(), 10_000)];
  await target.cleanUp();
  console.table(runner.map(({ verified: _, ...figures }) => figures));
  return [...inMemory, ...runner].every((figures) => figures.verified);
}

/** The user's grants: bonuses of random priority (0 to 300) and expiry (1 to 365 days), seeded. */
function grantCommands(count: number, userId = USER_ID): CreditsCommand[] {
  let seed = 42;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: count }, (_, index) => ({
    type: 'GrantBonus',
    data: {
      userId,
      amount: Math.floor(GRANTED_CREDITS / count),
      reason: 'bench',
      metadata: {},
      priority: Math.floor(random() * 301),
      expiresIn: `P${1 + Math.floor(random() * 365)}D`,
    },
    metadata: { idempotencyKey: `grant-${index}`, now: NOW },
  }));
}

function consumeCommand(index: number, userId = USER_ID): CreditsCommand {
  return {
    type: 'ConsumeCredits',
    data: { userId, feature: 'bench', reference: `job-${index}`, price: { credits: CONSUME_CREDITS }, metadata: {} },
    metadata: { idempotencyKey: `consume-${index}`, now: NOW },
  };
}

/** The command decided on `state`, and the state once its events are folded. */
function decided(state: CreditsState, command: CreditsCommand): { state: CreditsState; events: CreditsEvent[] } {
  const decision = decide(command, state);
  if (decision.kind !== 'recorded') throw new Error(`${command.type} was ${decision.kind}`);
  const after = decision.events.reduce(
    (current, event) => evolve(current, { ...event, streamVersion: current.version + 1, globalPosition: '1' }),
    state,
  );
  return { state: after, events: decision.events };
}

const applied = (state: CreditsState, command: CreditsCommand) => decided(state, command).state;

function inMemoryConsumes(grants: number) {
  let state = grantCommands(grants).reduce(applied, initialState());
  const consumes = CONSUMES;
  const latencies: number[] = [];
  for (let index = 0; index < consumes; index++) {
    const started = performance.now();
    state = applied(state, consumeCommand(index));
    latencies.push((performance.now() - started) * 1000);
  }
  const expected = grants * Math.floor(GRANTED_CREDITS / grants) - consumes * CONSUME_CREDITS;
  const { p50Ms: p50, p99Ms: p99 } = latencyPercentiles(latencies);
  return {
    path: 'decide + evolve',
    activeGrants: grants,
    consumes,
    p50Micros: p50,
    p99Micros: p99,
    meanMicros: Math.round(latencies.reduce((sum, value) => sum + value, 0) / consumes),
    verified: state.balance === expected && grantsBalance(state.grants) === expected,
  };
}

/** The grants written straight to the store (a thousand per append), then consumes through the runner. */
async function runnerConsumes(location: Parameters<typeof openEventStore>[0], grants: number) {
  const store = await openEventStore(location);
  const userId = `${USER_ID}-${grants}`;
  await writeGrants(store, userId, grants);
  const runner = new CreditsCommandRunner(store, 10, new CreditsMetrics(new MetricsRegistry()));
  const consumes = CONSUMES;
  // The first consume folds the stream into the runner's cache; it is not timed.
  await runner.run(consumeCommand(-1, userId));
  const latencies: number[] = [];
  const started = performance.now();
  for (let index = 0; index < consumes - 1; index++) {
    const before = performance.now();
    const result = await runner.run(consumeCommand(index, userId));
    if (result.kind !== 'recorded') throw new Error(`consume ${index} was ${result.kind}`);
    latencies.push(performance.now() - before);
  }
  const seconds = (performance.now() - started) / 1000;
  const state = await foldCreditsStream(store, creditsStreamId(userId));
  await store.close();
  const { p50Ms, p99Ms } = latencyPercentiles(latencies);
  const expected = grants * Math.floor(GRANTED_CREDITS / grants) - consumes * CONSUME_CREDITS;
  return {
    path: 'runner (pglite)',
    activeGrants: grants,
    consumes,
    commandsPerSecond: Math.round((consumes - 1) / seconds),
    p50Ms,
    p99Ms,
    verified: state.balance === expected && grantsBalance(state.grants) === expected,
  };
}

async function writeGrants(store: EventStore, userId: string, grants: number): Promise<void> {
  let state = initialState();
  const commands = grantCommands(grants, userId);
  for (let from = 0; from < commands.length; from += 1000) {
    const version = state.version;
    const events = [];
    for (const command of commands.slice(from, from + 1000)) {
      const next = decided(state, command);
      state = next.state;
      events.push(...next.events);
    }
    await store.appendToStream(creditsStreamId(userId), events.map(toEventToAppend), { expectedVersion: version });
  }
}
