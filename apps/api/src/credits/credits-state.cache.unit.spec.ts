import { initialState } from '@libs/credits';
import { CreditsStateCache } from './credits-state.cache';

describe('CreditsStateCache', () => {
  it('returns the state set for a stream', () => {
    const cache = new CreditsStateCache(2);
    const state = { ...initialState(), balance: 5, version: 1 };
    cache.set('s1', state);

    expect(cache.get('s1')).toBe(state);
    expect(cache.get('s2')).toBeUndefined();
  });

  it('drops the least recently used stream beyond its size', () => {
    const cache = new CreditsStateCache(2);
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
    const cache = new CreditsStateCache(2);
    cache.set('s1', initialState());
    cache.delete('s1');

    expect(cache.get('s1')).toBeUndefined();
  });
});
