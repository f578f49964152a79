/**
 * Flags of `npm run bench -- w1|w2|w3`: the peers' flags and defaults
 * (the peers' `src/common.mjs`, in the folder given with `--peers`), and the store to run on.
 */
export type WorkloadOptions = {
  json: boolean;
  store: 'postgres' | 'pglite';
  pool: number;
  users: number;
  grant: number;
  ops: number;
  concurrency: number;
  amount: number;
  hotGrant: number;
  hotOps: number;
  hotConcurrency: number;
  seed: number;
  /** Version-conflict retries of our command runner (the app's COMMAND_RETRIES_MAX default). */
  retries: number;
  /**
   * Ours only: each grant is made of this many grants (small, expiring ones first, then the rest), so that the
   * consumes walk a user's grants in spend order as they run out. 1: one grant, as before grants.
   */
  grantParts: number;
  maxSeconds: number;
};

export const WORKLOAD_DEFAULTS: WorkloadOptions = {
  json: false,
  store: 'postgres',
  pool: 16,
  users: 1000,
  grant: 1_000_000,
  ops: 20_000,
  concurrency: 32,
  amount: 1,
  hotGrant: 5_000,
  hotOps: 10_000,
  hotConcurrency: 64,
  seed: 42,
  retries: 25,
  grantParts: 4,
  maxSeconds: 900,
};

export const WORKLOAD_HELP = `usage: npm run bench -- w1|w2|w3 [--json] [--store postgres|pglite] [flags]
  w1  spread: --users ${WORKLOAD_DEFAULTS.users} granted --grant ${WORKLOAD_DEFAULTS.grant} (untimed), then --ops ${WORKLOAD_DEFAULTS.ops} consumes of --amount ${WORKLOAD_DEFAULTS.amount}, --concurrency ${WORKLOAD_DEFAULTS.concurrency} in flight
  w2  hot: one user granted --hot-grant ${WORKLOAD_DEFAULTS.hotGrant}, then --hot-ops ${WORKLOAD_DEFAULTS.hotOps} consumes, --hot-concurrency ${WORKLOAD_DEFAULTS.hotConcurrency} in flight
  w3  replay: a full w1 (untimed), then every user's stream read and folded, --concurrency in flight
flags: --pool ${WORKLOAD_DEFAULTS.pool} --seed ${WORKLOAD_DEFAULTS.seed} --retries ${WORKLOAD_DEFAULTS.retries} --max-seconds ${WORKLOAD_DEFAULTS.maxSeconds}
  --grant-parts ${WORKLOAD_DEFAULTS.grantParts}: each grant made of that many grants (ours only), the first ones small and expiring, so consumes walk several grants
PostgreSQL: a database made for the run on the server of DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), dropped after it
`;

const toCamel = (flag: string) => flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** `--name value`, `--name=value`, or `--name` alone for a boolean; throws on an unknown or malformed flag. */
export function parseWorkloadOptions(argv: readonly string[]): WorkloadOptions {
  const options: Record<string, unknown> = { ...WORKLOAD_DEFAULTS };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (!argument.startsWith('--')) throw new Error(`unexpected argument: ${argument}`);
    const [flag, inline] = splitFlag(argument.slice(2));
    const key = toCamel(flag);
    if (!(key in WORKLOAD_DEFAULTS)) throw new Error(`unknown flag: --${flag}`);
    const fallback = WORKLOAD_DEFAULTS[key as keyof WorkloadOptions];
    if (typeof fallback === 'boolean') {
      options[key] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++index];
    if (value === undefined) throw new Error(`flag --${flag} needs a value`);
    options[key] = typeof fallback === 'number' ? toNumber(flag, value) : value;
  }
  if (options.store !== 'postgres' && options.store !== 'pglite') throw new Error('--store is postgres or pglite');
  return options as WorkloadOptions;
}

function splitFlag(text: string): [string, string | undefined] {
  const equals = text.indexOf('=');
  return equals < 0 ? [text, undefined] : [text.slice(0, equals), text.slice(equals + 1)];
}

function toNumber(flag: string, value: string): number {
  const number = Number(value.replace(/_/g, ''));
  if (!Number.isFinite(number)) throw new Error(`flag --${flag} needs a number, got ${value}`);
  return number;
}
