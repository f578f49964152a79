import { creditsStreamId } from '@libs/credits';
import type { EventStore } from '@libs/event-store';
import { MetricsRegistry } from '@libs/http';
import { KurrentDbEventStore } from '../../../../../libs/event-store/src/kurrentdb/kurrentdb-event-store';
import { KurrentDbModel } from '../../../../../libs/event-store/src/kurrentdb/testing/kurrentdb-model';
import { CreditsCommandRunner } from '../credits-command.runner';
import { CreditsMetrics } from '../credits-metrics';
import { CompleteRechargeCommand } from './complete-recharge.command';
import { CompleteRechargeHandler } from './complete-recharge.handler';
import { RechargeClaims, rechargeClaimStreamId } from './recharge-claims';

/**
 * One payment credited once in the whole ledger on KurrentDB, which keeps no
 * index of event ids: the recharge id is claimed in a stream of its own
 * before the credit. KurrentDB replaced by an in-memory model of its client
 * calls: no server can run here.
 */
const RECHARGE_ID = 'pi_claimed';
const NOW = '2026-11-28T00:00:00.000Z';

function kurrentDbModelStore(): KurrentDbEventStore {
  return new KurrentDbEventStore(new KurrentDbModel());
}

async function typesIn(store: EventStore, streamId: string): Promise<string[]> {
  const types: string[] = [];
  for await (const event of store.readStream(streamId)) types.push(event.type);
  return types;
}

describe('recharge claims on KurrentDB (an in-memory model of its client calls)', () => {
  let store: KurrentDbEventStore;
  let claims: RechargeClaims;

  beforeEach(() => {
    store = kurrentDbModelStore();
    claims = new RechargeClaims(store);
  });

  afterEach(() => store.close());

  it('model: the first claim of a recharge id wins', async () => {
    expect(await claims.claim(RECHARGE_ID, 'alice', NOW)).toEqual({ kind: 'claimed', userId: 'alice' });
    expect(await typesIn(store, rechargeClaimStreamId(RECHARGE_ID))).toEqual(['RechargeClaimed']);
  });

  it("model: the same user's claim again is acknowledged, nothing written (a retry)", async () => {
    await claims.claim(RECHARGE_ID, 'alice', NOW);

    expect(await claims.claim(RECHARGE_ID, 'alice', '2026-11-28T00:05:00.000Z')).toEqual({
      kind: 'claimed',
      userId: 'alice',
    });
    expect(await typesIn(store, rechargeClaimStreamId(RECHARGE_ID))).toEqual(['RechargeClaimed']);
  });

  it("model: another user's claim is refused, and names the user who holds it", async () => {
    await claims.claim(RECHARGE_ID, 'alice', NOW);

    expect(await claims.claim(RECHARGE_ID, 'bob', NOW)).toEqual({
      kind: 'claimed-by-another-user',
      userId: 'bob',
      claimedByUserId: 'alice',
    });
    expect(await claims.claim(RECHARGE_ID, 'alice', NOW)).toEqual({ kind: 'claimed', userId: 'alice' });
  });

  it('model: claims of other recharge ids are independent, whatever their length', async () => {
    const longId = 'x'.repeat(255);
    await claims.claim(RECHARGE_ID, 'alice', NOW);

    expect(await claims.claim(longId, 'bob', NOW)).toEqual({ kind: 'claimed', userId: 'bob' });
    expect(rechargeClaimStreamId(longId).startsWith('credits-')).toBe(false);
  });

  it('model: of two concurrent claims by two users exactly one wins, and both name the winner', async () => {
    for (let round = 0; round < 20; round++) {
      const rechargeId = `pi_race_${round}`;
      const [alice, bob] = await Promise.all([
        claims.claim(rechargeId, 'alice', NOW),
        new RechargeClaims(store).claim(rechargeId, 'bob', NOW),
      ]);

      const winners = [alice, bob].filter((claim) => claim.kind === 'claimed');
      expect(winners).toHaveLength(1);
      const loser = alice.kind === 'claimed' ? bob : alice;
      expect(loser).toMatchObject({ kind: 'claimed-by-another-user', claimedByUserId: winners[0].userId });
    }
  });

  it('model: concurrent claims by the same user both win', async () => {
    const [first, second] = await Promise.all([
      claims.claim(RECHARGE_ID, 'alice', NOW),
      claims.claim(RECHARGE_ID, 'alice', NOW),
    ]);

    expect([first.kind, second.kind]).toEqual(['claimed', 'claimed']);
  });
});

describe('completing a recharge on KurrentDB (an in-memory model of its client calls)', () => {
  let store: KurrentDbEventStore;
  let claims: RechargeClaims;
  let handler: CompleteRechargeHandler;

  beforeEach(() => {
    store = kurrentDbModelStore();
    claims = new RechargeClaims(store);
    const metrics = new CreditsMetrics(new MetricsRegistry());
    handler = new CompleteRechargeHandler(new CreditsCommandRunner(store, 3, metrics), claims, metrics);
  });

  afterEach(() => store.close());

  const recharge = (userId: string) =>
    handler.execute(new CompleteRechargeCommand(userId, RECHARGE_ID, 500, 999, 'usd', { kind: 'manual' }, {}));

  it('model: credits the first user, and refuses the same recharge for a second user as the SQL stores do', async () => {
    expect(await recharge('alice')).toMatchObject({ kind: 'recorded', userId: 'alice' });

    expect(await recharge('bob')).toEqual({
      kind: 'refused',
      userId: 'bob',
      error: { type: 'recharge-already-recorded', rechargeId: RECHARGE_ID },
    });
    expect(await recharge('alice')).toMatchObject({ kind: 'replayed', userId: 'alice' });
    expect(await typesIn(store, creditsStreamId('alice'))).toEqual(['RechargeCompleted']);
    expect(await typesIn(store, creditsStreamId('bob'))).toEqual([]);
  });

  it('model: credits exactly one of two users completing the same recharge concurrently', async () => {
    const results = await Promise.all([recharge('alice'), recharge('bob')]);

    expect(results.map((result) => result.kind).sort()).toEqual(['recorded', 'refused']);
    const credited = results.find((result) => result.kind === 'recorded')!.userId;
    const refused = results.find((result) => result.kind === 'refused')!;
    expect(refused).toMatchObject({ error: { type: 'recharge-already-recorded', rechargeId: RECHARGE_ID } });
    expect(await typesIn(store, creditsStreamId(credited))).toEqual(['RechargeCompleted']);
  });

  it('model: after a crash between the claim and the credit, a retry for the same user completes it', async () => {
    // What a process that crashed after the claim leaves behind: a claim, no credit.
    await claims.claim(RECHARGE_ID, 'alice', NOW);

    expect(await recharge('bob')).toMatchObject({ kind: 'refused', error: { type: 'recharge-already-recorded' } });
    expect(await recharge('alice')).toMatchObject({ kind: 'recorded', userId: 'alice' });
    expect(await typesIn(store, creditsStreamId('alice'))).toEqual(['RechargeCompleted']);
  });
});
