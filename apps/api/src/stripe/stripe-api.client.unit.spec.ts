import { withoutStripeKeys } from './stripe-api.client';

describe('withoutStripeKeys', () => {
  it.each([
    ['a secret key', 'Invalid API Key provided: sk_live_51Habc0123', 'Invalid API Key provided: sk_live_[redacted]'],
    ['a restricted key', 'key rk_test_abc123 refused', 'key rk_test_[redacted] refused'],
    ['a publishable key', 'pk_test_abc123', 'pk_test_[redacted]'],
    ['a webhook secret', 'STRIPE_WEBHOOK_SECRET=whsec_ab+c/d=e_f-0123', 'STRIPE_WEBHOOK_SECRET=whsec_[redacted]'],
    ['webhook secrets in a list', 'whsec_new0000000000,whsec_old0000000000', 'whsec_[redacted],whsec_[redacted]'],
  ])('masks %s, keeping its kind', (_, text, masked) => {
    expect(withoutStripeKeys(text)).toBe(masked);
  });

  it('leaves text without a key or secret as it is', () => {
    expect(withoutStripeKeys('no such price price_123 for customer cus_456')).toBe(
      'no such price price_123 for customer cus_456',
    );
  });
});
