import type { CreditsCommand } from './credits.commands';
import { decide } from './credits.decide';
import type { HoldCaptured, RecordedCreditsEvent } from './credits.events';
import { evolveHolds } from './credits.holds';
import { type CreditsState, evolve, initialState } from './credits.state';
import { plainState, recordAfter } from './testing/credits.given-when-then';
import { T0, consume, grantIdOf, plus, recharge } from './testing/grant-commands';
import { captureOf, holdIdOf, placeHoldOf, releaseOf } from './testing/hold-commands';

/**
 * The fold's guards kept by its fast paths: a key or a hold used twice is refused without touching any state kept
 * elsewhere (persistent trees), a hold's end is checked against all its lists, a duration read once answers as
 * one read afresh, and a hold's end repeated answers by how it ended.
 */
const ser = (state: CreditsState) => JSON.stringify(plainState(state));

function fold(state: CreditsState, command: CreditsCommand): CreditsState {
  const decision = decide(command, state);
  if (decision.kind !== 'recorded') throw new Error(`${command.type} was ${decision.kind}`);
  return recordAfter(state, decision.events, 1000n + BigInt(state.version)).reduce(evolve, state);
}

describe('with(key, value, false) neither mutates nor misses a duplicate', () => {
  it('refuses every used key of a deep tree, leaving that state and every earlier one as it was', () => {
    let state = fold(initialState(), recharge('big', 1_000_000));
    const states: Array<{ state: CreditsState; plain: string }> = [];
    const events: RecordedCreditsEvent[] = [];
    for (let i = 0; i < 600; i++) {
      const decision = decide(i % 3 === 0 ? placeHoldOf(`h${i}`, 1) : consume(`c${i}`, 1), state);
      if (decision.kind !== 'recorded') throw new Error('refused');
      const recorded = recordAfter(state, decision.events, 1000n + BigInt(state.version));
      events.push(...recorded);
      state = recorded.reduce(evolve, state);
      if (i % 37 === 0) states.push({ state, plain: ser(state) });
    }
    const final = { state, plain: ser(state) };
    for (const event of events) {
      const again = { ...event, streamVersion: state.version + 1 };
      expect(() => evolve(state, again)).toThrow('idempotency key recorded twice');
      if (event.type === 'CreditsHeld') {
        const fresh = { ...again, metadata: { ...again.metadata, idempotencyKey: `fresh-${event.id}` } };
        expect(() => evolve(state, fresh)).toThrow(`hold ${event.id} is placed twice`);
      }
    }
    for (const { state: earlier, plain } of [...states, final]) expect(ser(earlier)).toBe(plain);
    // The refused inserts left the trees usable: a later event still folds into both the last and an earlier state.
    expect(() => fold(state, consume('after', 1))).not.toThrow();
    expect(() => fold(states[3].state, consume('after', 1))).not.toThrow();
    expect(ser(state)).toBe(final.plain);
  });
});

describe('a hold end is checked against all its lists, fast path or not', () => {
  const pack = recharge('pack', 100);
  const place = placeHoldOf('job-1', 30);
  const holdId = holdIdOf(place);
  const grantId = grantIdOf(pack);
  const state = fold(fold(initialState(), pack), place);
  const capture = captureOf(holdId, plus(T0, 60_000), 30);
  const decision = decide(capture, state);
  if (decision.kind !== 'recorded') throw new Error('capture refused');
  const good = decision.events[0] as HoldCaptured;
  const at = (event: HoldCaptured) => recordAfter(state, [event], 5000n)[0];

  it('takes the decided capture', () => {
    expect(evolve(state, at(good)).holds.get(holdId)?.status).toBe('captured');
  });

  it.each([
    ['returnedTo', { returnedTo: [{ grantId, credits: 5 }] }],
    ['debtPaidFrom', { debtPaidFrom: [{ grantId, credits: 5 }] }],
    ['lapsed', { lapsed: [{ grantId, credits: 5 }] }],
  ])('refuses capturedFrom equal to drawnFrom plus credits in %s', (_list, extra) => {
    // evolveHolds itself (evolve's grant ledger would refuse these first, on its own grounds).
    const tampered = { ...good, data: { ...good.data, ...extra } };
    expect(() => evolveHolds(state.holds, at(tampered))).toThrow(`does not end hold ${holdId}`);
  });

  it('refuses an empty end and one of another grant', () => {
    const empty = { ...good, data: { ...good.data, amount: 0, capturedFrom: [] } };
    expect(() => evolveHolds(state.holds, at(empty))).toThrow(`does not end hold ${holdId}`);
    const other = { ...good, data: { ...good.data, capturedFrom: [{ grantId: 'other', credits: 30 }] } };
    expect(() => evolveHolds(state.holds, at(other))).toThrow(`does not end hold ${holdId}`);
  });
});

describe('a duration read once answers as when read afresh', () => {
  const pack = recharge('pack', 100);
  const base = fold(initialState(), pack);
  const expiryOf = (expiresIn: string | undefined, now: string) => {
    const decision = decide(placeHoldOf('job', 1, now, expiresIn), base);
    return decision.kind === 'recorded'
      ? (decision.events[0] as { data: { expiresAt: string } }).data.expiresAt
      : decision;
  };

  it('adds a shared calendar duration from each decision time, not the first one', () => {
    expect(expiryOf('P1M', '2026-01-31T00:00:00.000Z')).toBe('2026-02-28T00:00:00.000Z');
    expect(expiryOf('P1M', '2026-03-31T00:00:00.000Z')).toBe('2026-04-30T00:00:00.000Z');
    expect(expiryOf('P1M', '2026-01-31T00:00:00.000Z')).toBe('2026-02-28T00:00:00.000Z');
  });

  it('answers the same after the cache fills and clears', () => {
    const first = ['PT15M', 'P1MT-720H', 'nonsense', 'PT0S', 'P1Y'].map((d) => expiryOf(d, T0));
    for (let i = 1; i <= 2_500; i++) expiryOf(`PT${i}S`, T0);
    expect(['PT15M', 'P1MT-720H', 'nonsense', 'PT0S', 'P1Y'].map((d) => expiryOf(d, T0))).toEqual(first);
  });
});

describe('a repeated hold end answers as before the commits', () => {
  it('replays the same release, refuses a capture after it', () => {
    const pack = recharge('pack', 100);
    const place = placeHoldOf('job-1', 30);
    const holdId = holdIdOf(place);
    const release = releaseOf(holdId, plus(T0, 60_000));
    const state = fold(fold(fold(initialState(), pack), place), release);
    expect(decide(release, state)).toMatchObject({ kind: 'replayed' });
    expect(decide(captureOf(holdId, plus(T0, 120_000), 30), state)).toMatchObject({
      kind: 'refused',
      error: { type: 'hold-already-released' },
    });
  });
});
