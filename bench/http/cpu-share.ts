import { Session } from 'node:inspector';

/** The parts of a V8 CPU profile (`Profiler.stop`) that the shares are computed from. */
type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples?: number[];
  timeDeltas?: number[];
};

export type CpuCategory =
  | 'store_driver'
  | 'event_store_adapter'
  | 'http_framework'
  | 'api'
  | 'domain'
  | 'projections'
  | 'node_runtime'
  | 'gc'
  | 'other';

export type CpuShare = {
  /** Sampled time of this process that was not idle, in milliseconds. */
  busy_ms: number;
  /** Busy time over the profiled wall time: 1 means the event loop's thread never waited. */
  busy_of_wall: number;
  /** Each category's share of the busy time (they sum to 1). */
  shares: Record<CpuCategory, number>;
  /** store_driver + event_store_adapter: the CPU this process spent in the store's code. */
  in_store: number;
  outside_store: number;
};

/** Sampling interval of the profiler, in microseconds (V8's default is 1,000). */
const SAMPLING_INTERVAL_MICROSECONDS = 1000;

/** The first package or directory that names a category; the path is matched against the frame's url. */
const CATEGORY_PATTERNS: readonly [RegExp, CpuCategory][] = [
  [/\/node_modules\/(pg|pg-[a-z-]+|postgres-[a-z-]+|pgpass|@electric-sql\/pglite)\//, 'store_driver'],
  // PGlite's PostgreSQL compiled to WebAssembly: the only wasm this process runs.
  [/^wasm:\/\//, 'store_driver'],
  [/\/dist\/libs\/event-store\//, 'event_store_adapter'],
  [/\/dist\/libs\/credits\//, 'domain'],
  [/\/dist\/(projections|apps\/projector)\//, 'projections'],
  [/\/dist\/(apps|libs)\//, 'api'],
  [/\/node_modules\//, 'http_framework'],
];

/**
 * Profiles this process's main thread, from `start` to the `stop` it returns,
 * with V8's sampling profiler (what `node --cpu-prof` records).
 */
export async function startCpuProfile(): Promise<{ stop(): Promise<CpuProfile> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_MICROSECONDS });
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      return profile;
    },
  };
}

/**
 * Shares of the sampled CPU time by category. A sample goes to the category
 * of the innermost frame that has one, walking out from the sampled frame:
 * Node's own code (`node:` urls) and native functions (no url) are charged
 * to the code that called them, so a socket write made by `pg` counts as
 * store_driver and one made by Express as http_framework. Stacks with no
 * frame of ours or of a package (an HTTP request being parsed, a timer) are
 * node_runtime. `(idle)` samples are the thread waiting: left out of shares.
 * Stacks are synchronous: a promise continuation resumed in `pg` is
 * store_driver whatever awaited it (the projector's reads included).
 */
export function cpuShare(profile: CpuProfile, wallMs: number): CpuShare {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const categories = new Map<number, CpuCategory | 'idle'>();
  const categoryOf = (id: number): CpuCategory | 'idle' => {
    const known = categories.get(id);
    if (known !== undefined) return known;
    const category = categorize(id, nodes, parents);
    categories.set(id, category);
    return category;
  };
  const microseconds = emptyShares();
  let busy = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  samples.forEach((id, index) => {
    const category = categoryOf(id);
    // A sample's time is the delta to the next sample (V8 records the one before it).
    const duration = Math.max(0, deltas[index + 1] ?? 0);
    if (category === 'idle') return;
    microseconds[category] += duration;
    busy += duration;
  });
  const shares = emptyShares();
  for (const key of Object.keys(shares) as CpuCategory[]) shares[key] = round(microseconds[key] / Math.max(busy, 1));
  const inStore = round(shares.store_driver + shares.event_store_adapter);
  return {
    busy_ms: Math.round(busy / 1000),
    busy_of_wall: round(busy / 1000 / wallMs),
    shares,
    in_store: inStore,
    outside_store: round(1 - inStore),
  };
}

function categorize(
  id: number,
  nodes: Map<number, CpuProfile['nodes'][number]>,
  parents: Map<number, number>,
): CpuCategory | 'idle' {
  const leaf = nodes.get(id)?.callFrame.functionName;
  if (leaf === '(idle)') return 'idle';
  if (leaf === '(garbage collector)') return 'gc';
  if (leaf === '(program)') return 'other';
  for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
    const url = nodes.get(at)?.callFrame.url ?? '';
    if (url === '' || url.startsWith('node:')) continue;
    const found = CATEGORY_PATTERNS.find(([pattern]) => pattern.test(url));
    return found?.[1] ?? 'other';
  }
  return 'node_runtime';
}

function emptyShares(): Record<CpuCategory, number> {
  return {
    store_driver: 0,
    event_store_adapter: 0,
    http_framework: 0,
    api: 0,
    domain: 0,
    projections: 0,
    node_runtime: 0,
    gc: 0,
    other: 0,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
