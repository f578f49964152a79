import { randomUUID } from 'node:crypto';
import type { CompleteRecharge } from '@libs/credits';
import {
  DAY,
  T0,
  bonus,
  consume,
  expire,
  failureOf,
  plus,
  recharge,
  refundOf,
} from '../../libs/credits/src/testing/grant-commands';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { UserStream, expectGrantsMatchFold, projectGrantsInto } from '../testing/grants-vs-fold';

/**
 * Review of the grants read model with carry-overs and debt returns: rows, debt and disputes must equal the
 * domain's fold at every batch size (the projection loads only grants holding credits, recharges' grants and
 * the grants the batch's events name).
 */
const HOUR = 3_600_000;
const E = plus(T0, 30 * DAY);
const NEXT = plus(E, 31 * DAY);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

const withRollover = (command: CompleteRecharge, creditsMax?: number): CompleteRecharge => ({
  ...command,
  data: { ...command.data, rollover: { ...(creditsMax === undefined ? {} : { creditsMax }), expiresAt: NEXT } },
});

describe.each(storeKindsUnderTest())('the grants read model with carry-overs equals the fold on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  it.each([1, 2, 1000])(
    'a capped carry-over paying debt, a refund of the period after it, both failing: at batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `rollover-${randomUUID()}`);
      const packRefundAt = plus(E, HOUR);
      await user.record(withRollover(recharge(`${user.userId}-period`, 100, T0, E), 60));
      await user.record(recharge(`${user.userId}-pack`, 50, T0, plus(E, -DAY)));
      await user.record(consume('job-1', 60, plus(T0, HOUR)));
      // Past the period's end, before the process: pack's refund cannot take the period's credits: debt.
      await user.record(refundOf(`${user.userId}-pack`, 500, packRefundAt, 'debt'));
      await user.record(expire(user.grantOf('period'), plus(E, 2 * HOUR)));
      const periodRefundAt = plus(E, DAY);
      await user.record(refundOf(`${user.userId}-period`, 300, periodRefundAt, 'writeoff'));
      await user.record(
        failureOf(
          `${user.userId}-pack`,
          're-pack',
          500,
          { createdAt: seconds(packRefundAt), failedAt: seconds(plus(E, 2 * DAY)) },
          plus(E, 2 * DAY),
        ),
      );
      await user.record(
        failureOf(
          `${user.userId}-period`,
          're-period',
          300,
          { createdAt: seconds(periodRefundAt), failedAt: seconds(plus(E, 3 * DAY)) },
          plus(E, 3 * DAY),
        ),
      );
      const carried = user.state.grants.byId.get(user.grantOf('period'))!.rolledInto!;
      // The carried grant expires with what it holds; it never carries again.
      await user.record(expire(carried, NEXT));
      expect(user.state.grants.byId.get(carried)).toMatchObject({ status: 'expired', rollover: undefined });
      const names = await projectGrantsInto(db, `rollover_b${batchSize}`, batchSize);
      await expectGrantsMatchFold(db, names, user.userId);
    },
  );

  it.each([1, 1000])(
    'a debt payment undone on a grant spent to nothing since (a bonus with nothing left, loaded as named): at batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `undone-${randomUUID()}`);
      const refundAt = plus(T0, 2 * HOUR);
      await user.record(recharge(`${user.userId}-pack`, 50, T0));
      await user.record(consume('job-1', 50, plus(T0, HOUR)));
      await user.record(refundOf(`${user.userId}-pack`, 500, refundAt, 'debt'));
      await user.record(bonus('next', 80, {}, plus(T0, 3 * HOUR)));
      await user.record(consume('job-2', 30, plus(T0, 4 * HOUR)));
      await user.record(
        failureOf(
          `${user.userId}-pack`,
          're-1',
          500,
          { createdAt: seconds(refundAt), failedAt: seconds(plus(T0, DAY)) },
          plus(T0, DAY),
        ),
      );
      const payer = [...user.state.grants.byId.values()].find((grant) => grant.granted === 80)!;
      expect(payer).toMatchObject({ rechargeId: undefined, debtPaid: 0, spent: 30, remaining: 50 });
      const names = await projectGrantsInto(db, `undone_b${batchSize}`, batchSize);
      await expectGrantsMatchFold(db, names, user.userId);
    },
  );
});
