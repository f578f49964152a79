import { DateTime, Duration } from 'luxon';
import type { GrantBonus } from './credits.commands';
import type { InvalidGrantTerms } from './credits.errors';
import type { GrantTerms } from './credits.events';
import { DEFAULT_GRANT_PRIORITY, GRANT_PRIORITY_MAX } from './credits.grants';

/** The furthest a grant may expire from the command's time: beyond it, expiring is a typo, not a plan. */
export const GRANT_EXPIRY_YEARS_MAX = 100;

/**
 * A bonus's category, priority and expiry, its defaults applied; `expiresIn`
 * counts from the command's time in UTC (calendar units: P1M from January 31
 * is the last day of February).
 */
export function bonusTermsOf(
  data: GrantBonus['data'],
  now: string,
): { kind: 'terms'; terms: GrantTerms } | { kind: 'refused'; error: InvalidGrantTerms } {
  const category = data.category ?? 'promotional';
  const priority = data.priority ?? DEFAULT_GRANT_PRIORITY[category];
  if (!Number.isSafeInteger(priority) || priority < 0 || priority > GRANT_PRIORITY_MAX) {
    return refused('priority', `must be an integer from 0 to ${GRANT_PRIORITY_MAX}`);
  }
  const expiry = expiryOf(data, now);
  if (expiry.kind === 'refused') return expiry;
  const { expiresAt } = expiry;
  return { kind: 'terms', terms: { category, priority, ...(expiresAt === undefined ? {} : { expiresAt }) } };
}

/**
 * A recharge's expiry as the payment's mapping computed it: any valid instant
 * with its offset, normalised to UTC. It may be past (a late webhook); it may
 * not be further than the bound from the command's time.
 */
export function rechargeExpiryOf(
  expiresAt: string | undefined,
  now: string,
): { kind: 'expiry'; expiresAt: string | undefined } | { kind: 'refused'; error: InvalidGrantTerms } {
  if (expiresAt === undefined) return { kind: 'expiry', expiresAt: undefined };
  const expires = DateTime.fromISO(expiresAt, { zone: 'utc', setZone: false });
  if (!expires.isValid || !/(Z|[+-]\d\d:?\d\d)$/.test(expiresAt)) {
    return refused('expiresAt', 'must be an ISO 8601 date and time with its offset, e.g. 2027-01-31T00:00:00Z');
  }
  if (expires > DateTime.fromISO(now, { zone: 'utc' }).plus({ years: GRANT_EXPIRY_YEARS_MAX })) {
    return refused('expiresAt', `must be within ${GRANT_EXPIRY_YEARS_MAX} years`);
  }
  return { kind: 'expiry', expiresAt: expires.toUTC().toISO() };
}

function expiryOf(
  data: GrantBonus['data'],
  now: string,
): { kind: 'expiry'; expiresAt: string | undefined } | { kind: 'refused'; error: InvalidGrantTerms } {
  const decidedAt = DateTime.fromISO(now, { zone: 'utc' });
  if (data.expiresAt !== undefined && data.expiresIn !== undefined) {
    return refused('expiresIn', 'give expiresAt or expiresIn, not both');
  }
  let expires: DateTime | undefined;
  if (data.expiresAt !== undefined) {
    expires = DateTime.fromISO(data.expiresAt, { zone: 'utc', setZone: false });
    if (!expires.isValid || !/(Z|[+-]\d\d:?\d\d)$/.test(data.expiresAt)) {
      return refused('expiresAt', 'must be an ISO 8601 date and time with its offset, e.g. 2027-01-31T00:00:00Z');
    }
  }
  if (data.expiresIn !== undefined) {
    const duration = Duration.fromISO(data.expiresIn);
    if (!duration.isValid) return refused('expiresIn', 'must be an ISO 8601 duration, e.g. P30D or PT12H');
    expires = decidedAt.plus(duration);
  }
  if (expires === undefined) return { kind: 'expiry', expiresAt: undefined };
  const field = data.expiresIn === undefined ? 'expiresAt' : 'expiresIn';
  // A duration too long for a date (P300000Y) makes an invalid one: refused with the bound it passes.
  if (!expires.isValid) return refused(field, `must be within ${GRANT_EXPIRY_YEARS_MAX} years`);
  if (expires <= decidedAt)
    return refused(data.expiresIn === undefined ? 'expiresAt' : 'expiresIn', 'must be after now');
  if (expires > decidedAt.plus({ years: GRANT_EXPIRY_YEARS_MAX })) {
    return refused(
      data.expiresIn === undefined ? 'expiresAt' : 'expiresIn',
      `must be within ${GRANT_EXPIRY_YEARS_MAX} years`,
    );
  }
  return { kind: 'expiry', expiresAt: expires.toUTC().toISO()! };
}

function refused(field: InvalidGrantTerms['field'], reason: string): { kind: 'refused'; error: InvalidGrantTerms } {
  return { kind: 'refused', error: { type: 'invalid-grant-terms', field, reason } };
}
