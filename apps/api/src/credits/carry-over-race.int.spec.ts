/**
 * A refund of a plan period past its end records the period's carry-over
 * first, in the same append, under the expiry process's key. When the expiry
 * process stored that carry-over first and the store reports its event id as
 * a duplicate, the runner decides the refund again on the stream as it is
 * now (the carry-over recorded) and records it once. On PGlite, with the
 * store wrapped to play the expiry process winning the race at that moment.
 */
import { MetricsRegistry } from '@libs/http';
import { type CreditsCommand, type CreditsEvent, creditsStreamId } from '@libs/credits';
import {
  DuplicateEventIdError,
  EVENT_STORE_MIGRATIONS,
  type EventStore,
  PgliteDriver,
  SqlEventStore,
  migrate,
} from '@libs/event-store';
import { CreditsMetrics } from './credits-metrics';
import { CreditsCommandRunner } from './credits-command.runner';
import { DAY, T0, plus, recharge, refundOf } from '../../../../libs/credits/src/testing/grant-commands';

const USER_ID = 'user-grants';
const END = plus(T0, 30 * DAY);

function period(): CreditsCommand {
  const command = recharge('period-1', 100, T0, END);
  return { ...command, data: { ...command.data, rollover: { expiresAt: plus(END, 31 * DAY) } } };
}

/** The store, but the first append that carries a `CreditsRolledOver` finds it stored by another process. */
function racedByTheExpiryProcess(store: SqlEventStore): EventStore & { raced: number } {
  const raced = Object.create(store) as EventStore & { raced: number };
  raced.raced = 0;
  raced.appendToStream = async (streamId, events, options) => {
    const carryOver = events.find((event) => event.type === 'CreditsRolledOver');
    if (carryOver !== undefined && raced.raced === 0) {
      raced.raced++;
      await store.appendToStream(streamId, [carryOver], options);
      throw new DuplicateEventIdError(streamId, [carryOver.id]);
    }
    return store.appendToStream(streamId, events, options);
  };
  return raced;
}

describe('a refund racing the expiry process for its period’s carry-over, on PGlite', () => {
  it('is decided again once the carry-over is stored, and recorded once', async () => {
    const driver = await PgliteDriver.open(undefined);
    await migrate(driver, EVENT_STORE_MIGRATIONS);
    const store = new SqlEventStore(driver);
    const raced = racedByTheExpiryProcess(store);
    const runner = new CreditsCommandRunner(raced, 5, new CreditsMetrics(new MetricsRegistry()));
    try {
      await runner.run(period());
      const result = await runner.run(refundOf('period-1', 1000, plus(END, 3_600_000), 'debt'));

      expect(raced.raced).toBe(1);
      expect(result.kind).toBe('recorded');
      const types: Array<CreditsEvent['type']> = [];
      for await (const event of store.readStream(creditsStreamId(USER_ID))) types.push(event.type as never);
      expect(types).toEqual(['RechargeCompleted', 'CreditsRolledOver', 'RechargeRefunded']);
    } finally {
      await store.close();
    }
  });
});
