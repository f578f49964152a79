import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AMOUNT_CREDITS_MAX } from '@libs/credits';
import { type StripeCatalog, assertValidStripeCatalog, packById, packByPriceId, planByPriceId } from './stripe-catalog';

const PATH = 'config/stripe-catalog.json';

function validCatalog(): StripeCatalog {
  return {
    packs: [
      { packId: 'credits_100', priceId: 'price_credits_100', creditsPerUnit: 100, metadataCreditsAllowed: false },
      { packId: 'credits_custom', priceId: 'price_custom', creditsPerUnit: 1, metadataCreditsAllowed: true },
    ],
    plans: [
      {
        planId: 'basic_monthly',
        priceId: 'price_basic_monthly',
        creditsPerPeriod: 1000,
        metadataCreditsAllowed: false,
      },
    ],
    paymentsWithoutPrice: { metadataCreditsAllowed: false },
  };
}

/** The valid catalog with one change, made by `change` on a copy. */
function catalogWith(change: (catalog: Record<string, unknown> & StripeCatalog) => void): unknown {
  const catalog = structuredClone(validCatalog()) as Record<string, unknown> & StripeCatalog;
  change(catalog);
  return catalog;
}

describe('assertValidStripeCatalog', () => {
  describe('when the catalog is valid', () => {
    it('accepts it and types it as a StripeCatalog', () => {
      const value: unknown = JSON.parse(JSON.stringify(validCatalog()));

      assertValidStripeCatalog(value, PATH);

      expect(packByPriceId(value, 'price_credits_100')?.packId).toBe('credits_100');
    });

    it('accepts the catalog the project ships, config/stripe-catalog.json', () => {
      const shipped: unknown = JSON.parse(readFileSync(join(__dirname, '../../..', PATH), 'utf8'));

      expect(() => assertValidStripeCatalog(shipped, PATH)).not.toThrow();
    });

    it('accepts empty lists of packs and plans', () => {
      const value = { packs: [], plans: [], paymentsWithoutPrice: { metadataCreditsAllowed: true } };

      expect(() => assertValidStripeCatalog(value, PATH)).not.toThrow();
    });

    it.each(['P30D', 'P1M', 'PT12H', 'P1Y2M', 'P2W', 'P1DT12H', 'P100Y'])(
      'accepts a pack that expires after %s',
      (expiresAfter) => {
        const value = catalogWith((catalog) => (catalog.packs[0].expiresAfter = expiresAfter));

        expect(() => assertValidStripeCatalog(value, PATH)).not.toThrow();
      },
    );

    it.each([true, false])('accepts a plan whose credits expire at the period end: %p', (expiresAtPeriodEnd) => {
      const value = catalogWith((catalog) => (catalog.plans[0].expiresAtPeriodEnd = expiresAtPeriodEnd));

      expect(() => assertValidStripeCatalog(value, PATH)).not.toThrow();
    });

    it.each<[string | number, boolean | undefined]>([
      ['none', true],
      ['all', true],
      [1, true],
      [100, true],
      [AMOUNT_CREDITS_MAX, true],
      ['none', undefined],
      ['none', false],
    ])('accepts a plan carrying %p over, with expiresAtPeriodEnd %p', (rollover, expiresAtPeriodEnd) => {
      const value = catalogWith((catalog) => Object.assign(catalog.plans[0], { expiresAtPeriodEnd, rollover }));

      expect(() => assertValidStripeCatalog(value, PATH)).not.toThrow();
    });

    it('accepts credits up to AMOUNT_CREDITS_MAX', () => {
      const value = catalogWith((catalog) => (catalog.packs[0].creditsPerUnit = AMOUNT_CREDITS_MAX));

      expect(() => assertValidStripeCatalog(value, PATH)).not.toThrow();
    });
  });

  describe('when the file is not a catalog', () => {
    it.each([null, [], 'catalog', 42])('refuses %p, naming the path', (value) => {
      expect(() => assertValidStripeCatalog(value, PATH)).toThrow(`${PATH}: a catalog is { packs: [...]`);
    });

    it('refuses packs that are not a list', () => {
      const value = catalogWith((catalog) => (catalog.packs = {} as never));

      expect(() => assertValidStripeCatalog(value, PATH)).toThrow(`${PATH}: "packs" must be a list`);
    });

    it('refuses a missing plans list', () => {
      const value = catalogWith((catalog) => delete (catalog as Partial<StripeCatalog>).plans);

      expect(() => assertValidStripeCatalog(value, PATH)).toThrow(`${PATH}: "plans" must be a list`);
    });

    it('refuses an unknown top-level key', () => {
      const value = catalogWith((catalog) => (catalog.bundles = []));

      expect(() => assertValidStripeCatalog(value, PATH)).toThrow(
        `${PATH}: the catalog has an unknown key "bundles" (known: packs, plans, paymentsWithoutPrice)`,
      );
    });

    it('refuses a missing paymentsWithoutPrice', () => {
      const value = catalogWith((catalog) => delete (catalog as Partial<StripeCatalog>).paymentsWithoutPrice);

      expect(() => assertValidStripeCatalog(value, PATH)).toThrow(`${PATH}: paymentsWithoutPrice must be an object`);
    });
  });

  describe('when an entry breaks a rule', () => {
    it.each<[string, (catalog: StripeCatalog) => void, string]>([
      [
        'an unknown key in a pack',
        (catalog) => Object.assign(catalog.packs[1], { credits: 5 }),
        'packs[1] ("credits_custom") has an unknown key "credits" (known: packId, priceId, creditsPerUnit, metadataCreditsAllowed, expiresAfter)',
      ],
      [
        'rollover on a pack (a pack has no next period)',
        (catalog) => Object.assign(catalog.packs[0], { expiresAfter: 'P1M', rollover: 'all' }),
        'packs[0] ("credits_100") has an unknown key "rollover" (known: packId, priceId, creditsPerUnit, metadataCreditsAllowed, expiresAfter)',
      ],
      [
        'an unknown key in a plan, listing the known ones',
        (catalog) => Object.assign(catalog.plans[0], { carryOver: 'all' }),
        'plans[0] ("basic_monthly") has an unknown key "carryOver" (known: planId, priceId, creditsPerPeriod, metadataCreditsAllowed, expiresAtPeriodEnd, rollover)',
      ],
      ...[
        ['absent', {}],
        ['false', { expiresAtPeriodEnd: false }],
      ].flatMap(([problem, expiry]) =>
        ['all', 100].map((rollover): [string, (catalog: StripeCatalog) => void, string] => [
          `rollover ${JSON.stringify(rollover)} with expiresAtPeriodEnd ${problem as string} (nothing lapses to carry)`,
          (catalog) => Object.assign(catalog.plans[0], expiry, { rollover }),
          `plans[0] ("basic_monthly") has "rollover": ${JSON.stringify(rollover)}, which needs "expiresAtPeriodEnd": true`,
        ]),
      ),
      [
        'expiresAtPeriodEnd on a pack (a pack has no period)',
        (catalog) => Object.assign(catalog.packs[0], { expiresAtPeriodEnd: true }),
        'packs[0] ("credits_100") has an unknown key "expiresAtPeriodEnd"',
      ],
      [
        'expiresAfter on a plan (its credits lapse at the period end or never)',
        (catalog) => Object.assign(catalog.plans[0], { expiresAfter: 'P30D' }),
        'plans[0] ("basic_monthly") has an unknown key "expiresAfter"',
      ],
      [
        'an unknown key in a plan',
        (catalog) => Object.assign(catalog.plans[0], { interval: 'month' }),
        'plans[0] ("basic_monthly") has an unknown key "interval"',
      ],
      [
        'an unknown key in paymentsWithoutPrice',
        (catalog) => Object.assign(catalog.paymentsWithoutPrice, { creditsMax: 10 }),
        'paymentsWithoutPrice has an unknown key "creditsMax"',
      ],
      [
        'an empty packId',
        (catalog) => (catalog.packs[0].packId = ''),
        'packs[0] needs "packId" to be a non-empty string',
      ],
      [
        'a missing planId',
        (catalog) => delete (catalog.plans[0] as Partial<StripeCatalog['plans'][0]>).planId,
        'plans[0] needs "planId" to be a non-empty string, got undefined',
      ],
      [
        'a priceId that is not a price id',
        (catalog) => (catalog.packs[0].priceId = 'prod_credits_100'),
        'packs[0] ("credits_100") needs "priceId" to be a Stripe price id (a string starting with "price_"), got "prod_credits_100"',
      ],
      [
        'a numeric priceId',
        (catalog) => ((catalog.plans[0] as { priceId: unknown }).priceId = 42),
        'plans[0] ("basic_monthly") needs "priceId" to be a Stripe price id',
      ],
      [
        'zero credits per unit',
        (catalog) => (catalog.packs[0].creditsPerUnit = 0),
        `packs[0] ("credits_100") needs "creditsPerUnit" to be a positive integer of at most ${AMOUNT_CREDITS_MAX} credits, got 0`,
      ],
      [
        'fractional credits per period',
        (catalog) => (catalog.plans[0].creditsPerPeriod = 2.5),
        'plans[0] ("basic_monthly") needs "creditsPerPeriod" to be a positive integer',
      ],
      [
        'credits above AMOUNT_CREDITS_MAX',
        (catalog) => (catalog.plans[0].creditsPerPeriod = AMOUNT_CREDITS_MAX + 1),
        'plans[0] ("basic_monthly") needs "creditsPerPeriod" to be a positive integer',
      ],
      [
        'credits written as a string',
        (catalog) => ((catalog.packs[0] as { creditsPerUnit: unknown }).creditsPerUnit = '100'),
        'packs[0] ("credits_100") needs "creditsPerUnit" to be a positive integer',
      ],
      [
        'metadataCreditsAllowed written as a string',
        (catalog) => ((catalog.packs[1] as { metadataCreditsAllowed: unknown }).metadataCreditsAllowed = 'true'),
        'packs[1] ("credits_custom") needs "metadataCreditsAllowed" to be true or false, got "true"',
      ],
      [
        'a missing paymentsWithoutPrice.metadataCreditsAllowed',
        (catalog) => (catalog.paymentsWithoutPrice = {} as never),
        'paymentsWithoutPrice needs "metadataCreditsAllowed" to be true or false, got undefined',
      ],
      ['a pack that is not an object', (catalog) => (catalog.packs[1] = null as never), 'packs[1] must be an object'],
      [
        'the same packId twice',
        (catalog) => (catalog.packs[1].packId = 'credits_100'),
        'packId "credits_100" appears more than once in packs',
      ],
      [
        'the same planId twice',
        (catalog) => catalog.plans.push({ ...catalog.plans[0], priceId: 'price_other' }),
        'planId "basic_monthly" appears more than once in plans',
      ],
      [
        'the same priceId in two packs',
        (catalog) => (catalog.packs[1].priceId = 'price_credits_100'),
        'priceId "price_credits_100" appears more than once in packs and plans',
      ],
      [
        'the same priceId in a pack and a plan',
        (catalog) => (catalog.plans[0].priceId = 'price_custom'),
        'priceId "price_custom" appears more than once in packs and plans',
      ],
      ...[
        ['not ISO 8601', '30 days'],
        ['a bare number', 30],
        ['null', null],
        ['an empty string', ''],
        ['an empty duration', 'P'],
        ['zero', 'P0D'],
        ['zero seconds', 'PT0S'],
        ['negative', 'P-1D'],
        ['negative as a whole', '-P1D'],
        ['partly negative', 'P1M-40D'],
        ['a fraction of an hour', 'PT0.5H'],
        ['longer than 100 years', 'P101Y'],
      ].map(([problem, expiresAfter]): [string, (catalog: StripeCatalog) => void, string] => [
        `an expiresAfter that is ${problem as string}`,
        (catalog) => ((catalog.packs[0] as { expiresAfter: unknown }).expiresAfter = expiresAfter),
        `packs[0] ("credits_100") needs "expiresAfter" to be a positive ISO 8601 duration of whole units (e.g. P30D, P1M, PT12H) of at most 100 years, or absent, got ${JSON.stringify(expiresAfter)}`,
      ]),
      ...[
        ['a string', 'true'],
        ['a number', 1],
        ['null', null],
      ].map(([problem, flag]): [string, (catalog: StripeCatalog) => void, string] => [
        `an expiresAtPeriodEnd that is ${problem as string}`,
        (catalog) => ((catalog.plans[0] as { expiresAtPeriodEnd: unknown }).expiresAtPeriodEnd = flag),
        `plans[0] ("basic_monthly") needs "expiresAtPeriodEnd" to be true or false, or absent, got ${JSON.stringify(flag)}`,
      ]),
      ...[
        ['zero', 0],
        ['negative', -5],
        ['a fraction', 2.5],
        ['above AMOUNT_CREDITS_MAX', AMOUNT_CREDITS_MAX + 1],
        ['a number written as a string', '100'],
        ['true', true],
        ['null', null],
        ['another word', 'some'],
        ['upper case', 'ALL'],
      ].map(([problem, rollover]): [string, (catalog: StripeCatalog) => void, string] => [
        `a rollover that is ${problem as string}`,
        (catalog) => Object.assign(catalog.plans[0], { expiresAtPeriodEnd: true, rollover }),
        `plans[0] ("basic_monthly") needs "rollover" to be "none", "all" or a positive integer of at most ${AMOUNT_CREDITS_MAX} credits, or absent, got ${JSON.stringify(rollover)}`,
      ]),
    ])('refuses %s, naming the path and the entry', (_case, change, message) => {
      const value = catalogWith(change);

      expect(() => assertValidStripeCatalog(value, PATH)).toThrow(`${PATH}: ${message}`);
    });
  });
});

describe('catalog lookups', () => {
  const catalog = validCatalog();

  it('finds a pack by its id or its price, and a plan by its price', () => {
    expect(packById(catalog, 'credits_custom')?.priceId).toBe('price_custom');
    expect(packByPriceId(catalog, 'price_credits_100')?.packId).toBe('credits_100');
    expect(planByPriceId(catalog, 'price_basic_monthly')?.planId).toBe('basic_monthly');
  });

  it('finds nothing for a price of the other list, or an unknown one', () => {
    expect(packByPriceId(catalog, 'price_basic_monthly')).toBeUndefined();
    expect(planByPriceId(catalog, 'price_credits_100')).toBeUndefined();
    expect(packById(catalog, 'toString')).toBeUndefined();
  });
});
