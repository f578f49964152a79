import { USER_ID_PATTERN } from '@libs/credits';
import { DATE_FORMS, DURATION_FORMS, pointInTimeOf } from '../point-in-time';
import type { AnomalyThresholds } from './replay/anomaly-watch';

/** What one run of the health check looks at, and what it calls unusual. */
export type HealthCheckOptions = AnomalyThresholds & {
  /** Only these users (their streams and rows); every user when undefined. */
  users?: readonly string[];
  /** Start of the window of the Stripe comparison and of the data anomalies (amounts, bursts). */
  since: Date;
  /** Findings listed per check; all are counted. */
  findingsMax: number;
  /** A dispute open or a Stripe delivery unsettled for longer than this is a finding. */
  nonFinalAgeSecondsMax: number;
  /** A grant past its expiry by more than this, with credits left and no `CreditsExpired`, is a finding. */
  expiryGraceSeconds: number;
  /** Rebuild the read-model rows of the users found drifting, then check again. */
  repair: boolean;
};

const DAY_SECONDS = 24 * 3600;

/** The defaults the CLI and the endpoint start from; each has a flag or a query parameter. */
export function defaultHealthCheckOptions(now: Date): HealthCheckOptions {
  return {
    since: new Date(now.getTime() - 7 * DAY_SECONDS * 1000),
    findingsMax: 20,
    nonFinalAgeSecondsMax: 3 * DAY_SECONDS,
    expiryGraceSeconds: 3600,
    amountMax: 1_000_000,
    burstConsumesMax: 600,
    burstWindowSeconds: 60,
    futureSkewSeconds: 300,
    repair: false,
  };
}

/**
 * Stripe payments of the last minutes are left out of the comparison: their
 * webhook may still be on its way (Stripe retries for days, and an outage of
 * minutes is common), so they would be reported missing and then arrive.
 */
export const STRIPE_DELIVERY_GRACE_SECONDS = 600;

/** Streams listed per page and folded at once: what bounds the replay's memory, with the longest stream. */
export const REPLAY_PAGE_SIZE = 500;
export const REPLAY_CONCURRENCY = 8;

/** A health check cannot run as asked; the message names the setting. CLI: exit 2; HTTP: 400. */
export class HealthCheckOptionsError extends Error {
  override readonly name = 'HealthCheckOptionsError';
}

/** The settings as text, by their CLI flag names (the endpoint maps its query parameters onto them). */
export type HealthCheckSettings = Partial<
  Record<
    | 'users'
    | 'since'
    | 'findings'
    | 'stale-after'
    | 'expiry-grace'
    | 'amount-max'
    | 'burst-max'
    | 'burst-window'
    | 'future-skew',
    string
  >
> & { repair?: boolean };

/** Whole numbers from 1 for each numeric setting, in the unit its help gives. */
const NUMERIC_SETTINGS = {
  findings: 'findingsMax',
  'stale-after': 'nonFinalAgeSecondsMax',
  'expiry-grace': 'expiryGraceSeconds',
  'amount-max': 'amountMax',
  'burst-max': 'burstConsumesMax',
  'burst-window': 'burstWindowSeconds',
  'future-skew': 'futureSkewSeconds',
} as const satisfies Record<string, keyof HealthCheckOptions>;

export function healthCheckOptionsFrom(settings: HealthCheckSettings, now: Date): HealthCheckOptions {
  const options = defaultHealthCheckOptions(now);
  for (const [setting, option] of Object.entries(NUMERIC_SETTINGS)) {
    const text = settings[setting as keyof typeof NUMERIC_SETTINGS];
    if (text !== undefined) options[option] = wholeNumberOf(setting, text);
  }
  if (settings.since !== undefined) options.since = sinceOf(settings.since, now);
  if (settings.users !== undefined) options.users = usersOf(settings.users);
  options.repair = settings.repair ?? false;
  return options;
}

function wholeNumberOf(setting: string, text: string): number {
  const value = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1))
    throw new HealthCheckOptionsError(`${setting} must be a whole number from 1, got ${JSON.stringify(text)}`);
  return value;
}

function sinceOf(text: string, now: Date): Date {
  const since = pointInTimeOf(text, now);
  if (since === undefined) {
    throw new HealthCheckOptionsError(`since ${JSON.stringify(text)} is neither ${DURATION_FORMS} nor ${DATE_FORMS}`);
  }
  if (since > now) throw new HealthCheckOptionsError(`since ${text} is in the future (${since.toISOString()})`);
  return since;
}

function usersOf(text: string): string[] {
  const users = text.split(',').map((user) => user.trim());
  const invalid = users.find((user) => !USER_ID_PATTERN.test(user));
  if (invalid !== undefined) throw new HealthCheckOptionsError(`users: ${JSON.stringify(invalid)} is not a user id`);
  return [...new Set(users)];
}
