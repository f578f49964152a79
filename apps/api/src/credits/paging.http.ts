import { ProblemException } from '@libs/http';

export const PAGE_LIMIT_MAX = 1000;
export const PAGE_LIMIT_DEFAULT = 100;

/** A whole number from the query string within bounds; anything else (`ten`, `1.5`, `0x10`) is refused, not defaulted. */
export function wholeNumberParameter(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = /^[0-9]{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= 1 && parsed <= max)) {
    throw ProblemException.of(400, 'invalid-page', 'Invalid page', {
      detail: `${name} must be a whole number from 1 to ${max}`,
    });
  }
  return parsed;
}

/**
 * Cursors are opaque to clients: a kind and a decimal value, base64url-encoded,
 * so the server may change what they hold.
 */
export function encodeCursor(kind: string, value: string | number): string {
  return Buffer.from(`${kind}:${value}`).toString('base64url');
}

/** The cursor's value, refused unless it is one this server made (and at most `valueMax`). */
export function decodeCursor(
  kind: string,
  cursor: string | undefined,
  valueMax: bigint | number = 9_223_372_036_854_775_807n,
): string | undefined {
  if (cursor === undefined) return undefined;
  const match = new RegExp(`^${kind}:([0-9]{1,19})$`).exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match === null || BigInt(match[1]) > BigInt(valueMax)) {
    throw ProblemException.of(400, 'invalid-cursor', 'Invalid cursor', {
      detail: 'pass back the nextCursor of a previous page unchanged',
    });
  }
  return match[1];
}
