import { createHash } from 'node:crypto';
import { Body, Controller, Headers, Inject, Logger, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import { ProblemException } from '@libs/http';
import { type CreditPack, type StripeCatalog, packById } from '@libs/stripe';
import Stripe from 'stripe';
import { RequiresScope } from '../../auth/api-key.guard';
import { UserIdPipe, idempotencyKeyFrom } from '../../credits/credits.http';
import { STRIPE_API, stripeErrorMessage } from '../stripe-api.client';
import { STRIPE_CATALOG } from '../stripe-ingestion.service';
import { CreateCheckoutSessionRequest } from './create-checkout-session.request.dto';

export class CheckoutSessionResponse {
  @ApiProperty({ example: 'cs_test_a1b2c3' }) id!: string;
  @ApiProperty({ description: "Stripe's hosted payment page: send the buyer there" }) url!: string;
}

/**
 * Starts a payment of a catalog pack on Stripe Checkout. The session names
 * the user and the pack in its metadata and in its payment intent's, so the
 * webhook credits the right user with the catalog's credits, without guessing.
 */
@ApiTags('stripe')
@ApiBearerAuth()
@Controller('v1/users/:userId/checkout-sessions')
export class CreateCheckoutSessionHttpController {
  private readonly logger = new Logger(CreateCheckoutSessionHttpController.name);

  constructor(
    @Inject(STRIPE_API) private readonly stripe: Stripe | undefined,
    @Inject(STRIPE_CATALOG) private readonly catalog: StripeCatalog,
  ) {}

  @Post()
  @RequiresScope('consume')
  @ApiOperation({ summary: 'Create a Stripe Checkout session that buys a credit pack for the user' })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'A retry with the same key gets the same session',
  })
  @ApiResponse({ status: 201, type: CheckoutSessionResponse, description: 'Created' })
  @ApiResponse({ status: 404, description: 'unknown-pack' })
  @ApiResponse({ status: 409, description: 'idempotency-key-reused' })
  @ApiResponse({ status: 502, description: 'stripe-api-error' })
  @ApiResponse({ status: 503, description: 'stripe-api-not-configured' })
  async create(
    @Param('userId', UserIdPipe) userId: string,
    @Body() body: CreateCheckoutSessionRequest,
    @Headers('idempotency-key') idempotencyKeyHeader: string | undefined,
  ): Promise<CheckoutSessionResponse> {
    const idempotencyKey = idempotencyKeyFrom(idempotencyKeyHeader, { required: false });
    const pack = packById(this.catalog, body.packId);
    if (pack === undefined) {
      throw ProblemException.of(404, 'unknown-pack', 'Unknown pack', {
        detail: `the Stripe catalog has no pack "${body.packId}"`,
        packId: body.packId,
      });
    }
    const quantity = body.quantity ?? 1;
    assertCreditsWithinLimit(pack, quantity);
    const stripe = this.configuredStripe();
    const options =
      idempotencyKey === undefined ? {} : { idempotencyKey: checkoutIdempotencyKey(userId, idempotencyKey) };
    try {
      const session = await stripe.checkout.sessions.create(
        checkoutSessionParams(userId, pack, quantity, body),
        options,
      );
      // A hosted session (no ui_mode asked) always has a URL: without one the buyer could not pay.
      if (session.url === null) throw new Error(`Stripe returned Checkout session ${session.id} without a URL`);
      return { id: session.id, url: session.url };
    } catch (error) {
      if (!(error instanceof Stripe.errors.StripeError)) throw error;
      throw this.problemOfStripeError(error, idempotencyKey);
    }
  }

  private configuredStripe(): Stripe {
    if (this.stripe !== undefined) return this.stripe;
    throw ProblemException.of(503, 'stripe-api-not-configured', "Stripe's API is not configured", {
      detail: 'set STRIPE_API_KEY to create Checkout sessions',
    });
  }

  private problemOfStripeError(error: Stripe.errors.StripeError, idempotencyKey: string | undefined): ProblemException {
    const message = stripeErrorMessage(error);
    this.logger.warn(
      { stripeError: error.type, stripeRequestId: error.requestId, stripeMessage: message },
      'Stripe refused or failed to create a Checkout session',
    );
    if (error instanceof Stripe.errors.StripeIdempotencyError) {
      return ProblemException.of(409, 'idempotency-key-reused', 'Idempotency key reused with another payload', {
        detail: `the key "${idempotencyKey}" was already used for a different Checkout session`,
        idempotencyKey,
      });
    }
    return ProblemException.of(502, 'stripe-api-error', "Stripe's API refused or failed the request", {
      detail: message,
      // Stripe's own type and code (`invalid_request_error`, `resource_missing`); absent when Stripe was not reached.
      stripeErrorType: error.rawType,
      stripeErrorCode: error.code,
      stripeRequestId: error.requestId,
    });
  }
}

/** A payment of `quantity` packs; the metadata is what the webhook's mapping reads back (quantity as a string). */
function checkoutSessionParams(
  userId: string,
  pack: CreditPack,
  quantity: number,
  body: CreateCheckoutSessionRequest,
): Stripe.Checkout.SessionCreateParams {
  const metadata = { userId, packId: pack.packId, quantity: String(quantity) };
  // Saving the card for payments made without the buyer takes a customer to save it on, made by Checkout.
  const saved = body.savePaymentMethod === true;
  return {
    mode: 'payment',
    line_items: [{ price: pack.priceId, quantity }],
    client_reference_id: userId,
    metadata,
    payment_intent_data: saved ? { metadata, setup_future_usage: 'off_session' } : { metadata },
    ...(saved ? { customer_creation: 'always' as const } : {}),
    success_url: body.successUrl,
    cancel_url: body.cancelUrl,
  };
}

/**
 * Stripe's key for the client's: scoped to the user, so two users who pick
 * the same key never get each other's session, and of a fixed length
 * whatever the user id (Stripe takes at most 255 characters).
 */
export function checkoutIdempotencyKey(userId: string, idempotencyKey: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([userId, idempotencyKey]))
    .digest('hex');
  return `credits-checkout-${digest}`;
}

/** The webhook parks a payment above the most one payment may credit: better refused before anyone pays. */
function assertCreditsWithinLimit(pack: CreditPack, quantity: number): void {
  const credits = pack.creditsPerUnit * quantity;
  if (credits <= AMOUNT_CREDITS_MAX) return;
  throw ProblemException.of(422, 'credits-limit-exceeded', 'Too many credits for one payment', {
    detail: `${quantity} × ${pack.creditsPerUnit} credits exceed the most one payment may credit (${AMOUNT_CREDITS_MAX})`,
  });
}
