import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStoreLocation } from '@libs/event-store';
import { Client } from 'pg';

/** A fresh PostgreSQL database on the DATABASE_URL server, or a PGlite directory when none is set. */
export async function temporaryDatabase(
  name: string,
): Promise<{ location: EventStoreLocation; drop(): Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    console.error('DATABASE_URL unset: measuring on PGlite');
    const dataDir = mkdtempSync(join(tmpdir(), `credits-bench-${name}-`));
    return {
      location: { kind: 'pglite', dataDir },
      drop: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const database = `credits_bench_${name}_${process.pid}`;
  await admin(serverUrl, `create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return {
    location: { kind: 'postgres', connectionString: url.toString(), poolSize: 10 },
    drop: () => admin(serverUrl, `drop database ${database} with (force)`),
  };
}

/** Runs one statement on the server's maintenance database (create or drop a database). */
export async function admin(serverUrl: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
