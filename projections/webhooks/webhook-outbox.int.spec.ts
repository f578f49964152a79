import { randomUUID } from 'node:crypto';
import {
  type RequestTopUp,
  creditsStreamId,
  topUpOutcomeIdempotencyKey,
  topUpRequestIdempotencyKey,
} from '@libs/credits';
import { T0, bonus, consume, openDisputeOf, recharge, refundOf } from '../../libs/credits/src/testing/grant-commands';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';
import { CHECKPOINTS_TABLE } from '../runtime/checkpoints';
import { UserStream, as } from '../testing/grants-vs-fold';
import { createWebhookEndpoint, updateWebhookEndpoint } from './webhook-endpoints.repository';
import { WEBHOOK_OUTBOX, webhookOutboxOf } from './webhook-outbox.projection';
import { WEBHOOK_DELIVERIES_TABLE } from './webhooks.tables';
import { setAutoTopUpSettings } from '../top-ups/auto-top-up-settings.repository';
import { TOP_UP_CROSSINGS_TABLE } from '../top-ups/top-ups.tables';

/**
 * The outbox queues each event, and each alert, once per subscribed endpoint: in any batch size, when its
 * checkpoint moves back over a batch already queued (a crash after the commit is the same), and only for
 * endpoints enabled when the event is applied.
 */
describe.each(storeKindsUnderTest())('the webhook outbox on %s', (kind) => {
  let db: ReadModelDatabase;
  const outbox = webhookOutboxOf({ lowBalanceBelowDefault: 50 });

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  async function queued(): Promise<Array<{ endpoint: string; type: string; user: string; version: number }>> {
    return db.driver.query(
      `select endpoint_id::text as endpoint, event_type as type, user_id as "user", stream_version as version
       from ${WEBHOOK_DELIVERIES_TABLE} order by stream_version, event_order, endpoint_id`,
    );
  }

  it.each([1, 2, 1000])(
    'queues every event and alert once per endpoint, replayed or not: batch size %i',
    async (batchSize) => {
      const all = await createWebhookEndpoint(db.driver, {
        url: 'https://example.com/a',
        events: ['recharge.completed', 'credits.low', 'credits.depleted'],
      });
      const lows = await createWebhookEndpoint(db.driver, { url: 'https://example.com/b', events: ['credits.low'] });
      const paused = await createWebhookEndpoint(db.driver, { url: 'https://example.com/c', events: ['credits.low'] });
      await updateWebhookEndpoint(db.driver, paused.endpoint.id, { status: 'paused' });
      const user = new UserStream(db, `outbox-${randomUUID()}`);
      await user.record(as(user.userId, recharge(`${user.userId}-pack`, 100)));
      await user.record(as(user.userId, consume('job-1', 60)));
      await user.record(as(user.userId, consume('job-2', 40)));

      await catchUp(db.driver, db.store, outbox, { batchSize });
      // Within one event, endpoints are listed in the order of their ids.
      const [first, second] = [all.endpoint.id, lows.endpoint.id].sort();
      const expected = [
        { endpoint: all.endpoint.id, type: 'recharge.completed', user: user.userId, version: 1 },
        { endpoint: first, type: 'credits.low', user: user.userId, version: 2 },
        { endpoint: second, type: 'credits.low', user: user.userId, version: 2 },
        { endpoint: all.endpoint.id, type: 'credits.depleted', user: user.userId, version: 3 },
      ];
      expect(await queued()).toEqual(expected);

      await db.driver.query(`update ${CHECKPOINTS_TABLE} set global_position = null where projection = $1`, [
        WEBHOOK_OUTBOX,
      ]);
      await catchUp(db.driver, db.store, outbox, { batchSize });
      expect(await queued()).toEqual(expected);
    },
  );

  it('gives an endpoint registered later only what is recorded after it', async () => {
    const user = new UserStream(db, `outbox-${randomUUID()}`);
    await user.record(as(user.userId, recharge(`${user.userId}-first`, 100)));
    await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
    const later = await createWebhookEndpoint(db.driver, {
      url: 'https://example.com/a',
      events: ['recharge.completed'],
    });
    await user.record(as(user.userId, recharge(`${user.userId}-second`, 100)));
    await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
    expect(await queued()).toEqual([
      { endpoint: later.endpoint.id, type: 'recharge.completed', user: user.userId, version: 2 },
    ]);
  });

  describe('automatic top-up’s crossings', () => {
    const settings = { enabled: true, belowCredits: 50, packId: 'credits_100', maxPerMonth: 3 };

    it('queues each crossing once, replayed or not, and none for a refund or a dispute', async () => {
      const user = new UserStream(db, `topup-${randomUUID()}`);
      const rechargeId = `${user.userId}-pack`;
      await setAutoTopUpSettings(db.driver, user.userId, settings);
      await user.record(as(user.userId, recharge(rechargeId, 100)));
      await user.record(as(user.userId, consume('job-1', 40))); // 60
      await user.record(as(user.userId, consume('job-2', 20))); // 40: a crossing
      await user.record(as(user.userId, consume('job-3', 10))); // 30: still below
      await user.record(as(user.userId, bonus('back', 70))); // 100
      await user.record(as(user.userId, refundOf(rechargeId, 600, T0, 'debt'))); // 40: a refund, no crossing
      await user.record(as(user.userId, bonus('again', 20))); // 60
      await user.record(as(user.userId, openDisputeOf(rechargeId, 'dp_1', T0))); // frozen: no crossing

      for (const batchSize of [1, 1000]) {
        await db.driver.query(`update ${CHECKPOINTS_TABLE} set global_position = null where projection = $1`, [
          WEBHOOK_OUTBOX,
        ]);
        await catchUp(db.driver, db.store, outbox, { batchSize });
        expect(await crossingEvents(user.userId)).toEqual([{ version: 3, spendable: 40 }]);
      }
    });

    it('takes a save of the settings as a crossing at the next event that leaves the user below', async () => {
      const user = new UserStream(db, `topup-${randomUUID()}`);
      await user.record(as(user.userId, bonus('start', 30)));
      await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
      await setAutoTopUpSettings(db.driver, user.userId, settings); // saved while below 50
      await user.record(as(user.userId, consume('job-1', 1))); // 29: a crossing
      await user.record(as(user.userId, consume('job-2', 1))); // 28: the save was acted on
      await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
      await setAutoTopUpSettings(db.driver, user.userId, { ...settings, maxPerMonth: 4 });
      await user.record(as(user.userId, consume('job-3', 1))); // 27: a crossing again, for the new save
      await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
      expect(await crossingEvents(user.userId)).toEqual([
        { version: 2, spendable: 29 },
        { version: 4, spendable: 27 },
      ]);
    });

    it('keeps a save armed through the top-ups’ own events, which make no crossing', async () => {
      const user = new UserStream(db, `topup-${randomUUID()}`);
      await user.record(as(user.userId, bonus('start', 60)));
      await setAutoTopUpSettings(db.driver, user.userId, settings);
      await user.record(as(user.userId, consume('job-1', 20))); // 40: a crossing; the save is acted on
      await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
      const crossingEventId = user.state.outcomes.get('job-1')!.eventId;
      const request = topUpRequestOf(user.userId, crossingEventId);
      await user.record(request);
      // A new card saved while the top-up is pending, before the outbox sees its request.
      await setAutoTopUpSettings(db.driver, user.userId, { ...settings, maxPerMonth: 5 });
      const topUpId = user.state.outcomes.get(request.metadata.idempotencyKey)!.eventId;
      await user.record({
        type: 'RecordTopUpOutcome',
        data: { userId: user.userId, topUpId, outcome: { kind: 'failed', reason: 'card_declined', message: 'no' } },
        metadata: { idempotencyKey: topUpOutcomeIdempotencyKey(topUpId), now: T0 },
      });
      await user.record(as(user.userId, consume('job-2', 1))); // 39: the save's crossing
      await catchUp(db.driver, db.store, outbox, { batchSize: 100 });
      expect(await crossingEvents(user.userId)).toEqual([
        { version: 2, spendable: 40 },
        { version: 5, spendable: 39 },
      ]);
    });

    /** The crossings queued for the user: the version of the event that crossed, and what it left. */
    async function crossingEvents(userId: string): Promise<Array<{ version: number; spendable: number }>> {
      const rows = await db.driver.query<{ crossing_event_id: string; spendable_credits: string }>(
        `select crossing_event_id::text as crossing_event_id, spendable_credits::text as spendable_credits
         from ${TOP_UP_CROSSINGS_TABLE} where user_id = $1 order by global_position`,
        [userId],
      );
      const versions = new Map<string, number>();
      for await (const stored of db.store.readStream(creditsStreamId(userId)))
        versions.set(stored.id, stored.streamVersion);
      return rows.map((row) => ({
        version: versions.get(row.crossing_event_id)!,
        spendable: Number(row.spendable_credits),
      }));
    }
  });
});

function topUpRequestOf(userId: string, crossingEventId: string): RequestTopUp {
  return {
    type: 'RequestTopUp',
    data: {
      userId,
      crossingEventId,
      belowCredits: 50,
      packId: 'credits_100',
      credits: 100,
      amount: 1000,
      currency: 'usd',
      customerId: 'cus_1',
      paymentMethodId: 'pm_1',
      maxPerMonth: 3,
    },
    metadata: { idempotencyKey: topUpRequestIdempotencyKey(crossingEventId), now: T0 },
  };
}
