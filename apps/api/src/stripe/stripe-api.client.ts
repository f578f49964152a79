import { ConfigError, type StripeConfig } from '@libs/config';
import Stripe from 'stripe';

/** DI token of the configured `Stripe` client, or `undefined` when STRIPE_API_KEY is unset. */
export const STRIPE_API = Symbol('STRIPE_API');

/** How long one attempt of a call may take; a call is attempted at most 1 + STRIPE_API_RETRIES_MAX times. */
export const STRIPE_API_TIMEOUT_MS = 20_000;
/** Retries of a failed call (connection error, 409, 5xx); POSTs carry an idempotency key, so a retry is safe. */
export const STRIPE_API_RETRIES_MAX = 2;

/**
 * The client of Stripe's API (checkout helper, sync of missed events), or
 * undefined without a key: those features then answer 503 rather than fail at
 * start-up, since the webhook works without a key. `apiBase` points it at
 * another server (the tests' local Stripe-shaped server).
 */
export function stripeApiClient(config: StripeConfig): Stripe | undefined {
  if (config.apiKey === undefined) return undefined;
  return new Stripe(config.apiKey, {
    // Pinned to the version this package's types describe, so what we read is what the types say.
    apiVersion: Stripe.API_VERSION,
    maxNetworkRetries: STRIPE_API_RETRIES_MAX,
    timeout: STRIPE_API_TIMEOUT_MS,
    appInfo: { name: 'credits-ledger' },
    ...(config.apiBase === undefined ? {} : hostOf(config.apiBase)),
  });
}

function hostOf(apiBase: URL): { host: string; port: number; protocol: 'http' | 'https' } {
  // The client puts `/v1/...` right after the host: a path here would be silently dropped.
  if (apiBase.pathname !== '/' || apiBase.search !== '') {
    throw new ConfigError(
      'STRIPE_API_BASE',
      `must be a bare origin such as https://api.stripe.com, got ${apiBase.href}`,
    );
  }
  const protocol = apiBase.protocol === 'http:' ? 'http' : 'https';
  const port = apiBase.port === '' ? (protocol === 'http' ? 80 : 443) : Number(apiBase.port);
  return { host: apiBase.hostname, port, protocol };
}

const STRIPE_KEY_PATTERN = /\b(sk|rk|pk)_(test|live)_[A-Za-z0-9*]+/g;
/** A webhook signing secret: no word boundary required, better one mask too many than a secret printed. */
const WEBHOOK_SECRET_PATTERN = /whsec_[A-Za-z0-9+/=_-]+/g;

/**
 * A Stripe error's message fit to show a caller or print: Stripe masks keys
 * in its own messages, and this removes whatever looks like a key anyway.
 */
export function stripeErrorMessage(error: Stripe.errors.StripeError): string {
  return withoutStripeKeys(error.message);
}

/** `text` with every Stripe API key and webhook signing secret in it masked, their kind kept: `sk_live_[redacted]`. */
export function withoutStripeKeys(text: string): string {
  return text.replace(STRIPE_KEY_PATTERN, '$1_$2_[redacted]').replace(WEBHOOK_SECRET_PATTERN, 'whsec_[redacted]');
}
