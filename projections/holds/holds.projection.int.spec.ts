import { randomUUID } from 'node:crypto';
import { T0, plus, recharge } from '../../libs/credits/src/testing/grant-commands';
import {
  captureOf,
  expireHoldOf,
  holdIdOf,
  placeHoldOf,
  releaseOf,
} from '../../libs/credits/src/testing/hold-commands';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';
import { UserStream, as } from '../testing/grants-vs-fold';
import { HOLD_COLUMNS_SELECTED, type HoldRecord, holdsProjection, toHoldRow } from './holds.projection';
import { holdViewOf } from './holds.queries';

const MINUTE = 60_000;

describe.each(storeKindsUnderTest())('the holds read model on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  it.each([1, 3, 1000])(
    'holds each hold as the fold does, placed and ended in any batch: batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `holds-rm-${randomUUID()}`);
      const place = (key: string, amount: number) => as(user.userId, placeHoldOf(key, amount, T0, 'PT10M'));
      await user.record(recharge(`${user.userId}-pack`, 100, T0));
      for (const [key, amount] of [
        ['job-1', 10],
        ['job-2', 20],
        ['job-3', 30],
        ['job-4', 5],
      ] as const) {
        await user.record(place(key, amount));
      }
      await user.record(as(user.userId, captureOf(holdIdOf(place('job-1', 10)), plus(T0, MINUTE), 7)));
      await user.record(as(user.userId, releaseOf(holdIdOf(place('job-2', 20)), plus(T0, MINUTE))));
      await user.record(as(user.userId, expireHoldOf(holdIdOf(place('job-3', 30)), plus(T0, 10 * MINUTE))));

      const names = { holds: `holds_b${batchSize}`, hold_streams: `hold_streams_b${batchSize}` };
      await db.driver.exec(holdsProjection.createTables(names));
      await catchUp(db.driver, db.store, holdsProjection, { batchSize, tables: names, checkpointName: names.holds });
      const records = await db.driver.query<HoldRecord>(
        `select ${HOLD_COLUMNS_SELECTED} from ${names.holds} where user_id = $1 order by sequence`,
        [user.userId],
      );
      const rows = records.map(toHoldRow);
      expect(
        rows.map(({ holdId, amount, capturedAmount, status, expiresAt, drawnFrom }) => ({
          holdId,
          amount,
          capturedAmount,
          status,
          expiresAt,
          drawnFrom,
        })),
      ).toEqual(
        [...user.state.holds.values()]
          .sort((a, b) => a.sequence - b.sequence)
          .map(({ holdId, amount, capturedAmount, status, expiresAt, drawnFrom }) => ({
            holdId,
            amount,
            capturedAmount,
            status,
            expiresAt,
            drawnFrom,
          })),
      );
      expect(rows.map((row) => row.endedAt === null)).toEqual([false, false, false, true]);
      // Past its expiry, the hold still active in the read model reads as expired.
      expect(holdViewOf(rows[3], new Date(plus(T0, 10 * MINUTE))).state).toBe('expired');
      expect(holdViewOf(rows[3], new Date(plus(T0, 9 * MINUTE))).state).toBe('active');
    },
  );
});
