import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * Which stores the store-dependent suites run on: PGlite always, PostgreSQL
 * when DATABASE_URL names a server. In CI (CI=true) PostgreSQL is required.
 */
export type StoreKind = 'pglite' | 'postgres';

export function storeKindsUnderTest(): StoreKind[] {
  if (process.env.DATABASE_URL) return ['pglite', 'postgres'];
  if (process.env.CI === 'true') {
    throw new Error('CI=true but DATABASE_URL is not set: the PostgreSQL suites must run in CI');
  }
  return ['pglite'];
}

/**
 * `describe` for suites only a PostgreSQL server can run (concurrent sessions,
 * several processes, an outage): skipped only when DATABASE_URL is unset,
 * which CI refuses (see storeKindsUnderTest).
 */
export const describeOnPostgres: jest.Describe = storeKindsUnderTest().includes('postgres') ? describe : describe.skip;

export function postgresUrlUnderTest(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  return url;
}

export type TestDatabase = { url: string; drop(): Promise<void> };

/** A fresh database on the DATABASE_URL server, so suites running in parallel never see each other's events. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = new URL(postgresUrlUnderTest());
  const name = `credits_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdminClient(serverUrl, (client) => client.query(`create database ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withAdminClient(serverUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

async function withAdminClient<T>(serverUrl: URL, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Why the KurrentDB suites did not run, in their name and in the output. */
export const KURRENTDB_SKIP_REASON =
  'skipped: EVENTSTORE_URL is not set; run `docker compose up kurrentdb` and `npm run test:kurrentdb`';

/**
 * `describe` for suites only a KurrentDB server can run. No KurrentDB can run
 * on the CI machines (no container engine), so unlike PostgreSQL its absence
 * skips them everywhere, CI included, named and printed as not run.
 */
export function describeOnKurrentDb(name: string, suite: () => void): void {
  if (process.env.EVENTSTORE_URL) {
    describe(name, suite);
    return;
  }
  // Straight to stderr: Jest drops the console output of a file whose tests are all skipped.
  process.stderr.write(`${name}: did not run (${KURRENTDB_SKIP_REASON})\n`);
  // Skipped, with its reason in its name: no KurrentDB server can run on these machines (no container engine).
  // The same suites run over an in-memory model of the client calls in every `npm test`, which libs/event-store/src/kurrentdb/README.md describes.
  describe.skip(`${name} (${KURRENTDB_SKIP_REASON})`, suite);
}

export function kurrentDbUrlUnderTest(): string {
  const url = process.env.EVENTSTORE_URL;
  if (!url) throw new Error('EVENTSTORE_URL is not set');
  return url;
}
