import { Client } from 'pg';
import { ScratchPostgres } from '../infra/scratch-postgres';

export type SimulationDatabase = {
  /** The cluster of the run's own; absent when none could be made (then `unavailable` says why). */
  postgres: ScratchPostgres | undefined;
  unavailable?: string;
  /** Where the server listens (the proxy, in the simulation, is put in front of it). */
  target: { host: string; port: number };
  database: string;
  /** Drops what was made: the database, and the cluster with it. Never throws. */
  close(): Promise<void>;
};

/**
 * A new database for one run: in a PostgreSQL cluster of the run's own when this machine can make one (so it
 * can be restarted as a fault, and the machine's server is untouched), otherwise on the server DATABASE_URL
 * names (the machine's), with the reason.
 */
export async function openSimulationDatabase(name: string): Promise<SimulationDatabase> {
  const database = `${name}_${Date.now().toString(36)}`;
  let unavailable: string;
  try {
    const postgres = await ScratchPostgres.start();
    await postgres.createDatabase(database);
    const target = { host: '127.0.0.1', port: postgres.port };
    return { postgres, target, database, close: () => postgres.destroy() };
  } catch (error) {
    unavailable = `no PostgreSQL cluster of the run's own: ${(error as Error).message}`;
  }
  const server = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  await onServer(server, `create database ${database}`);
  return {
    postgres: undefined,
    unavailable,
    target: { host: server.hostname, port: Number(server.port || 5432) },
    database,
    close: () => onServer(server, `drop database if exists ${database} with (force)`).catch(() => undefined),
  };
}

async function onServer(server: URL, sql: string): Promise<void> {
  const client = new Client({ connectionString: server.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
