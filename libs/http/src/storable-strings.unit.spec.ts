import fc from 'fast-check';
import {
  REWRITTEN_STRING_MARK,
  firstUnstorableString,
  isStorableString,
  restoreRewrittenStrings,
  storableInPostgres,
} from './storable-strings';

/** Strings built of what PostgreSQL refuses, the mark, JSON's own escapes and ordinary text. */
const hostileString = fc.string({
  unit: fc.constantFrom('a', ' ', '\u0000', '\u0001', '\ud800', '\udc00', '\ud83d\ude00', '\uffff', '"', '\\', 'é'),
  maxLength: 8,
});
const hostileJson = fc.anything({
  key: hostileString,
  values: [hostileString, fc.integer(), fc.boolean(), fc.constant(null)],
  maxDepth: 3,
  withObjectString: false,
});

describe('strings PostgreSQL can store', () => {
  it.each([
    ['plain text', 'upload-123', true],
    ['an emoji (a surrogate pair)', 'ok \ud83d\ude00', true],
    ['a control character other than NUL', 'tab\tand \u0001', true],
    ['a NUL', 'a\u0000b', false],
    ['a lone high surrogate', 'a\ud800', false],
    ['a lone low surrogate', '\udc00b', false],
    ['a pair in the wrong order', '\ude00\ud83d', false],
  ])('%s: %s', (_, text, storable) => {
    expect(isStorableString(text)).toBe(storable);
  });

  it('names the first key or value that is not storable by its path', () => {
    expect(firstUnstorableString({ a: [{ b: 'ok' }, { c: 'x\u0000' }] }, 'body')).toBe('body.a[1].c');
    expect(firstUnstorableString({ meta: { ['k\ud800']: 1 } }, 'body')).toBe('body.meta.k\ufffd');
    expect(firstUnstorableString({ a: ['fine', 1, null, true] }, 'body')).toBeUndefined();
  });

  it('walks a value nested far deeper than the call stack allows without overflowing', () => {
    let deep: unknown = 'x\u0000';
    for (let level = 0; level < 100_000; level++) deep = [deep];

    expect(firstUnstorableString(deep, 'body')).toMatch(/^body(\[0\])+$/);
  });
});

describe('storableInPostgres', () => {
  it('rewrites a value nested far deeper than the call stack allows, and restores it', () => {
    let deep: unknown = { note: 'x\u0000' };
    for (let level = 0; level < 100_000; level++) deep = level % 2 === 0 ? [deep] : { next: deep };

    const stored = storableInPostgres(deep);

    expect(firstUnstorableString(stored, '')).toBeUndefined();
    expect(firstUnstorableString(restoreRewrittenStrings(stored), 'value')).toMatch(/\.note$/);
  });

  it('keeps a key named __proto__ as an own key, and the keys in their order', () => {
    const value = JSON.parse('{"b":"x\\u0000","__proto__":{"polluted":true},"a":1}') as object;

    const stored = storableInPostgres(value);

    expect(Object.keys(stored)).toEqual(['b', '__proto__', 'a']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(restoreRewrittenStrings(stored)).toEqual(value);
  });

  it('leaves a value with nothing to rewrite as it is (the same object)', () => {
    const value = { a: ['b', { c: 1 }], d: 'é \ud83d\ude00' };

    expect(storableInPostgres(value)).toBe(value);
  });

  it('rewrites a string that holds a NUL as the mark and its JSON text', () => {
    expect(storableInPostgres({ note: 'a\u0000b' })).toEqual({ note: `${REWRITTEN_STRING_MARK}"a\\u0000b"` });
  });

  it('makes every key and string storable, and restores the value exactly (property)', () => {
    fc.assert(
      fc.property(hostileJson, (value) => {
        const stored = storableInPostgres(value);

        expect(firstUnstorableString(stored, '')).toBeUndefined();
        expect(restoreRewrittenStrings(stored)).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });
});
