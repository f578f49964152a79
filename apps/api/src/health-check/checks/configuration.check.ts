import { type AppConfig, isStripeWebhookSecret } from '@libs/config';
import type { EventStore, SqlExecutor } from '@libs/event-store';
import { assertValidStripeCatalog } from '@libs/stripe';
import { PROJECTIONS, projectionLag } from '@projections';
import type { SectionBuilder } from '../health-report';

/**
 * Check 5: what must be set for money to flow, and whether the parts answer.
 * A missing webhook secret fails (every payment webhook is refused); a
 * missing Stripe API key only warns (the checkout helper and the sync are off).
 */
export async function checkConfiguration(
  dependencies: { config: AppConfig; store: EventStore; readModel: SqlExecutor },
  section: SectionBuilder,
): Promise<void> {
  checkSecrets(dependencies.config, section);
  checkCatalog(dependencies.config, section);
  await dependencies.store.ping();
  section.count('database-reachable');
  await checkProjector(dependencies, section);
}

function checkSecrets({ stripe, apiKeys }: AppConfig, section: SectionBuilder): void {
  if (stripe.webhookSecrets.length === 0) {
    section.add({
      kind: 'webhook-secret-missing',
      severity: 'failed',
      detail: 'STRIPE_WEBHOOK_SECRET is not set: every Stripe webhook is refused',
    });
  }
  stripe.webhookSecrets.forEach((secret, index) => {
    // The rule start-up applies too (loadConfig): here it catches a config that was not loaded from the environment.
    if (isStripeWebhookSecret(secret)) return section.count('webhook-secrets');
    // Never the secret itself: its position and length are enough to find it.
    section.add({
      kind: 'webhook-secret-malformed',
      severity: 'failed',
      detail: `STRIPE_WEBHOOK_SECRET entry ${index + 1} (${secret.length} characters) is not a whsec_ signing secret`,
    });
  });
  if (stripe.apiKey === undefined) {
    section.add({
      kind: 'stripe-api-key-missing',
      severity: 'warning',
      detail: 'STRIPE_API_KEY is not set: no checkout helper, no sync, no Stripe comparison',
    });
  } else if (!/^(sk|rk)_(test|live)_/.test(stripe.apiKey)) {
    section.add({
      kind: 'stripe-api-key-malformed',
      severity: 'failed',
      detail: 'STRIPE_API_KEY is not a secret (sk_) or restricted (rk_) key',
    });
  }
  if (apiKeys === undefined) {
    section.add({
      kind: 'api-keys-missing',
      severity: 'warning',
      detail: 'API_KEYS is not set: the embedded mode made a development key',
    });
  }
}

function checkCatalog({ stripe }: AppConfig, section: SectionBuilder): void {
  try {
    assertValidStripeCatalog(stripe.catalog, 'the Stripe catalog');
  } catch (error) {
    section.add({
      kind: 'catalog-malformed',
      severity: 'failed',
      detail: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  section.count('catalog-prices', stripe.catalog.packs.length + stripe.catalog.plans.length);
  if (stripe.catalog.packs.length + stripe.catalog.plans.length === 0) {
    section.add({
      kind: 'catalog-empty',
      severity: 'warning',
      detail: 'the Stripe catalog has no price: every payment would be parked',
    });
  }
}

/** The projector answers if its projections keep up: behind by more than the threshold is a finding. */
async function checkProjector(
  { config, store, readModel }: { config: AppConfig; store: EventStore; readModel: SqlExecutor },
  section: SectionBuilder,
): Promise<void> {
  for (const { name } of PROJECTIONS) {
    const lag = await projectionLag(readModel, store, name);
    section.count(`${name}-lag-events`, lag.lagEvents);
    if (lag.lagSeconds <= config.projector.lagSecondsMax) continue;
    section.add({
      kind: 'projector-lagging',
      severity: 'failed',
      projection: name,
      lagEvents: lag.lagEvents,
      lagSeconds: Math.round(lag.lagSeconds),
      detail: `projection ${name} is ${lag.lagEvents} events and ${Math.round(lag.lagSeconds)} s behind (limit ${config.projector.lagSecondsMax} s): is the projector running?`,
    });
  }
}
