import { AMOUNT_CREDITS_MAX } from './credits.limits';
import { type PriceList, assertValidPriceList, priceConsumption } from './price-list';

const PRICE_LIST: PriceList = {
  'document-upload': { credits: 10 },
  'llm-completion': { credits: 5, amountOverride: { amountMax: 1_000 } },
};

describe('priceConsumption', () => {
  describe('for a feature missing from the price list', () => {
    it.each(['video-upload', 'toString', '__proto__', 'constructor'])('refuses %p with unknown-feature', (feature) => {
      expect(priceConsumption(PRICE_LIST, feature)).toEqual({
        kind: 'refused',
        error: { type: 'unknown-feature', feature },
      });
    });

    it('refuses with unknown-feature even when the caller names an amount', () => {
      expect(priceConsumption(PRICE_LIST, 'video-upload', 10)).toEqual({
        kind: 'refused',
        error: { type: 'unknown-feature', feature: 'video-upload' },
      });
    });
  });

  describe('when the caller names no amount', () => {
    it('charges the price of the feature', () => {
      expect(priceConsumption(PRICE_LIST, 'document-upload')).toEqual({ kind: 'priced', amount: 10 });
    });

    it('charges the price of a feature that allows overrides', () => {
      expect(priceConsumption(PRICE_LIST, 'llm-completion')).toEqual({ kind: 'priced', amount: 5 });
    });
  });

  describe('when the feature allows the caller to name the amount', () => {
    it.each([1, 5, 420, 1_000])('charges the %p credits named, up to amountMax', (requestedAmount) => {
      expect(priceConsumption(PRICE_LIST, 'llm-completion', requestedAmount)).toEqual({
        kind: 'priced',
        amount: requestedAmount,
      });
    });

    it('refuses an amount above amountMax with amount-override-not-allowed, naming amountMax', () => {
      expect(priceConsumption(PRICE_LIST, 'llm-completion', 1_001)).toEqual({
        kind: 'refused',
        error: { type: 'amount-override-not-allowed', feature: 'llm-completion', amountMax: 1_000 },
      });
    });
  });

  describe('when the feature has a fixed price', () => {
    it.each([10, 1])('refuses a named amount of %p with amount-override-not-allowed', (requestedAmount) => {
      expect(priceConsumption(PRICE_LIST, 'document-upload', requestedAmount)).toEqual({
        kind: 'refused',
        error: { type: 'amount-override-not-allowed', feature: 'document-upload' },
      });
    });
  });
});

describe('assertValidPriceList', () => {
  const SOURCE = 'config/price-list.json';

  it('accepts a list of positive integer prices, some with an amountOverride, and types it as a PriceList', () => {
    const value: unknown = JSON.parse(
      '{"document-upload":{"credits":10},"llm-completion":{"credits":5,"amountOverride":{"amountMax":1000}}}',
    );

    assertValidPriceList(value, SOURCE);

    expect(priceConsumption(value, 'llm-completion', 1_000)).toEqual({ kind: 'priced', amount: 1_000 });
  });

  it('accepts prices up to AMOUNT_CREDITS_MAX', () => {
    const value = { 'bulk-export': { credits: AMOUNT_CREDITS_MAX, amountOverride: { amountMax: AMOUNT_CREDITS_MAX } } };

    expect(() => assertValidPriceList(value, SOURCE)).not.toThrow();
  });

  it.each([null, [], 'document-upload', 10])('refuses %p, which is not an object of features', (value) => {
    expect(() => assertValidPriceList(value, SOURCE)).toThrow(
      'config/price-list.json: a price list is an object of feature → { credits, amountOverride? }',
    );
  });

  describe('for a feature without a valid "credits"', () => {
    it.each<[string, unknown]>([
      ['no price at all', null],
      ['no credits', {}],
      ['credits as a string', { credits: '10' }],
      ['zero credits', { credits: 0 }],
      ['negative credits', { credits: -10 }],
      ['fractional credits', { credits: 2.5 }],
      ['credits above AMOUNT_CREDITS_MAX', { credits: AMOUNT_CREDITS_MAX + 1 }],
    ])('refuses %s, naming the feature', (_, price) => {
      const value = { 'document-upload': { credits: 10 }, 'video-upload': price };

      expect(() => assertValidPriceList(value, SOURCE)).toThrow(
        'config/price-list.json: feature "video-upload" needs a positive integer "credits"',
      );
    });
  });

  describe('for a feature with an invalid "amountOverride"', () => {
    it.each<[string, unknown]>([
      ['null', null],
      ['a bare number', 1_000],
      ['no amountMax', {}],
      ['amountMax as a string', { amountMax: '1000' }],
      ['a zero amountMax', { amountMax: 0 }],
      ['a fractional amountMax', { amountMax: 2.5 }],
      ['an amountMax above AMOUNT_CREDITS_MAX', { amountMax: AMOUNT_CREDITS_MAX + 1 }],
    ])('refuses %s, naming the feature', (_, amountOverride) => {
      const value = { 'llm-completion': { credits: 5, amountOverride } };

      expect(() => assertValidPriceList(value, SOURCE)).toThrow(
        'config/price-list.json: feature "llm-completion" has an "amountOverride" without a positive integer "amountMax"',
      );
    });
  });
});

describe('priceConsumption of an amount that is no credit amount', () => {
  it.each([0, -5, 2.5, Number.NaN, AMOUNT_CREDITS_MAX + 1])('refuses %p with invalid-amount', (requestedAmount) => {
    expect(priceConsumption(PRICE_LIST, 'llm-completion', requestedAmount)).toEqual({
      kind: 'refused',
      error: { type: 'invalid-amount', amount: requestedAmount },
    });
  });
});

describe('assertValidPriceList with a misspelt key', () => {
  it('refuses it rather than silently ignoring it', () => {
    const value = { 'llm-completion': { credits: 5, amountOveride: { amountMax: 10 } } };

    expect(() => assertValidPriceList(value, 'config/price-list.json')).toThrow(
      'config/price-list.json: feature "llm-completion" has an unknown key "amountOveride"',
    );
  });
});
