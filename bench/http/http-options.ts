/** Flags of `npm run bench -- http`. */
export type HttpOptions = {
  json: boolean;
  store: 'postgres' | 'pglite';
  /** The app's PostgreSQL pool (DATABASE_POOL_SIZE's default, as `npm start`). */
  pool: number;
  users: number;
  grant: number;
  requests: number;
  connections: number;
  seed: number;
  /** Consumes of a second, profiled pass after the timed one (0: none): the profiler slows the app down. */
  profiled: number;
};

export const HTTP_DEFAULTS: HttpOptions = {
  json: false,
  store: 'postgres',
  pool: 10,
  users: 1000,
  grant: 1_000_000,
  requests: 20_000,
  connections: 64,
  seed: 42,
  profiled: 5_000,
};

export const HTTP_HELP = `usage: npm run bench -- http [--json] [--store postgres|pglite] [flags]
  --users ${HTTP_DEFAULTS.users} granted --grant ${HTTP_DEFAULTS.grant} through POST /v1/users/{id}/bonuses (untimed), then
  --requests ${HTTP_DEFAULTS.requests} POST /v1/users/{id}/consumptions from autocannon, --connections ${HTTP_DEFAULTS.connections} keep-alive
  --pool ${HTTP_DEFAULTS.pool} (PostgreSQL pool of the app) --seed ${HTTP_DEFAULTS.seed} (the W1 user sequence) --profiled 5000 (requests of the profiled pass, 0 for none)
`;

/** `--name value`, `--name=value`, or `--name` alone for a boolean; throws on an unknown or malformed flag. */
export function parseHttpOptions(argv: readonly string[]): HttpOptions {
  const options: Record<string, unknown> = { ...HTTP_DEFAULTS };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(argument);
    if (!match || !(match[1] in HTTP_DEFAULTS)) throw new Error(`unexpected argument: ${argument}`);
    const [, key, inline] = match;
    const fallback = HTTP_DEFAULTS[key as keyof HttpOptions];
    if (typeof fallback === 'boolean') {
      options[key] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++index];
    if (value === undefined) throw new Error(`flag --${key} needs a value`);
    if (typeof fallback === 'string') {
      options[key] = value;
      continue;
    }
    const number = Number(value.replace(/_/g, ''));
    if (!Number.isInteger(number) || number < 1)
      throw new Error(`flag --${key} needs a positive integer, got ${value}`);
    options[key] = number;
  }
  if (options.store !== 'postgres' && options.store !== 'pglite') throw new Error('--store is postgres or pglite');
  const connections = options.connections as number;
  if (connections > (options.requests as number)) throw new Error('--connections above --requests');
  const profiled = options.profiled as number;
  if (profiled > 0 && connections > profiled) throw new Error('--connections above --profiled');
  return options as HttpOptions;
}
