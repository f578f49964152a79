import type { SqlExecutor } from '@libs/event-store';
import { startFakeStripeApi } from '../../../../../../test/support/fake-stripe-api';
import { openReadModelDatabase } from '../../../../../../test/support/read-model-database';
import { paymentIntent } from '../../../../../../test/support/stripe-events';
import { stripeConfigUnderTest } from '../../../../../../test/support/stripe-webhook-client';
import { storeKindsUnderTest } from '../../../../../../test/support/test-stores';
import { SectionBuilder } from '../../health-report';
import { stripeApiClient } from '../../../stripe/stripe-api.client';
import { compareRechargesNotListed } from './recharges-not-listed';

const RECHARGES = 1_200;
/** Not listed by Stripe: around the read model's pages of 500 and where positions gain a digit. */
const UNLISTED_POSITIONS = [9, 10, 99, 100, 499, 500, 501, 999, 1_000, 1_001, 1_200];
const COMPLETED_AT = '2026-11-28T08:00:00.000Z';
const WINDOW = { since: new Date('2026-11-28T07:00:00.000Z'), until: new Date('2026-11-28T09:00:00.000Z') };

describe.each(storeKindsUnderTest())(
  "recharges Stripe did not list, on %s, against a local Stripe-shaped server (Stripe's API is unreachable from here)",
  (kind) => {
    it('pages the read model by position as a number: each unlisted recharge is fetched once, none skipped', async () => {
      const database = await openReadModelDatabase(kind);
      const fake = await startFakeStripeApi();
      try {
        await insertStripeRecharges(database.driver);
        fake.addObjects(...UNLISTED_POSITIONS.map((position) => paymentIntent({ id: rechargeIdAt(position) })));
        const unlisted = new Set(UNLISTED_POSITIONS.map(rechargeIdAt));
        const listed = Array.from({ length: RECHARGES }, (_, index) => rechargeIdAt(index + 1));
        const run = {
          stripe: stripeApiClient(stripeConfigUnderTest({ apiKey: fake.apiKey, apiBase: new URL(fake.url) }))!,
          readModel: database.driver,
          catalog: stripeConfigUnderTest().catalog,
          section: new SectionBuilder('stripe-payment-sync', 10),
          compared: new Set(listed.filter((rechargeId) => !unlisted.has(rechargeId))),
        };

        await compareRechargesNotListed(run, WINDOW);

        const retrieved = fake.requests
          .filter((request) => request.method === 'GET' && request.path.startsWith('/v1/payment_intents/'))
          .map((request) => request.path.slice('/v1/payment_intents/'.length));
        expect(retrieved.sort()).toEqual([...unlisted].sort());
        expect(run.section.build()).toMatchObject({
          status: 'ok',
          findingsCount: 0,
          counts: { 'recharges-retrieved': UNLISTED_POSITIONS.length },
        });
      } finally {
        await fake.close();
        await database.close();
      }
    });
  },
);

function rechargeIdAt(position: number): string {
  return `pi_position_${position}`;
}

/** Stripe recharges at global positions 1..RECHARGES, as the recharges projection writes them. */
async function insertStripeRecharges(db: SqlExecutor): Promise<void> {
  await db.query(
    `insert into recharges (user_id, recharge_id, credits, amount_paid, currency, source_kind, payment_intent_id,
                            status, event_id, global_position, completed_at)
     select 'user-' || position, 'pi_position_' || position, 100, 1000, 'usd', 'stripe', 'pi_position_' || position,
            'completed', gen_random_uuid(), position, $2::timestamptz
     from generate_series(1, $1::integer) as position`,
    [RECHARGES, COMPLETED_AT],
  );
}
