import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStoreLocation } from '@libs/event-store';
import { temporaryDatabase } from './temporary-database';

/** Percentiles of latencies in milliseconds, to 0.01 ms. */
export function latencyPercentiles(valuesMs: readonly number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...valuesMs].sort((a, b) => a - b);
  const at = (quantile: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))]);
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(sorted[sorted.length - 1]) };
}

function round(value: number | undefined): number {
  return value === undefined ? Number.NaN : Math.round(value * 100) / 100;
}

/** A store to measure on; `location()` gives a fresh PGlite directory per call (one process opens each). */
export type BenchStore = { name: string; location: () => EventStoreLocation; cleanUp(): Promise<void> };

/** PGlite on disk always; PostgreSQL too when DATABASE_URL is set (a database made for the run). */
export async function benchStores(benchName: string): Promise<BenchStore[]> {
  const dataDir = mkdtempSync(join(tmpdir(), `credits-bench-${benchName}-`));
  let runs = 0;
  const stores: BenchStore[] = [
    {
      name: 'pglite (disk)',
      location: () => ({ kind: 'pglite', dataDir: join(dataDir, `run-${runs++}`) }),
      cleanUp: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    },
  ];
  if (process.env.DATABASE_URL) {
    const database = await temporaryDatabase(benchName);
    stores.push({ name: 'postgresql', location: () => database.location, cleanUp: () => database.drop() });
  } else {
    console.log('DATABASE_URL unset: PostgreSQL not measured');
  }
  return stores;
}
