import type { SqlDriver } from '@libs/event-store';
import { openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import { pageDeliveries, recordDeliveryReceived } from './stripe-deliveries.repository';

/** Enough deliveries for sequences of one and two digits. */
const DELIVERIES_COUNT = 12;

describe.each(storeKindsUnderTest())('pageDeliveries on %s', (kind) => {
  let driver: SqlDriver;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ driver, close } = await openReadModelDatabase(kind));
    for (let index = 1; index <= DELIVERIES_COUNT; index++) {
      const event = { id: `evt_${index}`, type: 'customer.subscription.updated', created: 1_700_000_000 + index };
      await recordDeliveryReceived(driver, event, { ...event, data: { object: {} } });
    }
  });
  afterAll(() => close?.());

  it('lists deliveries newest first: by sequence as a number, 12 before 9', async () => {
    const page = await pageDeliveries(driver, { limit: DELIVERIES_COUNT });

    expect(page.deliveries.map(({ eventId }) => eventId)).toEqual(eventIdsNewestFirst());
    expect(page.nextBeforeSequence).toBeUndefined();
  });

  it('pages through every delivery exactly once, newest first', async () => {
    const seen: string[] = [];
    let beforeSequence: string | undefined;
    do {
      const page = await pageDeliveries(driver, { beforeSequence, limit: 5 });
      seen.push(...page.deliveries.map(({ eventId }) => eventId));
      beforeSequence = page.nextBeforeSequence;
    } while (beforeSequence !== undefined && seen.length <= DELIVERIES_COUNT);

    expect(seen).toEqual(eventIdsNewestFirst());
  });
});

function eventIdsNewestFirst(): string[] {
  return Array.from({ length: DELIVERIES_COUNT }, (_, index) => `evt_${DELIVERIES_COUNT - index}`);
}
