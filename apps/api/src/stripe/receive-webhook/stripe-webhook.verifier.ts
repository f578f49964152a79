import { Inject, Injectable } from '@nestjs/common';
import { ProblemException, storableInPostgres } from '@libs/http';
import type { StripeEventEnvelope } from '@libs/stripe';
import Stripe from 'stripe';

export const STRIPE_WEBHOOK_SECRETS = Symbol('STRIPE_WEBHOOK_SECRETS');

/** Stripe's own default: a signature older than five minutes may be a replay. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * The Stripe signature is the webhook's only authentication: the raw body
 * must verify against one of the configured secrets (two during a rotation)
 * before anything of it is read or stored.
 */
@Injectable()
export class StripeWebhookVerifier {
  constructor(@Inject(STRIPE_WEBHOOK_SECRETS) private readonly secrets: readonly string[]) {}

  verify(rawBody: unknown, signature: string | undefined): StripeEventEnvelope {
    if (this.secrets.length === 0) {
      throw ProblemException.of(503, 'stripe-webhook-not-configured', 'Stripe webhooks not configured', {
        detail: 'set STRIPE_WEBHOOK_SECRET to the endpoint secret (whsec_...)',
      });
    }
    if (!Buffer.isBuffer(rawBody)) throw invalidDelivery('the body must be the raw JSON Stripe sent');
    if (signature === undefined || signature === '') throw invalidDelivery('the Stripe-Signature header is missing');
    // A signed event is Stripe's: what PostgreSQL cannot store in it is rewritten (reversibly), never refused.
    return envelopeOf(storableInPostgres(this.constructEvent(rawBody, signature)));
  }

  private constructEvent(rawBody: Buffer, signature: string): unknown {
    let lastError: unknown;
    for (const secret of this.secrets) {
      try {
        return Stripe.webhooks.constructEvent(rawBody, signature, secret, SIGNATURE_TOLERANCE_SECONDS);
      } catch (error) {
        if (error instanceof SyntaxError) throw invalidDelivery('the body is not valid JSON');
        lastError = error;
      }
    }
    // Stripe's message says which check failed (no signature matched, timestamp outside the tolerance).
    throw invalidDelivery(lastError instanceof Error ? lastError.message : 'the signature does not verify');
  }
}

/** A verified body that is not an event (no id, type or object) is still refused: nothing to record. */
function envelopeOf(event: unknown): StripeEventEnvelope {
  const { id, type, created, data } = (event ?? {}) as Partial<Record<keyof StripeEventEnvelope, unknown>>;
  const object = (data as { object?: unknown } | undefined)?.object;
  if (typeof id !== 'string' || !id.startsWith('evt_') || id.length > 255) throw invalidDelivery('no event id');
  if (typeof type !== 'string' || type === '') throw invalidDelivery('no event type');
  if (!Number.isSafeInteger(created)) throw invalidDelivery('no creation time');
  if (typeof object !== 'object' || object === null) throw invalidDelivery('no data.object');
  return event as StripeEventEnvelope;
}

function invalidDelivery(detail: string): ProblemException {
  return ProblemException.of(400, 'invalid-stripe-delivery', 'Invalid Stripe delivery', { detail });
}
