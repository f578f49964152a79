import { EVENT_STORE_MIGRATIONS, PgliteDriver, SqlEventStore, migrate } from '@libs/event-store';
import { RechargeClaims } from './recharge-claims';

const RECHARGE_ID = 'pi_claimed';
const NOW = '2026-11-28T00:00:00.000Z';

describe('recharge claims on a store that refuses event ids of other streams (PGlite)', () => {
  it('writes no claim: the store refuses the recharge event id in a second user stream itself', async () => {
    const driver = await PgliteDriver.open(undefined);
    await migrate(driver, EVENT_STORE_MIGRATIONS);
    const store = new SqlEventStore(driver);
    try {
      const claims = new RechargeClaims(store);

      expect(await claims.claim(RECHARGE_ID, 'alice', NOW)).toEqual({ kind: 'claimed', userId: 'alice' });
      expect(await claims.claim(RECHARGE_ID, 'bob', NOW)).toEqual({ kind: 'claimed', userId: 'bob' });
      expect(await store.headPosition()).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
