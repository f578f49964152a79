import { randomUUID } from 'node:crypto';
import { consume, recharge } from '../../libs/credits/src/testing/grant-commands';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { catchUp } from '../runtime/catch-up';
import { CHECKPOINTS_TABLE } from '../runtime/checkpoints';
import { UserStream, as } from '../testing/grants-vs-fold';
import { createWebhookEndpoint, updateWebhookEndpoint } from './webhook-endpoints.repository';
import { WEBHOOK_OUTBOX, webhookOutboxOf } from './webhook-outbox.projection';
import { WEBHOOK_DELIVERIES_TABLE } from './webhooks.tables';

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
});
