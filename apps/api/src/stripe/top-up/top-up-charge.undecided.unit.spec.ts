import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { stripeConfigUnderTest } from '../../../../../test/support/stripe-webhook-client';
import { stripeApiClient } from '../stripe-api.client';
import { chargeTopUp } from './top-up-charge';

/**
 * Stripe errors that say nothing of the card are thrown, for the process to try again under the same key, never
 * recorded as the top-up's failure: 429 (rate limited: nothing was carried out) and 409 `idempotency_key_in_use`
 * (the same top-up charged by another process right now, which may well succeed). Through the real `stripe` client
 * (its own retries included) against a local server answering as Stripe does (Stripe cannot be reached from here).
 */
describe('a top-up charge Stripe did not decide on (a local server answering as Stripe, not Stripe)', () => {
  let server: Server;
  let stripe: Stripe;
  let answer: { status: number; body: unknown };
  let calls = 0;

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      request.on('end', () => {
        calls++;
        response.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': `req_${calls}` });
        response.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    stripe = stripeApiClient(
      stripeConfigUnderTest({ apiKey: 'sk_test_undecided', apiBase: new URL(`http://127.0.0.1:${port}`) }),
    )!;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const charge = () =>
    chargeTopUp(stripe, {
      userId: `user-${randomUUID()}`,
      topUpId: randomUUID(),
      packId: 'credits_100',
      customerId: 'cus_saved',
      paymentMethodId: 'pm_card_visa',
      amount: 1000,
      currency: 'usd',
    });

  it('429 rate_limit: thrown to be tried again, not a failed top-up', async () => {
    answer = {
      status: 429,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'rate_limit',
          message: 'Too many requests hit the API too quickly.',
        },
      },
    };
    const outcome = await charge().catch((error: Error) => ({ thrown: error.constructor.name }));
    expect(outcome).toEqual({ thrown: 'StripeRateLimitError' });
  });

  it('409 idempotency_key_in_use (the same top-up charged by another process right now): thrown, not a failed top-up', async () => {
    answer = {
      status: 409,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'idempotency_key_in_use',
          message:
            'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): credits-topup-…. Please try again later.',
        },
      },
    };
    const outcome = await charge().catch((error: Error) => ({ thrown: error.constructor.name }));
    expect(outcome).toEqual({ thrown: 'StripeAPIError' });
  });
});
