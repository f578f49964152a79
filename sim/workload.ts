import type { ProcessName } from './system/ledger-processes';
import { SeededRandom } from './seeded-random';

export type FaultMode = 'none' | 'process' | 'database' | 'network' | 'all';
export const FAULT_MODES: readonly FaultMode[] = ['none', 'process', 'database', 'network', 'all'];

export type Fault =
  | { kind: 'kill-process'; process: ProcessName; downMs: number }
  | { kind: 'terminate-backends'; count: number }
  | { kind: 'restart-postgres'; mode: 'fast' | 'immediate' }
  | { kind: 'cut-connections'; fraction: number }
  | { kind: 'cut-at-commit'; count: number }
  | { kind: 'delay-traffic'; ms: number; forMs: number }
  | { kind: 'stall-traffic'; ms: number };

export type Step = { step: number; userId: string } & (
  | { kind: 'consume'; feature: string; amount?: number }
  | { kind: 'bonus'; amount: number; priority?: number; expiresInSeconds?: number }
  | { kind: 'hold'; amount: number; expiresInSeconds: number }
  | { kind: 'capture'; holdStep: number; amount?: number }
  | { kind: 'release'; holdStep: number }
  /** A paid Checkout of the 100-credit pack, delivered `deliveryDelaysMs.length` times (late, twice, at once). */
  | { kind: 'checkout'; paymentIntentId: string; deliveryDelaysMs: number[] }
  /** A paid Checkout that names no user: the ledger parks it until an operator assigns it. */
  | { kind: 'parked-checkout'; paymentIntentId: string; deliveryDelaysMs: number[] }
  /** An operator assigns a parked payment to this step's user (`POST /v1/admin/unmatched-payments/…/assign`). */
  | { kind: 'assign'; paymentIntentId: string }
  /** A delivery that Stripe did not sign (wrong secret) or whose body was changed after signing. */
  | { kind: 'forged-checkout'; paymentIntentId: string; how: 'wrong-secret' | 'tampered' }
  | { kind: 'fault'; fault: Fault }
  /** Time passes (grants and holds with short expiries come due). */
  | { kind: 'pause'; ms: number }
);

export type WorkloadOptions = { seed: number; steps: number; faults: FaultMode; users: number };

/** Every kind of fault the simulation can strike. */
export const FAULT_KINDS: ReadonlyArray<Fault['kind']> = [
  'kill-process',
  'terminate-backends',
  'restart-postgres',
  'cut-connections',
  'cut-at-commit',
  'delay-traffic',
  'stall-traffic',
];

const FAULTS_BY_MODE: Record<FaultMode, ReadonlyArray<Fault['kind']>> = {
  none: [],
  process: ['kill-process'],
  database: ['terminate-backends', 'restart-postgres'],
  network: ['cut-connections', 'cut-at-commit', 'delay-traffic', 'stall-traffic'],
  all: FAULT_KINDS,
};

/** Every how many steps a fault strikes, on average. */
const STEPS_PER_FAULT = 25;

/**
 * The whole schedule, drawn from the seed before anything runs: commands on a few users (hot, contended
 * streams), Stripe deliveries late, twice and forged, short expiries, and faults. The same seed gives the same
 * list; what the system answers never changes it (a capture of a hold that was refused is skipped at run time).
 */
export function workload(options: WorkloadOptions): Step[] {
  // Two streams of choices from the seed: tuning the commands' mix leaves the faults' schedule as it was.
  const random = new SeededRandom(options.seed);
  const faultRandom = new SeededRandom(options.seed ^ 0x0fa017);
  const users = Array.from({ length: options.users }, (_, index) => `sim-${options.seed}-u${index}`);
  const drawn: DrawnSoFar = { holds: [], parked: [] };
  const steps: Step[] = [];
  const faultKinds = FAULTS_BY_MODE[options.faults];
  for (let step = 1; step <= options.steps; step++) {
    const userId = random.pick(users);
    if (faultKinds.length > 0 && faultRandom.chance(1 / STEPS_PER_FAULT)) {
      steps.push({ step, userId, kind: 'fault', fault: drawFault(faultRandom, faultRandom.pick(faultKinds)) });
      continue;
    }
    const next = drawCommand(random, step, userId, drawn, options.seed);
    if (next.kind === 'hold') drawn.holds.push({ step, userId });
    if (next.kind === 'parked-checkout') drawn.parked.push(next.paymentIntentId);
    steps.push(next);
  }
  return steps;
}

/** What earlier steps made that a later one names: holds to capture or release, parked payments to assign. */
type DrawnSoFar = { holds: Array<{ step: number; userId: string }>; parked: string[] };

function drawCommand(random: SeededRandom, step: number, userId: string, drawn: DrawnSoFar, seed: number): Step {
  const { holds, parked } = drawn;
  const kind = random.weighted({
    // About as many credits in as out: balances stay low, and consumptions and holds race for the last ones.
    consume: 40,
    bonus: 10,
    hold: 10,
    capture: holds.length > 0 ? 6 : 0,
    release: holds.length > 0 ? 3 : 0,
    checkout: 3,
    'parked-checkout': 1,
    assign: parked.length > 0 ? 2 : 0,
    'forged-checkout': 1,
    pause: 3,
  });
  switch (kind) {
    case 'consume': {
      const feature = random.pick(['face_swap', 'image_upscale', 'video_generation']);
      return feature === 'video_generation'
        ? { step, userId, kind, feature, amount: random.int(1, 80) }
        : { step, userId, kind, feature };
    }
    case 'bonus':
      return {
        step,
        userId,
        kind,
        amount: random.int(5, 40),
        priority: random.chance(0.5) ? random.pick([50, 100, 150, 250]) : undefined,
        expiresInSeconds: random.chance(0.4) ? random.int(1, 8) : undefined,
      };
    case 'hold':
      return { step, userId, kind, amount: random.int(1, 40), expiresInSeconds: random.int(2, 10) };
    case 'capture':
    case 'release': {
      // On the hold's user: a capture names the hold in that user's path.
      const hold = random.pick(holds);
      if (kind === 'release') return { step, userId: hold.userId, kind, holdStep: hold.step };
      const amount = random.chance(0.3) ? undefined : random.int(1, 40);
      return { step, userId: hold.userId, kind, holdStep: hold.step, amount };
    }
    case 'checkout': {
      const copies = random.weighted({ one: 6, two: 3, three: 1 }) === 'one' ? 1 : random.int(2, 3);
      const deliveryDelaysMs = Array.from({ length: copies }, () => (random.chance(0.5) ? 0 : random.int(0, 3_000)));
      return { step, userId, kind, paymentIntentId: `pi_sim_${seed}_${step}`, deliveryDelaysMs };
    }
    case 'parked-checkout':
      return { step, userId, kind, paymentIntentId: `pi_parked_${seed}_${step}`, deliveryDelaysMs: [0] };
    case 'assign':
      // Each parked payment is assigned once, to one user, oldest first.
      return { step, userId, kind, paymentIntentId: parked.shift()! };
    case 'forged-checkout':
      return {
        step,
        userId,
        kind,
        paymentIntentId: `pi_forged_${seed}_${step}`,
        how: random.pick(['wrong-secret', 'tampered']),
      };
    case 'pause':
      return { step, userId, kind, ms: random.int(100, 1_500) };
  }
}

function drawFault(random: SeededRandom, kind: Fault['kind']): Fault {
  switch (kind) {
    case 'kill-process':
      return { kind, process: random.pick(['api-1', 'api-2', 'projector'] as const), downMs: random.int(0, 2_000) };
    case 'terminate-backends':
      return { kind, count: random.int(1, 6) };
    case 'restart-postgres':
      return { kind, mode: random.pick(['fast', 'immediate'] as const) };
    case 'cut-connections':
      return { kind, fraction: random.pick([0.3, 0.6, 1]) };
    case 'cut-at-commit':
      return { kind, count: random.int(1, 3) };
    case 'delay-traffic':
      return { kind, ms: random.int(5, 80), forMs: random.int(500, 3_000) };
    case 'stall-traffic':
      return { kind, ms: random.int(200, 4_000) };
  }
}
