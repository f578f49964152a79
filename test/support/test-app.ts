import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { type ApiKey, type AppConfig, loadConfig, parseApiKeys } from '@libs/config';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import { PROJECTIONS, READ_MODEL_DB, projectionLag } from '@projections';
import request from 'supertest';
import { createApp } from '../../apps/api/src/create-app';
import { type StoreKind, createTestDatabase, kurrentDbUrlUnderTest } from './test-stores';

/** One key per scope, and an admin key, for the end-to-end suites. */
export const TEST_KEYS = {
  consume: 'consumer-secret-0123456789',
  grant: 'granter-secret-0123456789',
  read: 'reader-secret-0123456789',
  audit: 'auditor-secret-0123456789',
  admin: 'admin-secret-0123456789abc',
} as const;

export const TEST_API_KEYS: ApiKey[] = parseApiKeys(
  Object.entries(TEST_KEYS)
    .map(([scope, secret]) => `${scope}-key:${scope}:${secret}`)
    .join(','),
);

export function bearer(scope: keyof typeof TEST_KEYS): string {
  return `Bearer ${TEST_KEYS[scope]}`;
}

export type TestApp = { app: INestApplication; config: AppConfig; close(): Promise<void> };

/**
 * Waits until every projection has applied every committed event: the read
 * model is updated asynchronously, and a test that checks it after many
 * concurrent commands cannot name one position to wait for.
 */
export async function projectionsCaughtUp(app: INestApplication, timeoutMs = 10_000): Promise<void> {
  const store = app.get<EventStore>(EVENT_STORE);
  const db = app.get<SqlDriver>(READ_MODEL_DB);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lags = await Promise.all(PROJECTIONS.map(({ name }) => projectionLag(db, store, name)));
    if (lags.every((lag) => lag.lagEvents === 0)) return;
    if (Date.now() > deadline) throw new Error(`projections still behind: ${JSON.stringify(lags)}`);
    await sleep(5);
  }
}

/**
 * The real app on a fresh store: an in-memory PGlite, or a new PostgreSQL
 * database. `shareDatabaseOf` starts a second app on the first one's database
 * (two API processes sharing one store). For KurrentDB, see startTestAppOnKurrentDb.
 */
export async function startTestApp(
  kind: StoreKind,
  options: { shareDatabaseOf?: TestApp; config?: Partial<AppConfig> } = {},
): Promise<TestApp> {
  const shared = options.shareDatabaseOf?.config.eventStore;
  const database = kind === 'postgres' && shared === undefined ? await createTestDatabase() : undefined;
  const config: AppConfig = {
    // The expiry process and the webhook dispatcher are off: a test of grants past their expiry sees them
    // before it runs. Tests of either turn it on.
    ...loadConfig({ LOG_LEVEL: 'silent', GRANT_EXPIRY_INTERVAL_MS: '0', WEBHOOK_DISPATCH_POLL_MS: '0' }),
    ...options.config,
    eventStore:
      shared ??
      (database
        ? { kind: 'postgres', connectionString: database.url, poolSize: 10 }
        : { kind: 'pglite', dataDir: undefined }),
  };
  const app = await createApp(config, TEST_API_KEYS);
  return {
    app,
    config,
    close: async () => {
      await app.close();
      await database?.drop();
    },
  };
}

/**
 * The real app with its events in KurrentDB and its read model in a new
 * PostgreSQL database: `kurrentDbStore` is the store (over a model of the
 * client where no server runs), or omitted to connect to `EVENTSTORE_URL`.
 */
export async function startTestAppOnKurrentDb(
  options: { kurrentDbStore?: EventStore; config?: Partial<AppConfig> } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const config: AppConfig = {
    ...loadConfig({ LOG_LEVEL: 'silent' }),
    ...options.config,
    eventStore: {
      kind: 'kurrentdb',
      connectionString: options.kurrentDbStore === undefined ? kurrentDbUrlUnderTest() : 'kurrentdb://model.invalid',
      readModel: { connectionString: database.url, poolSize: 10 },
    },
  };
  try {
    const app = await createApp(config, TEST_API_KEYS, { kurrentDbStore: options.kurrentDbStore });
    return {
      app,
      config,
      close: async () => {
        await app.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/** Grants `amount` credits over HTTP, as a product backend does (a key of its own: one grant per call). */
export async function grantBonus(testApp: TestApp, userId: string, amount: number): Promise<void> {
  await request(testApp.app.getHttpServer())
    .post(`/v1/users/${userId}/bonuses`)
    .set('Authorization', bearer('grant'))
    .set('Idempotency-Key', `bonus-${randomUUID()}`)
    .send({ amount, reason: 'welcome' })
    .expect(201);
}
