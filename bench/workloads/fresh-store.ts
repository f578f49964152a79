import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventStore, type EventStoreLocation, openEventStore } from '@libs/event-store';
import { admin } from '../temporary-database';

/** The peers' server when DATABASE_URL is unset: trust auth on loopback. */
export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export type FreshStore = { store: EventStore; location: EventStoreLocation; closeAndDrop(): Promise<void> };

/**
 * An empty store with its migrations applied, made for one run and removed
 * after it: a PostgreSQL database on the DATABASE_URL server, or a PGlite
 * directory under the system's temporary directory.
 */
export async function openFreshStore(kind: 'postgres' | 'pglite', name: string, poolSize: number): Promise<FreshStore> {
  return kind === 'pglite' ? freshPglite(name) : freshPostgres(name, poolSize);
}

async function freshPglite(name: string): Promise<FreshStore> {
  const dataDir = mkdtempSync(join(tmpdir(), `credits-bench-${name}-`));
  const location: EventStoreLocation = { kind: 'pglite', dataDir };
  const store = await openEventStore(location);
  const closeAndDrop = async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { store, location, closeAndDrop };
}

async function freshPostgres(name: string, poolSize: number): Promise<FreshStore> {
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_SERVER_URL;
  const database = `credits_bench_${name}_${process.pid}`;
  await admin(serverUrl, `drop database if exists ${database} with (force)`);
  await admin(serverUrl, `create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  const location: EventStoreLocation = { kind: 'postgres', connectionString: url.toString(), poolSize };
  const store = await openEventStore(location);
  const closeAndDrop = async () => {
    await store.close();
    await admin(serverUrl, `drop database ${database} with (force)`);
  };
  return { store, location, closeAndDrop };
}
