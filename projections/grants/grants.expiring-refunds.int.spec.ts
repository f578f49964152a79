import { randomUUID } from 'node:crypto';
import { type CreditsCommand, type CreditsState, creditsStreamId, decide, evolve, initialState } from '@libs/credits';
import type { EventToAppend } from '@libs/event-store';
import { grantsProjection } from '@projections';
import {
  DAY,
  T0,
  bonus,
  consume,
  failureOf,
  plus,
  recharge,
  refundOf,
} from '../../libs/credits/src/testing/grant-commands';
import { foldOf } from '../../test/support/expiring-grants';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Decides each command on the stream's fold and appends its events, as the command handler does. */
async function record(db: ReadModelDatabase, userId: string, commands: CreditsCommand[]): Promise<CreditsState> {
  let state = initialState();
  for (const original of commands) {
    const command = { ...original, data: { ...original.data, userId } } as CreditsCommand;
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type}: ${JSON.stringify(decision)}`);
    const events: EventToAppend[] = [];
    let next = state;
    for (const event of decision.events) {
      const { id, type, schemaVersion, data, metadata } = event;
      events.push({ id, type, schemaVersion, data, metadata });
      next = evolve(next, { ...event, streamVersion: next.version + 1, globalPosition: '' });
    }
    await db.store.appendToStream(creditsStreamId(userId), events, { expectedVersion: state.version });
    state = next;
  }
  return state;
}

/** Appends the last command of `history`, decided on the fold of the ones before it (already appended). */
async function recordMore(db: ReadModelDatabase, userId: string, history: CreditsCommand[]): Promise<void> {
  let state = initialState();
  for (const original of history) {
    const command = { ...original, data: { ...original.data, userId } } as CreditsCommand;
    const decision = decide(command, state);
    if (decision.kind !== 'recorded') throw new Error(`${command.type}: ${JSON.stringify(decision)}`);
    const last = original === history.at(-1);
    if (last) {
      const events = decision.events.map(({ id, type, schemaVersion, data, metadata }) => ({
        id,
        type,
        schemaVersion,
        data,
        metadata,
      }));
      await db.store.appendToStream(creditsStreamId(userId), events, { expectedVersion: state.version });
    }
    state = decision.events.reduce(
      (next, event) => evolve(next, { ...event, streamVersion: next.version + 1, globalPosition: '' }),
      state,
    );
  }
}

describe.each(storeKindsUnderTest())('the grants read model on give-backs to grants emptied since (%s)', (kind) => {
  let db: ReadModelDatabase;
  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });
  afterEach(async () => {
    await db?.close();
  });

  // A refund takes the pack's 40 credits left, then 50 of the reserve bonus (emptying it), and 10 become debt;
  // the refund fails: 50 return to the reserve, a grant with nothing left and no recharge, which the projection
  // does not load (it loads grants with credits left, recharges' grants and grants an event names, and
  // `grantsNamedBy` knows `drawnFrom`, expiries and voids, not `takenFrom` or `givenTo`).
  it.each([1, 1000])(
    'applies a give-back to a bonus the refund emptied, at batch size %i, as the fold does',
    async (batchSize) => {
      const userId = `review-giveback-${randomUUID()}`;
      const names = { grants: `grants_rv${batchSize}`, grant_ledgers: `grant_ledgers_rv${batchSize}` };
      await db.driver.exec(grantsProjection.createTables(names));
      const project = () =>
        catchUp(db.driver, db.store, grantsProjection, {
          batchSize,
          tables: names,
          checkpointName: `grants_rv${batchSize}`,
        });
      // The projector runs while the user's events arrive: the failure is projected in a later batch than the refund.
      const history: CreditsCommand[] = [
        recharge('pack-R', 100),
        bonus('reserve', 50, { priority: 300 }),
        consume('job-1', 60),
        refundOf('pack-R', 1000, plus(T0, DAY), 'debt'),
        failureOf(
          'pack-R',
          're-1',
          1000,
          { createdAt: seconds(plus(T0, DAY)), failedAt: seconds(plus(T0, 2 * DAY)) },
          plus(T0, 2 * DAY),
        ),
      ];
      await record(db, userId, history.slice(0, 4));
      await project();
      await recordMore(db, userId, history);
      await project();

      const folded = await foldOf(db.store, userId);
      const rows = await db.driver.query<{ grant_id: string; remaining: string; taken_back: string }>(
        `select grant_id::text as grant_id, remaining::text as remaining, taken_back::text as taken_back
       from ${names.grants} where user_id = $1 order by sequence`,
        [userId],
      );
      expect(
        rows.map((row) => ({
          grantId: row.grant_id,
          remaining: Number(row.remaining),
          takenBack: Number(row.taken_back),
        })),
      ).toEqual(
        [...folded.grants.byId.values()]
          .sort((a, b) => a.sequence - b.sequence)
          .map(({ grantId, remaining, takenBack }) => ({ grantId, remaining, takenBack })),
      );
    },
  );
});
