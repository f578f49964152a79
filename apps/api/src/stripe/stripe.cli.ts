import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { type AppConfig, ConfigError, exitWhenFlushed, loadConfig } from '@libs/config';
import Stripe from 'stripe';
import { AppModule } from '../app.module';
import { stripeApiClient, stripeErrorMessage, withoutStripeKeys } from './stripe-api.client';
import { StripeIngestion } from './stripe-ingestion.service';
import {
  STRIPE_EVENTS_RETENTION_DAYS,
  SyncArgumentsError,
  type SyncOptions,
  parseSyncArguments,
} from './sync-stripe-events/sync-stripe-events.arguments';
import { feedListedEvents, listEventsOldestFirst } from './sync-stripe-events/sync-stripe-events';

const USAGE = `usage: npm run stripe -- sync --since <30m | 12h | 7d | 2026-11-20T00:00:00Z> [--types invoice.paid,charge.refunded]
  Feeds the Stripe events of the last ${STRIPE_EVENTS_RETENTION_DAYS} days at most through the webhook's ingestion, oldest first.
  Exit code: 0 done, 1 some event failed (see its line), 2 could not run.`;

/** Exit codes: the sync ran and every event has an outcome; some outcome is `failed`; the sync could not run. */
const EXIT = { done: 0, someFailed: 1, couldNotRun: 2 } as const;

/**
 * `npm run stripe -- sync --since 72h`: recovers the webhooks Stripe could
 * not deliver (an outage, a wrong endpoint secret) by listing the events
 * through Stripe's API. Prints one line per event and a summary; never a key.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'sync') return refuse(`unknown command ${JSON.stringify(command ?? '')}`);
  let options: SyncOptions;
  let config: AppConfig;
  let stripe: Stripe | undefined;
  try {
    options = parseSyncArguments(rest, new Date());
    config = loadConfig();
    stripe = stripeApiClient(config.stripe);
  } catch (error) {
    if (error instanceof SyncArgumentsError) return refuse(error.message);
    if (error instanceof ConfigError) return refuse(`configuration error: ${withoutStripeKeys(error.message)}`, false);
    throw error;
  }
  if (stripe === undefined) {
    return refuse("STRIPE_API_KEY is not set: the sync lists events through Stripe's API", false);
  }
  return sync(config, stripe, options);
}

/** Lists first: a refused key or an unreachable API ends the run before the database is opened. */
async function sync(config: AppConfig, stripe: Stripe, options: SyncOptions): Promise<number> {
  try {
    const listed = await listEventsOldestFirst(stripe, options);
    const app = await NestFactory.createApplicationContext(AppModule.forRoot(applicationOf(config), []), {
      logger: config.logLevel === 'silent' ? false : ['error', 'warn'],
      // A start-up failure (a locked data directory) is reported here, not by Nest ending the process.
      abortOnError: false,
    });
    try {
      const dependencies = {
        stripe,
        ingestion: app.get(StripeIngestion),
        log: (line: string) => console.log(line),
      };
      const summary = await feedListedEvents(dependencies, listed, options);
      return summary.outcomes.failed > 0 ? EXIT.someFailed : EXIT.done;
    } finally {
      await app.close();
    }
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    console.error(`Stripe's API refused or could not be reached (${error.type}): ${stripeErrorMessage(error)}`);
    return EXIT.couldNotRun;
  }
}

/**
 * The API's modules without its HTTP server. In the embedded mode (PGlite)
 * the service is stopped while this runs, so the projector runs here: a
 * refund must find the payment this sync credited. On PostgreSQL the
 * deployment's projector does that, so none runs here.
 */
function applicationOf(config: AppConfig): AppConfig {
  return { ...config, role: config.eventStore.kind === 'pglite' ? 'all' : 'api' };
}

function refuse(reason: string, showUsage = true): number {
  console.error(showUsage ? `${reason}\n${USAGE}` : reason);
  return EXIT.couldNotRun;
}

main(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) => {
  // A database or start-up failure: nothing secret in it but a key it may quote, removed here.
  console.error(withoutStripeKeys(error instanceof Error ? (error.stack ?? error.message) : String(error)));
  exitWhenFlushed(EXIT.couldNotRun);
});
