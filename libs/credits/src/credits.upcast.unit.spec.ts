import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { grantsBalance } from './credits.grants';
import { eventIdFor, rechargeEventId } from './credits.idempotency';
import { creditsStreamId } from './credits.stream';
import { type StoredEvent, parseCreditsEvent } from './credits.parse';
import { type CreditsState, evolve, initialState } from './credits.state';

/**
 * The schema-evolution rule's test: streams recorded by the ledger before grants (every event at schema
 * version 1: Stripe recharges, bonuses, consumptions, refunds under debt and writeoff, refund failures,
 * disputes won and lost), committed as they were stored, fold after grants to exactly the balances and frozen
 * credits the code of then folded them to, event by event. See test/fixtures/README.md for how they were made.
 */
type FixtureStream = {
  userId: string;
  events: Array<Omit<StoredEvent, 'streamId'>>;
  expected: Array<{ version: number; balance: number; frozenCredits: number }>;
};

const fixture = JSON.parse(
  readFileSync(join(__dirname, '../../../test/fixtures/streams-before-grants.json'), 'utf8'),
) as { streams: FixtureStream[] };

describe('streams recorded before grants', () => {
  it('hold every event type of then, debts and frozen credits', () => {
    const types = new Set(fixture.streams.flatMap((stream) => stream.events.map((event) => event.type)));
    const expected = fixture.streams.flatMap((stream) => stream.expected);

    expect([...types].sort()).toEqual([
      'BonusGranted',
      'CreditsConsumed',
      'CreditsFrozen',
      'CreditsUnfrozen',
      'RechargeCompleted',
      'RechargeRefunded',
      'RefundReversed',
    ]);
    expect(fixture.streams.every((stream) => stream.events.every((event) => event.schemaVersion === 1))).toBe(true);
    expect(expected.some((state) => state.balance < 0)).toBe(true);
    expect(expected.some((state) => state.frozenCredits > 0)).toBe(true);
  });

  it.each(fixture.streams.map((stream) => [stream.userId, stream] as const))(
    'fold %s to the balance and frozen credits of then, after every event, its grants summing to the balance',
    (_, stream) => {
      let state: CreditsState = initialState();
      stream.events.forEach((stored, index) => {
        state = evolve(state, parseCreditsEvent({ ...stored, streamId: `credits-${stream.userId}` }));
        const { version, balance, frozenCredits } = stream.expected[index];

        expect({ version: state.version, balance: state.balance, frozenCredits: state.frozenCredits }).toEqual({
          version,
          balance,
          frozenCredits,
        });
        expect(grantsBalance(state.grants)).toBe(state.balance);
      });
    },
  );

  it('upcast to the current schema versions, credits-in as never-expiring grants of their category', () => {
    const stored = fixture.streams[0].events.filter((event) => event.type !== 'CreditsConsumed').slice(0, 40);
    for (const event of stored) {
      const parsed = parseCreditsEvent({ ...event, streamId: 'credits-legacy-0' });
      if (parsed.type === 'RechargeCompleted') expect(parsed.data).toMatchObject({ category: 'paid', priority: 200 });
      if (parsed.type === 'BonusGranted') expect(parsed.data).toMatchObject({ category: 'promotional', priority: 100 });
      if (parsed.type === 'RechargeCompleted' || parsed.type === 'BonusGranted') {
        expect(parsed.schemaVersion).toBe(parsed.type === 'RechargeCompleted' ? 3 : 2);
        expect(parsed.data.expiresAt).toBeUndefined();
      }
    }
  });

  it('derive the same event ids from their stream and key as when they were recorded: retries still deduplicate', () => {
    for (const stream of fixture.streams) {
      for (const event of stream.events) {
        const { idempotencyKey } = event.metadata as { idempotencyKey: string };
        const { rechargeId } = event.data as { rechargeId: string };
        const expected =
          event.type === 'RechargeCompleted'
            ? rechargeEventId(rechargeId)
            : eventIdFor(creditsStreamId(stream.userId), idempotencyKey);
        expect(event.id).toBe(expected);
      }
    }
  });

  it('refuses a schema version newer than this build knows', () => {
    const [event] = fixture.streams[0].events;

    expect(() => parseCreditsEvent({ ...event, schemaVersion: 99, streamId: 'credits-legacy-0' })).toThrow(
      'schema version 99 is not known to this build',
    );
  });
});
