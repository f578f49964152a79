import { type CreditsState, initialState } from '@libs/credits';
import { CreditsStateCache } from './credits-state.cache';

describe('CreditsStateCache', () => {
  it('returns the state set for a stream', () => {
    const cache = new CreditsStateCache({ streamsMax: 2, outcomesMax: 100 });
    const state = { ...initialState(), balance: 5, version: 1 };
    cache.set('s1', state);

    expect(cache.get('s1')).toBe(state);
    expect(cache.get('s2')).toBeUndefined();
  });

  it('drops the least recently used stream beyond its size', () => {
    const cache = new CreditsStateCache({ streamsMax: 2, outcomesMax: 100 });
    cache.set('s1', initialState());
    cache.set('s2', initialState());
    cache.get('s1');
    cache.set('s3', initialState());

    expect(cache.size).toBe(2);
    expect(cache.get('s2')).toBeUndefined();
    expect(cache.get('s1')).toBeDefined();
    expect(cache.get('s3')).toBeDefined();
  });

  it('forgets a stream on delete', () => {
    const cache = new CreditsStateCache({ streamsMax: 2, outcomesMax: 100 });
    cache.set('s1', initialState());
    cache.delete('s1');

    expect(cache.get('s1')).toBeUndefined();
  });

  it('drops the least recently used streams while the outcomes held exceed the limit, and never keeps a longer stream', () => {
    const cache = new CreditsStateCache({ streamsMax: 10, outcomesMax: 5 });
    cache.set('s1', withOutcomes(2));
    cache.set('s2', withOutcomes(2));
    cache.set('s3', withOutcomes(2));

    expect(cache.get('s1')).toBeUndefined();
    expect(cache.outcomes).toBe(4);

    cache.set('long', withOutcomes(6));
    expect(cache.size).toBe(0);
    expect(cache.outcomes).toBe(0);
  });

  it('counts a stream again when its state grows', () => {
    const cache = new CreditsStateCache({ streamsMax: 10, outcomesMax: 100 });
    const state = withOutcomes(2);
    cache.set('s1', state);
    cache.set('s1', { ...state, outcomes: state.outcomes.with('k-next', state.outcomes.get('k0')!) });

    expect(cache.outcomes).toBe(3);
  });
});

function withOutcomes(count: number): CreditsState {
  const state = initialState();
  for (let index = 0; index < count; index++) {
    state.outcomes.set(`k${index}`, {
      payloadFingerprint: 'f',
      eventId: `e${index}`,
      eventType: 'BonusGranted',
      amount: 1,
      balanceAfter: index + 1,
      streamVersion: index + 1,
      globalPosition: String(index + 1),
    });
  }
  return { ...state, version: count };
}
