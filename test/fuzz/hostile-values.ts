import fc from 'fast-check';

/**
 * Hostile values for the API fuzzer (api-fuzz.e2e.spec.ts): strings, numbers
 * and JSON that a careless client, or an attacker, may send in a body, a path,
 * a query or a header.
 */

/** JSON text sent exactly as written: numbers JSON.stringify cannot write (-0, 1e400, 2**63 digit for digit), deep nesting. */
export class RawJson {
  constructor(readonly text: string) {}
}

export type JsonLike = null | boolean | number | string | RawJson | JsonLike[] | { [key: string]: JsonLike };

/** The JSON text of a value, RawJson parts as written (JSON.stringify escapes lone surrogates and control characters). */
export function jsonText(value: JsonLike): string {
  if (value instanceof RawJson) return value.text;
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return '-0';
    return Number.isFinite(value) ? String(value) : 'null';
  }
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(([key, member]) => `${JSON.stringify(key)}:${jsonText(member)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A value as a path, query or header parameter carries it: text. */
export function parameterText(value: JsonLike): string {
  return typeof value === 'string' ? value : jsonText(value);
}

/** 10,000 characters: the "very long string" of the hardening issue. */
export const LONG_STRING_LENGTH = 10_000;
/** Over the JSON body limit of 64 KiB. */
const OVER_BODY_LIMIT = 70_000;

const CONTROL_CHARACTERS = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\b',
  '\t',
  '\n',
  '\u000b',
  '\f',
  '\r',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u0085',
  '\u009f',
];

const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff'];

/** Strings that look like numbers, or like numbers a 64-bit column or a double cannot hold. */
export const NUMBER_LIKE_STRINGS = [
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '0',
  '-1',
  '1.5',
  '1e308',
  '1e309',
  '-1e308',
  '5e-324',
  '1e-400',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '9999999999999999999',
  '18446744073709551616',
  '99999999999999999999999999999999999999',
  '2147483648',
  '4294967296',
  '9007199254740993',
  '1000000001',
  '0x10',
  '0b1',
  '1_000',
  ' 1',
  '1 ',
  '+1',
  '1.0',
  '01',
  '1e3',
  '１',
];

export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  ...CONTROL_CHARACTERS,
  'a\u0000b',
  ...LONE_SURROGATES,
  'a\ud800b',
  '\udc00\ud800',
  '\u00a0',
  '\u200b',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ufffd',
  '\uffff',
  '😀',
  'é',
  'e\u0301',
  'İ',
  ...NUMBER_LIKE_STRINGS,
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '[object Object]',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  "' or '1'='1",
  "'; drop table events; --",
  '$1',
  '\\',
  '"',
  '%',
  '%00',
  '%zz',
  '%ED%A0%80',
  '..',
  '../..',
  '/',
  '//',
  '?',
  '#',
  '&',
  '=',
  ',',
  ';',
  ':',
  '@',
  '*',
  '{CHECKOUT_SESSION_ID}',
  'javascript:alert(1)',
  'file:///etc/passwd',
  'http://169.254.169.254/latest/meta-data',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  'a'.repeat(129),
  'a'.repeat(256),
  'a'.repeat(LONG_STRING_LENGTH),
  'é'.repeat(LONG_STRING_LENGTH),
  '😀'.repeat(LONG_STRING_LENGTH / 2),
  '\u0000'.repeat(LONG_STRING_LENGTH),
  '\ud800'.repeat(LONG_STRING_LENGTH),
];

/** Any UTF-16 code unit, lone surrogates and control characters included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));

/** A short token of letters and digits, for fresh ids. */
export const token = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  minLength: 6,
  maxLength: 6,
});

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_STRINGS), weight: 6 },
  { arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 12 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 1 },
  {
    arbitrary: fc
      .tuple(token, fc.constantFrom(...CONTROL_CHARACTERS, ...LONE_SURROGATES), token)
      .map(([before, hostile, after]) => `${before}${hostile}${after}`),
    weight: 2,
  },
);

/** Numbers as JSON text, where JSON.stringify could not write them, or where a double, an int4 or an int8 overflows. */
export const HOSTILE_NUMBER_TEXTS = [
  '1e308',
  '-1e308',
  '1e309',
  '-1e309',
  '-0',
  '-0.0',
  '0.0',
  '0',
  '-1',
  '0.1',
  '1.5',
  '1e-400',
  '5e-324',
  '1E3',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775809',
  '18446744073709551616',
  '9999999999999999999',
  '1' + '0'.repeat(400),
  '2147483648',
  '4294967296',
  '9007199254740993',
  '1000000000',
  '1000000001',
  '1000000000000000',
  '1000000000000001',
];

export const hostileNumber: fc.Arbitrary<JsonLike> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_NUMBER_TEXTS).map((text) => new RawJson(text)), weight: 4 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.constantFrom(-0, 2 ** 63, -(2 ** 63), 2 ** 53 + 2, Number.MAX_VALUE, Number.MIN_VALUE), weight: 1 },
);

/** Arrays and objects nested deeper than any parser or validator should follow. */
const deepNesting: fc.Arbitrary<JsonLike> = fc
  .tuple(fc.constantFrom(15, 16, 17, 64, 1000, 10_000), fc.boolean())
  .map(([depth, arrays]) =>
    arrays
      ? new RawJson('['.repeat(depth) + ']'.repeat(depth))
      : new RawJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
  );

/** Wide values: many members, or a long string, within and over the body limit. */
const wideValue: fc.Arbitrary<JsonLike> = fc.constantFrom(
  new RawJson(`[${Array.from({ length: 10_000 }, () => '1').join(',')}]`),
  new RawJson(`{${Array.from({ length: 2000 }, (_, index) => `"k${index}":${index}`).join(',')}}`),
  'x'.repeat(OVER_BODY_LIMIT),
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: hostileString, weight: 3 },
  {
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'metadata', 'amount', 'userId'),
    weight: 1,
  },
);

/** Any JSON value a client should be refused for, or which must be stored and read back as sent. */
export const hostileValue: fc.Arbitrary<JsonLike> = fc.letrec<{ value: JsonLike }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { arbitrary: hostileString, weight: 6 },
    { arbitrary: hostileNumber, weight: 4 },
    { arbitrary: fc.constantFrom<JsonLike>(null, true, false, [], {}), weight: 2 },
    { arbitrary: fc.array(tie('value'), { maxLength: 3 }), weight: 1 },
    { arbitrary: fc.dictionary(hostileKey, tie('value'), { maxKeys: 3 }), weight: 2 },
    { arbitrary: deepNesting, weight: 1 },
    { arbitrary: wideValue, weight: 1 },
  ),
})).value;

/** Whole bodies that are not JSON, or JSON of a shape no route takes. */
export const HOSTILE_BODY_TEXTS: readonly string[] = [
  '',
  ' ',
  'null',
  'true',
  '0',
  '-0',
  '1e309',
  '"text"',
  '[]',
  '[{}]',
  '{}',
  'NaN',
  'Infinity',
  '{"a":NaN}',
  '{"a":1,}',
  '{',
  '}',
  "{'a':1}",
  '\ufeff{}',
  '{}garbage',
  '{} {}',
  '{"a":"\u0000"}',
  '{"a":"\n"}',
  '{"a":"\\ud800"}',
  '{"\\u0000":1}',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  'x'.repeat(OVER_BODY_LIMIT),
  '['.repeat(OVER_BODY_LIMIT),
  '['.repeat(30_000) + ']'.repeat(30_000),
  '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
  '\u0000',
  '\ud800',
];

export const hostileBodyText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_BODY_TEXTS), weight: 3 },
  { arbitrary: hostileValue.map(jsonText), weight: 3 },
  { arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 40 }), weight: 1 },
);

/**
 * Percent-encodes every character outside RFC 3986's unreserved set, writing
 * lone surrogates as the three bytes UTF-8 would give them if it allowed them
 * (encodeURIComponent throws on those): the server must refuse them, not crash.
 */
export function percentEncode(text: string): string {
  let encoded = '';
  for (const character of text) {
    if (/^[A-Za-z0-9\-._~]$/.test(character)) {
      encoded += character;
      continue;
    }
    const codePoint = character.codePointAt(0)!;
    const bytes =
      codePoint >= 0xd800 && codePoint <= 0xdfff
        ? [0xe0 | (codePoint >> 12), 0x80 | ((codePoint >> 6) & 0x3f), 0x80 | (codePoint & 0x3f)]
        : [...Buffer.from(character, 'utf8')];
    encoded += bytes.map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return encoded;
}

/** At most `length` characters of `text`, saying how long it was. */
export function abbreviated(text: string, length = 160): string {
  const printable = JSON.stringify(text);
  return printable.length <= length ? printable : `${printable.slice(0, length)}…" (${text.length} characters)`;
}
