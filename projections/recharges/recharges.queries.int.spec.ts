import { randomUUID } from 'node:crypto';
import type { SqlDriver } from '@libs/event-store';
import { openReadModelDatabase } from '../../test/support/read-model-database';
import { storeKindsUnderTest } from '../../test/support/test-stores';
import type { ProjectedEvent } from '../runtime/projection';
import { rechargesProjection } from './recharges.projection';
import { pageRecharges } from './recharges.queries';

const USER_ID = 'user-1';
const OCCURRED_AT = '2025-03-01T09:00:00.000Z';
/** Enough recharges for positions of one and two digits. */
const RECHARGES_COUNT = 12;

describe.each(storeKindsUnderTest())('pageRecharges on %s', (kind) => {
  let driver: SqlDriver;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ driver, close } = await openReadModelDatabase(kind));
  });
  afterAll(() => close?.());

  describe('given recharges at positions 1 to 12', () => {
    beforeAll(async () => {
      const events = Array.from({ length: RECHARGES_COUNT }, (_, index) => rechargeCompleted(index + 1));
      await driver.transaction((tx) => rechargesProjection.apply(tx, events, rechargesProjection.tables));
    });

    it('lists them newest first: by position as a number, 12 before 9', async () => {
      const page = await pageRecharges(driver, { limit: RECHARGES_COUNT });

      expect(page.recharges.map(({ globalPosition }) => globalPosition)).toEqual(positionsNewestFirst());
      expect(page.nextBeforePosition).toBeUndefined();
    });

    it('pages through every recharge exactly once, newest first', async () => {
      const seen: string[] = [];
      let beforePosition: string | undefined;
      do {
        const page = await pageRecharges(driver, { beforePosition, limit: 5 });
        seen.push(...page.recharges.map(({ globalPosition }) => globalPosition));
        beforePosition = page.nextBeforePosition;
      } while (beforePosition !== undefined && seen.length <= RECHARGES_COUNT);

      expect(seen).toEqual(positionsNewestFirst());
    });
  });
});

function positionsNewestFirst(): string[] {
  return Array.from({ length: RECHARGES_COUNT }, (_, index) => String(RECHARGES_COUNT - index));
}

/** The recharge at this stream version and global position (one stream, so both are the same here). */
function rechargeCompleted(version: number): ProjectedEvent {
  return {
    type: 'RechargeCompleted',
    schemaVersion: 3,
    id: randomUUID(),
    data: {
      rechargeId: `recharge-${version}`,
      credits: 100,
      amountPaid: 1_000,
      currency: 'eur',
      source: { kind: 'manual' },
      metadata: {},
      category: 'paid',
      priority: 200,
    },
    metadata: {
      idempotencyKey: `key-${version}`,
      payloadFingerprint: `fingerprint-${version}`,
      occurredAt: OCCURRED_AT,
    },
    streamVersion: version,
    globalPosition: String(version),
    userId: USER_ID,
    recordedAt: OCCURRED_AT,
  };
}
