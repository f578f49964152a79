import type { SqlMigration } from '@libs/event-store';
import { balanceProjection } from './balance/balance.projection';
import { ledgerProjection } from './ledger/ledger.projection';
import { rechargesProjection } from './recharges/recharges.projection';
import { createCheckpointsTable } from './runtime/checkpoints';
import type { Projection } from './runtime/projection';

/** Every projection of the read model, by name. */
export const PROJECTIONS: readonly Projection[] = [balanceProjection, ledgerProjection, rechargesProjection];

export function projectionNamed(name: string): Projection {
  const projection = PROJECTIONS.find((candidate) => candidate.name === name);
  if (projection === undefined) {
    throw new Error(`no projection named "${name}" (known: ${PROJECTIONS.map((p) => p.name).join(', ')})`);
  }
  return projection;
}

/** The read model's tables, created after the event store's (same database, same migration record). */
export const READ_MODEL_MIGRATIONS: readonly SqlMigration[] = [
  {
    name: 'read-model-0001-projections',
    up: [createCheckpointsTable, ...PROJECTIONS.map((projection) => projection.createTables(projection.tables))].join(
      '\n',
    ),
  },
];
