import { randomUUID } from 'node:crypto';
import { creditsStreamId, eventIdFor } from '@libs/credits';
import { DAY, T0, bonus, consume, plus } from '../../libs/credits/src/testing/grant-commands';
import { type ReadModelDatabase, openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { grantsProjection } from '../grants/grants.projection';
import { catchUp } from '../runtime/catch-up';
import { UserStream, as } from '../testing/grants-vs-fold';
import { noticeGrantsExpiring } from './grant-expiring-notices';
import { createWebhookEndpoint } from './webhook-endpoints.repository';
import { WEBHOOK_DELIVERIES_TABLE } from './webhooks.tables';

/**
 * `grant.expiring`, sent by the expiry process ahead of an expiry nothing records yet: once per grant, however
 * many passes and processes, never before the lead time, only for grants with credits left.
 */
describe.each(storeKindsUnderTest())('grant.expiring notices on %s', (kind) => {
  let db: ReadModelDatabase;

  beforeEach(async () => {
    db = await openReadModelDatabase(kind);
  });

  afterEach(async () => {
    await db?.close();
  });

  it('notices each grant with credits left once, within the lead time, for the subscribed endpoints', async () => {
    const subscribed = await createWebhookEndpoint(db.driver, {
      url: 'https://example.com/a',
      events: ['grant.expiring'],
    });
    await createWebhookEndpoint(db.driver, { url: 'https://example.com/b', events: ['grant.expired'] });
    const user = new UserStream(db, `expiring-${randomUUID()}`);
    const soon = bonus('soon', 10, { expiresAt: plus(T0, DAY / 2), priority: 5 });
    const later = bonus('later', 10, { expiresAt: plus(T0, 5 * DAY), priority: 6 });
    const spent = bonus('spent', 3, { expiresAt: plus(T0, DAY / 4), priority: 1 });
    const never = bonus('never', 10);
    for (const command of [soon, later, spent, never, consume('job', 3, T0)]) {
      await user.record(as(user.userId, command));
    }
    await catchUp(db.driver, db.store, grantsProjection, { batchSize: 100 });
    const grantIdOf = (command: typeof soon) =>
      eventIdFor(creditsStreamId(user.userId), command.metadata.idempotencyKey);

    const notices = async () =>
      db.driver.query<{ endpoint: string; grant: string; data: Record<string, unknown>; position: string | null }>(
        `select endpoint_id::text as endpoint, ledger_event_id::text as grant, data, global_position::text as position
         from ${WEBHOOK_DELIVERIES_TABLE} where event_type = 'grant.expiring' order by sequence`,
      );
    const at = (milliseconds: number) => new Date(Date.parse(T0) + milliseconds);
    const LEAD_SECONDS = DAY / 1000;
    await Promise.all([1, 2, 3].map(() => noticeGrantsExpiring(db.driver, at(0), LEAD_SECONDS, 100)));
    expect(await noticeGrantsExpiring(db.driver, at(1000), LEAD_SECONDS, 100)).toBe(0);
    expect(await notices()).toEqual([
      {
        endpoint: subscribed.endpoint.id,
        grant: grantIdOf(soon),
        position: null,
        data: {
          grantId: grantIdOf(soon),
          category: 'promotional',
          expiresAt: plus(T0, DAY / 2),
          remainingCredits: 10,
          frozenCredits: 0,
          heldCredits: 0,
        },
      },
    ]);

    // Four days on, the later one is within a day of its expiry; the soon one is past it (the expiry's own).
    expect(await noticeGrantsExpiring(db.driver, at(4.5 * DAY), LEAD_SECONDS, 100)).toBe(1);
    expect((await notices()).map((notice) => notice.grant)).toEqual([grantIdOf(soon), grantIdOf(later)]);
    expect(await noticeGrantsExpiring(db.driver, at(4.5 * DAY), 0, 100)).toBe(0);
  });
});
