import { randomUUID } from 'node:crypto';
import {
  DAY,
  T0,
  bonus,
  openDisputeOf,
  plus,
  recharge,
  refundOf,
  voidGrant,
} from '../../libs/credits/src/testing/grant-commands';
import {
  captureOf,
  expireHoldOf,
  holdIdOf,
  placeHoldOf,
  releaseOf,
} from '../../libs/credits/src/testing/hold-commands';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { UserStream, as, expectGrantsMatchFold, projectGrantsInto } from '../testing/grants-vs-fold';

/**
 * The grants read model with holds: held credits per grant, captures from grants that expired or were voided
 * since, releases that lapse there, a refund that takes only unheld credits. Rows must equal the fold at every
 * batch size (a hold's end names grants the projection may not have loaded: nothing left but what is held).
 */
const HOUR = 3_600_000;
const E = plus(T0, 2 * DAY);

describe.each(storeKindsUnderTest())('the grants read model with holds equals the fold on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  it.each([1, 2, 1000])(
    'holds captured, released and expired across voids, refunds and expiries: batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `holds-${randomUUID()}`);
      const hold = (key: string, amount: number, at: string, expiresIn: string) =>
        as(user.userId, placeHoldOf(key, amount, at, expiresIn));
      const idOf = (key: string, amount: number, at: string, expiresIn: string) =>
        holdIdOf(hold(key, amount, at, expiresIn));
      const welcome = bonus('welcome', 40);
      await user.record(recharge(`${user.userId}-pack`, 100, T0, E));
      await user.record(welcome);
      const welcomeGrant = [...user.state.grants.byId.values()].find((grant) => grant.granted === 40)!.grantId;

      const h1 = ['job-1', 60, T0, 'PT2H'] as const;
      const h2 = ['job-2', 30, T0, 'P3D'] as const;
      const h3 = ['job-3', 20, plus(T0, HOUR), 'PT1H'] as const;
      await user.record(hold(...h1));
      await user.record(hold(...h2));
      await user.record(as(user.userId, captureOf(idOf(...h1), plus(T0, HOUR), 25)));
      await user.record(hold(...h3));
      // Nothing of the bonus is left unheld: the void takes nothing, and what the hold hands back is voided.
      await user.record(as(user.userId, voidGrant(welcomeGrant, plus(T0, 1.5 * HOUR))));
      await user.record(as(user.userId, expireHoldOf(idOf(...h3), plus(T0, 3 * HOUR))));
      await user.record(refundOf(`${user.userId}-pack`, 300, plus(T0, 4 * HOUR), 'debt'));
      // The pack holds credits for h2 past its expiry: it expires when h2 ends, in the same event.
      await user.record(as(user.userId, releaseOf(idOf(...h2), plus(E, HOUR))));

      expect(user.state.grants.byId.get(welcomeGrant)).toMatchObject({ status: 'voided', held: 0, spent: 25 });
      expect(user.state.grants.byId.get(user.grantOf('pack'))).toMatchObject({ status: 'expired', held: 0 });
      expect(user.state.grants.held).toBe(0);
      const names = await projectGrantsInto(db, `holds_b${batchSize}`, batchSize);
      await expectGrantsMatchFold(db, names, user.userId);
    },
  );

  it.each([1, 1000])(
    'a hold still active when the read model is built keeps its credits held: batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `holding-${randomUUID()}`);
      await user.record(recharge(`${user.userId}-pack`, 10, T0));
      await user.record(as(user.userId, placeHoldOf('job-1', 10, T0, 'PT1H')));
      const names = await projectGrantsInto(db, `holding_b${batchSize}`, batchSize);
      await expectGrantsMatchFold(db, names, user.userId);
      const [row] = await db.driver.query<{ held: string; remaining: string }>(
        `select held::text as held, remaining::text as remaining from ${names.grants} where user_id = $1`,
        [user.userId],
      );
      expect(row).toEqual({ held: '10', remaining: '0' });
    },
  );

  it.each([1, 1000])(
    'a hold ending into a debt and into an open dispute (paid, then frozen at once): batch size %i',
    async (batchSize) => {
      const user = new UserStream(db, `holds-debt-${randomUUID()}`);
      await user.record(recharge(`${user.userId}-a`, 100, T0));
      await user.record(recharge(`${user.userId}-b`, 100, T0));
      const first = as(user.userId, placeHoldOf('job-1', 150, T0, 'PT2H'));
      await user.record(first);
      // A full refund of a takes its 0 unheld credits and 50 of b's: 50 owed while 150 are held.
      await user.record(refundOf(`${user.userId}-a`, 1000, plus(T0, HOUR), 'debt'));
      await user.record(openDisputeOf(`${user.userId}-b`, 'dp-1', plus(T0, 1.5 * HOUR)));
      await user.record(as(user.userId, releaseOf(holdIdOf(first), plus(T0, 1.75 * HOUR))));
      expect(user.state.grants.debt).toBe(0);
      expect(user.state.frozenCredits).toBeGreaterThan(0);
      const names = await projectGrantsInto(db, `holds_debt_b${batchSize}`, batchSize);
      await expectGrantsMatchFold(db, names, user.userId);
    },
  );
});
