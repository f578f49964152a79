import { createHmac } from 'node:crypto';
import { newWebhookSecret, signWebhookPayload, verifyWebhookSignature } from './webhook-signature';

describe('outbound webhook signatures', () => {
  const secret = newWebhookSecret();
  const body = JSON.stringify({ id: 'delivery-1', type: 'recharge.completed', data: { credits: 100 } });
  const now = 1_800_000_000;

  it('is Stripe’s scheme: t and a hex HMAC-SHA256 of "<t>.<body>" keyed by the secret', () => {
    const header = signWebhookPayload(body, [secret], now);
    const expected = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(header).toBe(`t=${now},v1=${expected}`);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
  });

  it('verifies with the helper, and fails when the body, the timestamp or the secret differ', () => {
    const header = signWebhookPayload(body, [secret], now);
    expect(verifyWebhookSignature(body, header, secret, { nowSeconds: now })).toEqual({ valid: true, timestamp: now });
    expect(verifyWebhookSignature(body.replace('100', '1000'), header, secret, { nowSeconds: now })).toEqual({
      valid: false,
      reason: 'no-matching-signature',
    });
    const otherTime = header.replace(`t=${now}`, `t=${now + 1}`);
    expect(verifyWebhookSignature(body, otherTime, secret, { nowSeconds: now })).toEqual({
      valid: false,
      reason: 'no-matching-signature',
    });
    expect(verifyWebhookSignature(body, header, newWebhookSecret(), { nowSeconds: now }).valid).toBe(false);
  });

  it('refuses a timestamp outside the tolerance (a replay), either way', () => {
    const header = signWebhookPayload(body, [secret], now);
    const options = { toleranceSeconds: 300 };
    expect(verifyWebhookSignature(body, header, secret, { ...options, nowSeconds: now + 300 }).valid).toBe(true);
    expect(verifyWebhookSignature(body, header, secret, { ...options, nowSeconds: now + 301 })).toEqual({
      valid: false,
      reason: 'timestamp-outside-tolerance',
    });
    expect(verifyWebhookSignature(body, header, secret, { ...options, nowSeconds: now - 301 }).valid).toBe(false);
  });

  it('signs with every secret of a rotation: a receiver holding either verifies', () => {
    const next = newWebhookSecret();
    const header = signWebhookPayload(body, [next, secret], now);
    expect(header.split(',')).toHaveLength(3);
    expect(verifyWebhookSignature(body, header, secret, { nowSeconds: now }).valid).toBe(true);
    expect(verifyWebhookSignature(body, header, next, { nowSeconds: now }).valid).toBe(true);
  });

  it('calls a missing or malformed header malformed', () => {
    for (const header of [undefined, '', 'v1=abc', `t=${now}`, `t=soon,v1=ab`, `t=${now},t=${now},v1=ab`]) {
      expect(verifyWebhookSignature(body, header, secret, { nowSeconds: now })).toEqual({
        valid: false,
        reason: 'malformed-header',
      });
    }
  });

  it.each([
    ['trailing non-hex characters', 'zz'],
    ['a trailing hex digit', '0'],
    ['garbage after it', '-not-a-signature'],
  ])('calls a v1 with %s malformed: a signature is exactly 64 hex digits', (_, suffix) => {
    const header = `${signWebhookPayload(body, [secret], now)}${suffix}`;
    expect(verifyWebhookSignature(body, header, secret, { nowSeconds: now })).toEqual({
      valid: false,
      reason: 'malformed-header',
    });
  });

  it('refuses to sign without a secret', () => {
    expect(() => signWebhookPayload(body, [])).toThrow('needs a secret');
  });
});
