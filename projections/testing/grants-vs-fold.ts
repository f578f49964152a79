import { type CreditsCommand, type CreditsState, creditsStreamId, decide, evolve, initialState } from '@libs/credits';
import type { EventToAppend } from '@libs/event-store';
import { foldOf } from '../../test/support/expiring-grants';
import type { ReadModelDatabase } from '../../test/support/read-model-database';
import { catchUp } from '../runtime/catch-up';
import { grantsProjection } from '../grants/grants.projection';

/**
 * The grants read model against the domain's fold: streams written as the domain decides, the read model built
 * from them at a chosen batch size (the projection loads only the grants a batch needs), rows compared.
 */

/** The command for another user. */
export function as<C extends CreditsCommand>(userId: string, command: C): C {
  return { ...command, data: { ...command.data, userId } };
}

/** One user's stream, written as the domain decides each command at its own time. */
export class UserStream {
  state: CreditsState = initialState();
  constructor(
    readonly db: ReadModelDatabase,
    readonly userId: string,
  ) {}

  async record(command: CreditsCommand): Promise<CreditsState> {
    const decision = decide(as(this.userId, command), this.state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type}: ${JSON.stringify(decision)}`);
    const events: EventToAppend[] = [];
    let state = this.state;
    for (const event of decision.events) {
      const { id, type, schemaVersion, data, metadata } = event;
      events.push({ id, type, schemaVersion, data, metadata });
      state = evolve(state, { ...event, streamVersion: state.version + 1, globalPosition: '' });
    }
    await this.db.store.appendToStream(creditsStreamId(this.userId), events, { expectedVersion: this.state.version });
    this.state = state;
    return state;
  }

  grantOf(rechargeId: string): string {
    return this.state.recharges.get(`${this.userId}-${rechargeId}`)!.grantId;
  }
}

export type GrantsTables = { grants: string; grant_ledgers: string };

/** Builds the grants read model into tables of its own, from the first event, at `batchSize`. */
export async function projectGrantsInto(
  db: ReadModelDatabase,
  suffix: string,
  batchSize: number,
): Promise<GrantsTables> {
  const names = { grants: `grants_${suffix}`, grant_ledgers: `grant_ledgers_${suffix}` };
  await db.driver.exec(grantsProjection.createTables(names));
  await catchUp(db.driver, db.store, grantsProjection, {
    batchSize,
    tables: names,
    checkpointName: `grants_${suffix}`,
  });
  return names;
}

/** The read model's rows, debt and disputes of the user equal the domain's fold of their stream. */
export async function expectGrantsMatchFold(db: ReadModelDatabase, names: GrantsTables, userId: string): Promise<void> {
  const rows = await db.driver.query<Record<string, unknown>>(
    `select grant_id::text as grant_id, granted::text, debt_paid::text, spent::text, expired::text, voided::text,
       taken_back::text, remaining::text, frozen::text, held::text, status, rolled_over::text, rollover,
       source_grant_id::text, rolled_into::text
     from ${names.grants} where user_id = $1 order by sequence`,
    [userId],
  );
  const [ledger] = await db.driver.query<{ debt: string; disputes: unknown }>(
    `select debt::text as debt, disputes from ${names.grant_ledgers} where user_id = $1`,
    [userId],
  );
  const state = await foldOf(db.store, userId);
  const folded = [...state.grants.byId.values()].sort((a, b) => a.sequence - b.sequence);
  expect({
    debt: Number(ledger.debt),
    disputes: ledger.disputes,
    grants: rows.map((row) => ({
      grantId: row.grant_id,
      granted: Number(row.granted),
      debtPaid: Number(row.debt_paid),
      spent: Number(row.spent),
      expired: Number(row.expired),
      voided: Number(row.voided),
      takenBack: Number(row.taken_back),
      remaining: Number(row.remaining),
      frozen: Number(row.frozen),
      held: Number(row.held),
      status: row.status,
      rolledOver: Number(row.rolled_over),
      rollover: row.rollover ?? undefined,
      sourceGrantId: row.source_grant_id ?? undefined,
      rolledInto: row.rolled_into ?? undefined,
    })),
  }).toEqual({
    debt: state.grants.debt,
    disputes: JSON.parse(JSON.stringify([...state.grants.disputes.entries()])),
    grants: folded.map((grant) => ({
      grantId: grant.grantId,
      granted: grant.granted,
      debtPaid: grant.debtPaid,
      spent: grant.spent,
      expired: grant.expired,
      voided: grant.voided,
      takenBack: grant.takenBack,
      remaining: grant.remaining,
      frozen: grant.frozen,
      held: grant.held,
      status: grant.status,
      rolledOver: grant.rolledOver,
      rollover: grant.rollover,
      sourceGrantId: grant.sourceGrantId,
      rolledInto: grant.rolledInto,
    })),
  });
}
