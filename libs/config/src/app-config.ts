import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type PriceList, SHORTFALL_POLICIES, type ShortfallPolicy, assertValidPriceList } from '@libs/credits';
import type { EventStoreLocation } from '@libs/event-store';
import { type StripeCatalog, assertValidStripeCatalog } from '@libs/stripe';
import { type ApiKey, parseApiKeys } from './api-keys';

/** What this process runs: the API and the projector (`all`), or one of them. */
export type ProcessRole = 'all' | 'api' | 'projector';

/**
 * Events a projection applies per transaction. 5,000 measured fastest for a
 * catch-up of the three projections (`npm run bench -- projection`: about
 * 37,000 events/s at 1,000, 61,000 at 5,000, no better at 10,000); a
 * projector that is caught up applies what came since, far fewer.
 */
export const PROJECTOR_BATCH_SIZE_DEFAULT = 5000;

export type ProjectorConfig = {
  batchSize: number;
  idlePollMs: number;
  lockRetryMs: number;
  /** Readiness fails when a projection is further behind than this. */
  lagSecondsMax: number;
  grantExpiry: GrantExpiryConfig;
  webhookDispatch: WebhookDispatchConfig;
  balanceAlerts: BalanceAlertsConfig;
};

export type BalanceAlertsConfig = {
  /** `credits.low` when a user's spendable credits fall below this, unless the user has a threshold of their own. */
  lowBalanceBelowDefault: number;
};

/** Outbound webhooks, as the API registers endpoints and as the dispatcher sends (beside the projector). */
export type OutboundWebhooksConfig = {
  /** Endpoints may be loopback or private addresses, and `http`; link-local ones are refused whatever this says. */
  allowPrivateUrls: boolean;
  /** How long the secret before a rotation keeps signing beside the new one. */
  secretOverlapSeconds: number;
};

export type WebhookDispatchConfig = {
  /** Between looks for deliveries due; 0 turns the dispatcher off in this process (another one must run it). */
  pollMs: number;
  allowPrivateUrls: boolean;
  /** A delivery's request, from connecting to the end of its response. */
  timeoutMs: number;
  /** What is read of a response's body, at most (for the delivery log); the rest is not read. */
  responseBodyLimitBytes: number;
  /** Deliveries in flight to one endpoint, each to another user (a user's deliveries go in order). */
  concurrencyPerEndpoint: number;
  /** The first retry's delay; each next one doubles up to `retryMaxDelayMs`, with jitter. */
  retryBaseMs: number;
  retryMaxDelayMs: number;
  /** After this long since it was queued, a delivery that fails is marked failed. */
  retryMaxAgeSeconds: number;
  /** An endpoint is disabled after this many failed attempts in a row. */
  disableAfterFailures: number;
  /** How long a dispatcher holds an endpoint without renewing: another process takes over after it. */
  leaseMs: number;
};

/** The expiry process, run beside the projector. */
export type GrantExpiryConfig = {
  /** Between passes; 0 turns the process off in this process (another one must run it). */
  intervalMs: number;
  /** Grants expired per pass at most. */
  batchSize: number;
  /** Readiness fails when a grant past its expiry waits longer than this for its `CreditsExpired`. */
  lagSecondsMax: number;
  /** `grant.expiring` is sent this long before a grant's `expiresAt` (once per grant); 0: never. */
  expiringNoticeSeconds: number;
};

export type AppConfig = {
  role: ProcessRole;
  port: number;
  eventStore: EventStoreLocation;
  /** Undefined only in the embedded mode, where a development key is made on first start. */
  apiKeys: ApiKey[] | undefined;
  dataDir: string;
  commandRetriesMax: number;
  priceList: PriceList;
  projector: ProjectorConfig;
  stripe: StripeConfig;
  /** How long a query with `minPosition` waits for the projection before answering 503. */
  readYourWritesTimeoutMs: number;
  /** The longest a hold may last (its request's `expiresIn`), in seconds. */
  holdExpiresInMaxSeconds: number;
  outboundWebhooks: OutboundWebhooksConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
};

export type StripeConfig = {
  /** Every secret a delivery may be signed with (several during a rotation); empty: webhooks refused with 503. */
  webhookSecrets: string[];
  catalog: StripeCatalog;
  /** What a refund of credits already spent does to the balance. */
  refundShortfall: ShortfallPolicy;
  /** Secret or restricted key for Stripe's API (checkout helper, sync); undefined: those answer 503. */
  apiKey: string | undefined;
  /** Where Stripe's API is; undefined: api.stripe.com. Tests point it at a local Stripe-shaped server. */
  apiBase: URL | undefined;
  autoTopUp: AutoTopUpConfig;
};

/** The top-up process, in every process that serves the API (it needs Stripe's API key). */
export type AutoTopUpConfig = {
  /** How often it looks for crossings to top up; 0: never (no automatic top-up from this process). */
  pollMs: number;
  /** How long a process holds a crossing it works before another may take it over. */
  leaseMs: number;
};

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable} ${reason}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads and validates the whole configuration once, at start-up. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const dataDir = resolve(env.DATA_DIR || './data');
  const databaseUrl = optionalDatabaseUrl(env.DATABASE_URL);
  const apiKeys =
    env.API_KEYS === undefined || env.API_KEYS === '' ? undefined : read('API_KEYS', () => parseApiKeys(env.API_KEYS!));
  const serves = env.ROLE !== 'projector';
  const allowPrivateUrls = boolean(env, 'OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS', false);
  if (apiKeys === undefined && databaseUrl !== undefined && serves) {
    throw new ConfigError(
      'API_KEYS',
      'must be set when DATABASE_URL is (a development key is made only in the embedded mode)',
    );
  }
  const config: AppConfig = {
    role: oneOf(env, 'ROLE', ['all', 'api', 'projector'] as const, 'all'),
    port: integer(env, 'PORT', 3000, 0, 65_535),
    eventStore: eventStoreLocationFrom(env),
    apiKeys,
    dataDir,
    commandRetriesMax: integer(env, 'COMMAND_RETRIES_MAX', 25, 0, 100),
    priceList: priceListFrom(env.PRICE_LIST_FILE || 'config/price-list.json'),
    projector: {
      batchSize: integer(env, 'PROJECTOR_BATCH_SIZE', PROJECTOR_BATCH_SIZE_DEFAULT, 1, 10_000),
      idlePollMs: integer(env, 'PROJECTOR_POLL_MS', 100, 1, 60_000),
      lockRetryMs: integer(env, 'PROJECTOR_LOCK_RETRY_MS', 1000, 10, 60_000),
      lagSecondsMax: integer(env, 'PROJECTION_LAG_SECONDS_MAX', 30, 1, 86_400),
      grantExpiry: {
        intervalMs: integer(env, 'GRANT_EXPIRY_INTERVAL_MS', 5_000, 0, 3_600_000),
        batchSize: integer(env, 'GRANT_EXPIRY_BATCH_SIZE', 200, 1, 1_000),
        lagSecondsMax: integer(env, 'GRANT_EXPIRY_LAG_SECONDS_MAX', 300, 1, 86_400),
        expiringNoticeSeconds: integer(env, 'GRANT_EXPIRING_NOTICE_SECONDS', 259_200, 0, 31_536_000),
      },
      webhookDispatch: {
        pollMs: integer(env, 'WEBHOOK_DISPATCH_POLL_MS', 100, 0, 60_000),
        allowPrivateUrls,
        timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
        responseBodyLimitBytes: integer(env, 'WEBHOOK_RESPONSE_BODY_LIMIT_BYTES', 4_096, 0, 1_048_576),
        concurrencyPerEndpoint: integer(env, 'WEBHOOK_CONCURRENCY_PER_ENDPOINT', 8, 1, 100),
        retryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 30_000, 10, 3_600_000),
        retryMaxDelayMs: integer(env, 'WEBHOOK_RETRY_MAX_DELAY_MS', 3_600_000, 10, 86_400_000),
        retryMaxAgeSeconds: integer(env, 'WEBHOOK_RETRY_MAX_AGE_SECONDS', 259_200, 1, 2_592_000),
        disableAfterFailures: integer(env, 'WEBHOOK_DISABLE_AFTER_FAILURES', 100, 1, 100_000),
        leaseMs: integer(env, 'WEBHOOK_LEASE_MS', 30_000, 1_000, 600_000),
      },
      balanceAlerts: {
        lowBalanceBelowDefault: integer(env, 'LOW_BALANCE_ALERT_BELOW', 10, 0, 1_000_000_000),
      },
    },
    stripe: {
      webhookSecrets: read('STRIPE_WEBHOOK_SECRET', () => parseWebhookSecrets(env.STRIPE_WEBHOOK_SECRET)),
      catalog: stripeCatalogFrom(env.STRIPE_CATALOG_FILE || 'config/stripe-catalog.json'),
      refundShortfall: oneOf(env, 'REFUND_SHORTFALL', SHORTFALL_POLICIES, 'debt'),
      apiKey: read('STRIPE_API_KEY', () => optionalStripeApiKey(env.STRIPE_API_KEY)),
      apiBase: read('STRIPE_API_BASE', () => optionalHttpUrl(env.STRIPE_API_BASE)),
      autoTopUp: {
        pollMs: integer(env, 'AUTO_TOP_UP_POLL_MS', 500, 0, 60_000),
        leaseMs: integer(env, 'AUTO_TOP_UP_LEASE_MS', 120_000, 1_000, 3_600_000),
      },
    },
    readYourWritesTimeoutMs: integer(env, 'READ_YOUR_WRITES_TIMEOUT_MS', 2000, 0, 30_000),
    holdExpiresInMaxSeconds: integer(env, 'HOLD_EXPIRES_IN_MAX_SECONDS', 86_400, 60, 2_592_000),
    outboundWebhooks: {
      allowPrivateUrls,
      secretOverlapSeconds: integer(env, 'WEBHOOK_SECRET_OVERLAP_SECONDS', 86_400, 0, 2_592_000),
    },
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
  };
  assertLeaseOutlastsRequests(config.projector.webhookDispatch);
  return config;
}

/**
 * A dispatcher renews an endpoint's lease at each round, and a round waits for its slowest request: a lease
 * shorter than two requests' timeout could lapse mid-round, and another process send the same deliveries at once.
 */
function assertLeaseOutlastsRequests({ leaseMs, timeoutMs }: WebhookDispatchConfig): void {
  if (leaseMs < 2 * timeoutMs) {
    throw new ConfigError('WEBHOOK_LEASE_MS', `must be at least twice WEBHOOK_TIMEOUT_MS (${2 * timeoutMs})`);
  }
}

/**
 * Where events live: KurrentDB when EVENTSTORE_URL is set (the read model then
 * in DATABASE_URL, which it requires), else PostgreSQL when DATABASE_URL is
 * set, else PGlite under DATA_DIR.
 */
export function eventStoreLocationFrom(env: NodeJS.ProcessEnv = process.env): EventStoreLocation {
  const databaseUrl = optionalDatabaseUrl(env.DATABASE_URL);
  const eventStoreUrl = optionalEventStoreUrl(env.EVENTSTORE_URL);
  if (eventStoreUrl !== undefined) {
    if (databaseUrl === undefined) {
      throw new ConfigError(
        'EVENTSTORE_URL',
        'needs DATABASE_URL too: events go to KurrentDB, the read model stays in PostgreSQL',
      );
    }
    return {
      kind: 'kurrentdb',
      connectionString: eventStoreUrl,
      readModel: { connectionString: databaseUrl, poolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 2, 200) },
    };
  }
  return databaseUrl === undefined
    ? { kind: 'pglite', dataDir: resolve(env.DATA_DIR || './data', 'pglite') }
    : { kind: 'postgres', connectionString: databaseUrl, poolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 2, 200) };
}

/** The schemes of KurrentDB's connection strings (`+discover`: gossip seeds of a cluster). */
const EVENTSTORE_URL_SCHEMES = ['kurrentdb:', 'kurrentdb+discover:', 'esdb:', 'esdb+discover:'];

function optionalEventStoreUrl(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const url = read('EVENTSTORE_URL', () => new URL(value));
  if (!EVENTSTORE_URL_SCHEMES.includes(url.protocol)) {
    throw new ConfigError(
      'EVENTSTORE_URL',
      'must be a kurrentdb:// or esdb:// connection string (e.g. kurrentdb://localhost:2113?tls=false)',
    );
  }
  return value;
}

function optionalDatabaseUrl(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const url = read('DATABASE_URL', () => new URL(value));
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  return value;
}

function integer(env: NodeJS.ProcessEnv, variable: string, fallback: number, min: number, max: number): number {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!/^[0-9]+$/.test(value) || parsed < min || parsed > max) {
    throw new ConfigError(variable, `must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return parsed;
}

function boolean(env: NodeJS.ProcessEnv, variable: string, fallback: boolean): boolean {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  if (value !== 'true' && value !== 'false') throw new ConfigError(variable, `must be true or false, got "${value}"`);
  return value === 'true';
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, variable: string, allowed: readonly T[], fallback: T): T {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(variable, `must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function priceListFrom(file: string): PriceList {
  return read('PRICE_LIST_FILE', () => {
    const path = resolve(file);
    const priceList: unknown = JSON.parse(readFileSync(path, 'utf8'));
    assertValidPriceList(priceList, path);
    return priceList;
  });
}

/**
 * Whether `value` reads as a Stripe webhook signing secret: `whsec_` and at
 * least 8 characters of base64 (the dashboard shows 32, the Stripe CLI 64
 * hex). Loose on length on purpose: a wrong secret is refused by the
 * signature check of the first delivery anyway; this catches a value pasted
 * into the wrong variable. Start-up and the health check both apply it.
 */
export function isStripeWebhookSecret(value: string): boolean {
  return /^whsec_[A-Za-z0-9+/=_-]{8,}$/.test(value);
}

/** `whsec_...` secrets, comma-separated: the new one and the old one both verify while Stripe rolls a secret. */
function parseWebhookSecrets(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  const secrets = value.split(',').map((secret) => secret.trim());
  for (const secret of secrets) {
    if (!isStripeWebhookSecret(secret)) {
      throw new Error('expected whsec_... secrets separated by commas (as the Stripe dashboard or CLI shows them)');
    }
  }
  return secrets;
}

function optionalStripeApiKey(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$/.test(value)) {
    throw new Error('expected a secret (sk_...) or restricted (rk_...) Stripe key');
  }
  return value;
}

function optionalHttpUrl(value: string | undefined): URL | undefined {
  if (value === undefined || value === '') return undefined;
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be an http:// or https:// URL');
  return url;
}

function stripeCatalogFrom(file: string): StripeCatalog {
  return read('STRIPE_CATALOG_FILE', () => {
    const path = resolve(file);
    const catalog: unknown = JSON.parse(readFileSync(path, 'utf8'));
    assertValidStripeCatalog(catalog, path);
    return catalog;
  });
}

/** Runs a parser and turns its failure into a ConfigError naming the variable. */
function read<T>(variable: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new ConfigError(variable, `is invalid: ${error instanceof Error ? error.message : String(error)}`);
  }
}
