import { randomUUID } from 'node:crypto';
import { grantsProjection, GrantExpiry } from '@projections';
import { expiriesByGrant, foldOf, writeBonus } from '../../test/support/expiring-grants';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';

const SECOND = 1000;

describe.each(storeKindsUnderTest())('the grant expiry process on %s', (kind) => {
  let database: ReadModelDatabase;

  beforeEach(async () => {
    database = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await database?.close();
  });

  const projectGrants = () => catchUp(database.driver, database.store, grantsProjection, { batchSize: 1000 });

  it('expires what is left of every grant due, once, however many passes and processes run', async () => {
    const { store, driver } = database;
    const start = new Date();
    const due = await Promise.all(
      Array.from({ length: 6 }, () =>
        writeBonus(store, `expiring-${randomUUID()}`, { amount: 10, spend: 3, decidedAt: start, expiresIn: 'PT1S' }),
      ),
    );
    const notDue = await writeBonus(store, due[0].userId, { amount: 5, decidedAt: start, expiresIn: 'PT1H' });
    const never = await writeBonus(store, due[1].userId, { amount: 5, decidedAt: start });
    await projectGrants();
    const at = new Date(start.getTime() + 2 * SECOND);

    const passes = await Promise.all([
      new GrantExpiry(store, driver, () => at).runOnce(),
      new GrantExpiry(store, driver, () => at).runOnce(),
    ]);
    const again = await new GrantExpiry(store, driver, () => at).runOnce();

    expect(passes[0].expired + passes[1].expired).toBe(due.length);
    expect(again.expired).toBe(0);
    const expiries = await expiriesByGrant(store);
    expect(new Map(due.map((grant) => [grant.grantId, expiries.get(grant.grantId)]))).toEqual(
      new Map(due.map((grant) => [grant.grantId, 1])),
    );
    expect(expiries.has(notDue.grantId) || expiries.has(never.grantId)).toBe(false);
    const state = await foldOf(store, due[0].userId);
    expect(state.grants.byId.get(due[0].grantId)).toMatchObject({ status: 'expired', expired: 7, remaining: 0 });
    expect(state.balance).toBe(5);
  });

  it('expires nothing before its time: a pass a millisecond early leaves the grant', async () => {
    const { store, driver } = database;
    const grant = await writeBonus(store, `early-${randomUUID()}`, {
      amount: 10,
      decidedAt: new Date(),
      expiresIn: 'PT1S',
    });
    await projectGrants();
    const justBefore = new Date(Date.parse(grant.expiresAt) - 1);

    const early = await new GrantExpiry(store, driver, () => justBefore).runOnce();
    const onTime = await new GrantExpiry(store, driver, () => new Date(grant.expiresAt)).runOnce();

    expect(early).toEqual({ expired: 0, alreadyExpired: 0, refused: 0 });
    expect(onTime.expired).toBe(1);
  });

  it('reports the lag of the oldest grant due, and none once it is expired and projected', async () => {
    const { store, driver } = database;
    const start = new Date();
    await writeBonus(store, `lag-${randomUUID()}`, { amount: 10, decidedAt: start, expiresIn: 'PT1S' });
    await projectGrants();
    const at = new Date(start.getTime() + 61 * SECOND);
    const expiry = new GrantExpiry(store, driver, () => at);

    expect(await expiry.lag()).toEqual({ dueGrants: 1, lagSeconds: 60 });
    await expiry.runOnce();
    await projectGrants();
    expect(await expiry.lag()).toEqual({ dueGrants: 0, lagSeconds: 0 });
  });
});
