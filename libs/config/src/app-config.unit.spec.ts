import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, isStripeWebhookSecret, loadConfig } from './app-config';

const SECRET = 'a-secret-of-enough-length';

describe('loadConfig', () => {
  describe('with nothing set', () => {
    it('runs embedded on PGlite in ./data, on port 3000, without keys (a development key is made at start)', () => {
      const config = loadConfig({});

      expect(config.port).toBe(3000);
      expect(config.eventStore).toEqual({ kind: 'pglite', dataDir: join(process.cwd(), 'data', 'pglite') });
      expect(config.apiKeys).toBeUndefined();
      expect(config.commandRetriesMax).toBe(25);
      expect(config.priceList.face_swap).toEqual({ credits: 1 });
      expect(config.stripe.webhookSecrets).toEqual([]);
      expect(config.stripe.refundShortfall).toBe('debt');
      expect(config.stripe.catalog.packs.length).toBeGreaterThan(0);
    });
  });

  describe('with DATABASE_URL', () => {
    it('uses PostgreSQL and needs API_KEYS', () => {
      expect(() => loadConfig({ DATABASE_URL: 'postgres://localhost/credits' })).toThrow(
        new ConfigError(
          'API_KEYS',
          'must be set when DATABASE_URL is (a development key is made only in the embedded mode)',
        ),
      );
      const config = loadConfig({
        DATABASE_URL: 'postgres://localhost/credits',
        API_KEYS: `svc:consume+read:${SECRET}`,
      });
      expect(config.eventStore).toEqual({
        kind: 'postgres',
        connectionString: 'postgres://localhost/credits',
        poolSize: 10,
      });
      expect(config.apiKeys?.map((key) => [key.name, [...key.scopes]])).toEqual([['svc', ['consume', 'read']]]);
    });

    it('refuses a URL that is not PostgreSQL', () => {
      expect(() => loadConfig({ DATABASE_URL: 'mysql://localhost/credits', API_KEYS: `a:read:${SECRET}` })).toThrow(
        /^DATABASE_URL must be a postgres/,
      );
    });
  });

  describe('with EVENTSTORE_URL', () => {
    const keys = `svc:consume+read:${SECRET}`;

    it.each(['kurrentdb://localhost:2113?tls=false', 'esdb://localhost:2113?tls=false', 'kurrentdb+discover://a:2113'])(
      'puts events in KurrentDB (%s) and the read model in DATABASE_URL',
      (url) => {
        const config = loadConfig({
          EVENTSTORE_URL: url,
          DATABASE_URL: 'postgres://localhost/credits',
          API_KEYS: keys,
        });
        expect(config.eventStore).toEqual({
          kind: 'kurrentdb',
          connectionString: url,
          readModel: { connectionString: 'postgres://localhost/credits', poolSize: 10 },
        });
      },
    );

    it('refuses it without DATABASE_URL: the read model stays in PostgreSQL', () => {
      expect(() => loadConfig({ EVENTSTORE_URL: 'kurrentdb://localhost:2113', API_KEYS: keys })).toThrow(
        new ConfigError(
          'EVENTSTORE_URL',
          'needs DATABASE_URL too: events go to KurrentDB, the read model stays in PostgreSQL',
        ),
      );
    });

    it('refuses a URL that is not a KurrentDB connection string', () => {
      const env = { DATABASE_URL: 'postgres://localhost/credits', API_KEYS: keys };
      expect(() => loadConfig({ ...env, EVENTSTORE_URL: 'http://localhost:2113' })).toThrow(
        /^EVENTSTORE_URL must be a kurrentdb:\/\/ or esdb:\/\//,
      );
      expect(() => loadConfig({ ...env, EVENTSTORE_URL: 'not a url' })).toThrow(/^EVENTSTORE_URL is invalid/);
    });
  });

  it('refuses a webhook lease shorter than two requests’ timeout: it could lapse mid-round', () => {
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: '60000' })).toThrow(
      'WEBHOOK_LEASE_MS must be at least twice WEBHOOK_TIMEOUT_MS (120000)',
    );
    expect(
      loadConfig({ WEBHOOK_TIMEOUT_MS: '60000', WEBHOOK_LEASE_MS: '120000' }).projector.webhookDispatch,
    ).toMatchObject({ timeoutMs: 60_000, leaseMs: 120_000 });
    expect(() => loadConfig({ OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS: 'yes' })).toThrow(
      'OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS must be true or false',
    );
  });

  describe('a bad value stops start-up with a message naming the variable', () => {
    it.each([
      ['PORT', 'abc'],
      ['PORT', '70000'],
      ['COMMAND_RETRIES_MAX', '-1'],
      ['DATABASE_POOL_SIZE', '1'],
      ['LOG_LEVEL', 'loud'],
      ['PRICE_LIST_FILE', '/nonexistent/price-list.json'],
      ['STRIPE_CATALOG_FILE', '/nonexistent/stripe-catalog.json'],
      ['STRIPE_WEBHOOK_SECRET', 'sk_test_not_a_webhook_secret'],
      ['STRIPE_WEBHOOK_SECRET', 'whsec_abcdefgh12345678,'],
      ['REFUND_SHORTFALL', 'forgive'],
      ['STRIPE_API_KEY', 'pk_test_publishable0000'],
      ['STRIPE_API_BASE', 'ftp://stripe.local'],
    ])('%s=%s', (variable, value) => {
      const env = { [variable]: value, DATABASE_URL: variable === 'DATABASE_POOL_SIZE' ? 'postgres://h/d' : undefined };
      expect(() => loadConfig({ ...env, API_KEYS: `a:read:${SECRET}` })).toThrow(
        expect.objectContaining({ name: 'ConfigError', variable }),
      );
    });

    it('PRICE_LIST_FILE with an invalid price', () => {
      const file = join(mkdtempSync(join(tmpdir(), 'prices-')), 'prices.json');
      writeFileSync(file, JSON.stringify({ face_swap: { credits: 0 } }));
      expect(() => loadConfig({ PRICE_LIST_FILE: file })).toThrow(/^PRICE_LIST_FILE is invalid: .*face_swap/);
    });
  });

  describe('STRIPE_WEBHOOK_SECRET', () => {
    it('reads several secrets separated by commas, for a rotation', () => {
      const config = loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_new0000000000000, whsec_old0000000000000' });
      expect(config.stripe.webhookSecrets).toEqual(['whsec_new0000000000000', 'whsec_old0000000000000']);
    });

    it('accepts whsec_ and 8 characters or more: the health check applies the same rule', () => {
      expect(loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_12345678' }).stripe.webhookSecrets).toEqual(['whsec_12345678']);
      expect(() => loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_1234567' })).toThrow(ConfigError);
      expect(['whsec_12345678', 'whsec_1234567', 'sk_test_12345678'].map(isStripeWebhookSecret)).toEqual([
        true,
        false,
        false,
      ]);
    });

    it('refuses a value that is not whsec_ secrets without echoing it', () => {
      expect(() => loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_short' })).toThrow(
        /^STRIPE_WEBHOOK_SECRET is invalid: expected whsec_\.\.\. secrets/,
      );
      expect(() => loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_short' })).not.toThrow(/whsec_short/);
    });
  });

  describe('API_KEYS', () => {
    it('reads several keys with scopes joined by +', () => {
      const config = loadConfig({ API_KEYS: `backend:consume+read:${SECRET}, ops:admin:${SECRET}x` });
      expect(config.apiKeys?.map((key) => key.name)).toEqual(['backend', 'ops']);
      expect(config.apiKeys?.[1].secret).toBe(`${SECRET}x`);
    });

    it.each([
      ['an unknown scope', `backend:spend:${SECRET}`, 'unknown scope "spend"'],
      ['a short secret', 'backend:read:short', 'shorter than 16'],
      ['a missing part', 'backend:read', 'not name:scopes:secret'],
      ['a name used twice', `a:read:${SECRET},a:grant:${SECRET}x`, 'names the same key twice'],
      ['a secret used twice', `a:read:${SECRET},b:admin:${SECRET}`, 'gives two keys the same secret'],
    ])('refuses %s without echoing any secret', (_, value, reason) => {
      let message = '';
      try {
        loadConfig({ API_KEYS: value });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain('API_KEYS is invalid');
      expect(message).toContain(reason);
      expect(message).not.toContain(SECRET);
    });
  });
});
