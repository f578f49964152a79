import { DATE_FORMS, DAY_MILLISECONDS, DURATION_FORMS, pointInTimeOf } from '../../point-in-time';

/** Stripe lists the events of the last 30 days only: an older start would silently recover less than asked. */
export const STRIPE_EVENTS_RETENTION_DAYS = 30;
/** Stripe's `types` filter takes at most 20 event types. */
export const SYNC_TYPES_MAX = 20;

const EVENT_TYPE_PATTERN = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

export type SyncOptions = {
  /** Events created at or after this instant are recovered. */
  since: Date;
  /** Only these event types; undefined: every type. */
  types: string[] | undefined;
};

/** The command line cannot be run as given; the message says why. */
export class SyncArgumentsError extends Error {
  override readonly name = 'SyncArgumentsError';
}

/** `--since 72h [--types invoice.paid,charge.refunded]` (also `--since=72h`), read against `now`. */
export function parseSyncArguments(argv: readonly string[], now: Date): SyncOptions {
  const values = flagValues(argv, ['--since', '--types']);
  const since = values.get('--since');
  if (since === undefined) throw new SyncArgumentsError('--since is required (a duration such as 72h, or a date)');
  const types = values.get('--types');
  return { since: sinceOf(since, now), types: types === undefined ? undefined : eventTypesOf(types) };
}

/**
 * When to start: a duration back from now (`30m`, `12h`, `7d`) or an instant
 * (`2026-11-20T00:00:00Z`); at most 30 days back, never in the future.
 */
export function sinceOf(text: string, now: Date): Date {
  const since = pointInTimeOf(text, now);
  if (since === undefined) {
    throw new SyncArgumentsError(`--since ${JSON.stringify(text)} is neither ${DURATION_FORMS} nor ${DATE_FORMS}`);
  }
  const oldest = new Date(now.getTime() - STRIPE_EVENTS_RETENTION_DAYS * DAY_MILLISECONDS);
  if (since < oldest) {
    throw new SyncArgumentsError(
      `--since ${text} is more than ${STRIPE_EVENTS_RETENTION_DAYS} days back (${since.toISOString()}): Stripe keeps ` +
        `events for ${STRIPE_EVENTS_RETENTION_DAYS} days, so the oldest it can list start at ${oldest.toISOString()}`,
    );
  }
  if (since > now) throw new SyncArgumentsError(`--since ${text} is in the future (${since.toISOString()})`);
  return since;
}

function eventTypesOf(text: string): string[] {
  const types = [...new Set(text.split(',').map((type) => type.trim()))];
  const invalid = types.find((type) => !EVENT_TYPE_PATTERN.test(type));
  if (invalid !== undefined) {
    throw new SyncArgumentsError(`--types: ${JSON.stringify(invalid)} is not a Stripe event type such as invoice.paid`);
  }
  if (types.length > SYNC_TYPES_MAX) {
    throw new SyncArgumentsError(`--types: Stripe filters on at most ${SYNC_TYPES_MAX} types, got ${types.length}`);
  }
  return types;
}

/** `--flag value` and `--flag=value`, each flag at most once; anything else is refused. */
function flagValues(argv: readonly string[], flags: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const [flag, inline] = splitFlag(argv[index]);
    if (!flags.includes(flag)) throw new SyncArgumentsError(`unknown argument ${JSON.stringify(argv[index])}`);
    if (values.has(flag)) throw new SyncArgumentsError(`${flag} is given twice`);
    const value = inline ?? argv[++index];
    if (value === undefined || value === '') throw new SyncArgumentsError(`${flag} needs a value`);
    values.set(flag, value);
  }
  return values;
}

function splitFlag(argument: string): [string, string | undefined] {
  const equals = argument.indexOf('=');
  return equals === -1 ? [argument, undefined] : [argument.slice(0, equals), argument.slice(equals + 1)];
}
