import type { NextFunction, Request, Response } from 'express';
import { ProblemException } from './problems/problem-details';

/**
 * Strings PostgreSQL cannot store: `jsonb` (and `text`) refuse a NUL
 * character, and a lone UTF-16 surrogate is no Unicode character at all (its
 * JSON escape `\ud800` is refused as well). Such a string in one request
 * would fail the statement that writes it, and a group commit writes many
 * users' appends in one statement: it is refused at the door instead.
 */
export function isStorableString(value: string): boolean {
  return !value.includes('\u0000') && (value as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * The first place in a parsed JSON value where a key or a string value is not
 * storable, as a path (`metadata.note`, `items[2]`), or undefined when there
 * is none. Iterative, so that a hostile body cannot overflow the stack.
 */
export function firstUnstorableString(value: unknown, root: string): string | undefined {
  const pending: Array<[unknown, string]> = [[value, root]];
  while (pending.length > 0) {
    const [current, path] = pending.pop()!;
    if (typeof current === 'string') {
      if (!isStorableString(current)) return path;
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    const isArray = Array.isArray(current);
    for (const [key, child] of Object.entries(current)) {
      const childPath = isArray ? `${path}[${key}]` : joinPath(path, printable(key));
      if (!isArray && !isStorableString(key)) return childPath;
      pending.push([child, childPath]);
    }
  }
  return undefined;
}

/**
 * Express middleware for the API's own routes: a NUL character or a lone
 * surrogate in a JSON body (keys included, at any depth), a query parameter,
 * a path segment or a header is `400 invalid-request`, naming where. Raw
 * bodies (the Stripe webhook's signed bytes) are left to their route.
 */
export function refuseUnstorableStrings(request: Request, _response: Response, next: NextFunction): void {
  const field =
    unstorablePathSegment(request.path) ??
    firstUnstorableString(request.query, 'query') ??
    firstUnstorableString(request.headers, 'headers') ??
    (Buffer.isBuffer(request.body) ? undefined : firstUnstorableString(request.body, 'body'));
  if (field === undefined) return next();
  next(
    ProblemException.of(400, 'invalid-request', 'Invalid request', {
      detail: `${field} holds a NUL character or an unpaired surrogate, which the ledger cannot store`,
      errors: [{ field, message: 'must not contain a NUL character (U+0000) or an unpaired UTF-16 surrogate' }],
    }),
  );
}

/** Path segments as the router will decode them; one that does not decode is refused as well. */
function unstorablePathSegment(path: string): string | undefined {
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return 'path (malformed percent-encoding)';
    }
    if (!isStorableString(decoded)) return `path segment "${printable(decoded)}"`;
  }
  return undefined;
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** A name fit to quote back in an answer: what cannot be stored shown as U+FFFD. */
function printable(text: string): string {
  return (text as unknown as { toWellFormed(): string }).toWellFormed().replaceAll('\u0000', '\ufffd');
}

/**
 * Marks a string that `storableInPostgres` rewrote. U+FFFF is a noncharacter:
 * no text from Stripe is expected to start with it, and one that does is
 * rewritten too, so the rewriting stays reversible.
 */
export const REWRITTEN_STRING_MARK = '\uffff';

/**
 * A JSON value that PostgreSQL can store, with nothing lost: every key or
 * string that holds a NUL or a lone surrogate (or starts with the mark) is
 * replaced by the mark followed by its JSON text, in which those characters
 * are escapes of plain ASCII (`"a\u0000b"`). `restoreRewrittenStrings`
 * undoes it. For data the ledger must record though it did not choose it: a
 * correctly signed Stripe event is Stripe's, and refusing it would only make
 * Stripe retry it for days.
 */
export function storableInPostgres<T>(value: T): T {
  return mapStrings(value, (text) =>
    isStorableString(text) && !text.startsWith(REWRITTEN_STRING_MARK)
      ? text
      : REWRITTEN_STRING_MARK + JSON.stringify(text),
  );
}

/** The value `storableInPostgres` was given. */
export function restoreRewrittenStrings<T>(value: T): T {
  return mapStrings(value, (text) =>
    text.startsWith(REWRITTEN_STRING_MARK) ? (JSON.parse(text.slice(REWRITTEN_STRING_MARK.length)) as string) : text,
  );
}

/**
 * A copy of a JSON value with `map` applied to every key and string; the
 * value itself when `map` changes nothing. Iterative, like the walk above: a
 * signed event may nest deeper than the call stack allows.
 */
function mapStrings<T>(value: T, map: (text: string) => string): T {
  if (!someStringChanges(value, map)) return value;
  const root: { value?: unknown } = {};
  const pending: Array<[source: unknown, target: object, key: string | number]> = [[value, root, 'value']];
  while (pending.length > 0) {
    const [source, target, key] = pending.pop()!;
    setOwn(target, key, copyShell(source, map, pending));
  }
  return root.value as T;
}

/** The mapped string, a primitive as is, or an empty copy of an array or object whose members are queued. */
function copyShell(
  source: unknown,
  map: (text: string) => string,
  pending: Array<[source: unknown, target: object, key: string | number]>,
): unknown {
  if (typeof source === 'string') return map(source);
  if (typeof source !== 'object' || source === null) return source;
  if (Array.isArray(source)) {
    const copy: unknown[] = new Array<unknown>(source.length);
    source.forEach((item: unknown, index) => pending.push([item, copy, index]));
    return copy;
  }
  const copy = {};
  for (const [key, child] of Object.entries(source)) {
    // Placed now, filled later: the copy keeps the source's key order.
    setOwn(copy, map(key), undefined);
    pending.push([child, copy, map(key)]);
  }
  return copy;
}

function someStringChanges(value: unknown, map: (text: string) => string): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current === 'string') {
      if (map(current) !== current) return true;
    } else if (typeof current === 'object' && current !== null) {
      for (const [key, child] of Object.entries(current)) {
        if (!Array.isArray(current) && map(key) !== key) return true;
        pending.push(child);
      }
    }
  }
  return false;
}

/** An own property, even for a key such as `__proto__` that plain assignment would not create. */
function setOwn(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
