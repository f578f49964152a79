import type { LedgerClient } from '../ledger-client';

/** The API key the simulation and the soak use: every scope. */
export const SIM_API_SECRET = 'simulation-secret-0123456789';
export const SIM_AUTHORIZATION = `Bearer ${SIM_API_SECRET}`;
/** The shared secret Stripe signs the deliveries with (`STRIPE_WEBHOOK_SECRET`). */
export const SIM_WEBHOOK_SECRET = 'whsec_simulation_0123456789abcdef';

/**
 * The processes' environment: fast loops, so that expiries and deliveries happen within a run, on the
 * database at `databaseUrl` (through the fault proxy, in the simulation).
 */
export function ledgerEnvironment(databaseUrl: string, plantedDefect?: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '4',
    API_KEYS: `simulation:admin+consume+grant+read+audit:${SIM_API_SECRET}`,
    STRIPE_WEBHOOK_SECRET: SIM_WEBHOOK_SECRET,
    LOG_LEVEL: 'warn',
    PROJECTOR_POLL_MS: '20',
    PROJECTOR_LOCK_RETRY_MS: '100',
    GRANT_EXPIRY_INTERVAL_MS: '250',
    WEBHOOK_DISPATCH_POLL_MS: '50',
    WEBHOOK_LEASE_MS: '2000',
    WEBHOOK_TIMEOUT_MS: '1000',
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_RETRY_MAX_DELAY_MS: '1000',
    OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
    ...(plantedDefect === undefined ? {} : { CREDITS_PLANTED_DEFECT: plantedDefect }),
  };
}

/** Registers the receiver at `url` for the events the checks follow. */
export async function registerWebhookEndpoint(client: LedgerClient, url: string): Promise<void> {
  const answer = await client.send({
    step: 0,
    method: 'POST',
    path: '/v1/admin/webhook-endpoints',
    body: { url, events: ['recharge.completed', 'grant.expired', 'hold.expired'] },
  });
  if (answer.status !== 201) throw new Error(`registering the webhook endpoint: ${JSON.stringify(answer)}`);
}
