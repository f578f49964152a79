import { DateTime, Duration } from 'luxon';
import type { CompleteRecharge, GrantBonus } from './credits.commands';
import type { InvalidGrantTerms } from './credits.errors';
import type { GrantTerms } from './credits.events';
import { DEFAULT_GRANT_PRIORITY, GRANT_PRIORITY_MAX, type RolloverTerms } from './credits.grants';
import { isCreditAmount } from './credits.limits';

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
 * A recharge's expiry and carry-over as the payment's mapping computed them.
 * The expiry is any valid instant with its offset, normalised to UTC: it may
 * be past (a late webhook), not further than the bound from the command's
 * time. A carry-over needs an expiry, ends after it, and carries a positive
 * whole number of credits at most (all when it names none).
 */
export function rechargeTermsOf(
  data: Pick<CompleteRecharge['data'], 'expiresAt' | 'rollover'>,
  now: string,
):
  | { kind: 'terms'; expiresAt: string | undefined; rollover: RolloverTerms | undefined }
  | { kind: 'refused'; error: InvalidGrantTerms } {
  const expiry = instantOf(data.expiresAt, now, 'expiresAt');
  if (expiry.kind === 'refused') return expiry;
  if (data.rollover === undefined) return { kind: 'terms', expiresAt: expiry.at, rollover: undefined };
  const { creditsMax } = data.rollover;
  if (expiry.at === undefined) return refused('rollover', 'needs the credits to expire (expiresAt)');
  if (creditsMax !== undefined && !isCreditAmount(creditsMax)) {
    return refused('rollover', 'creditsMax must be a positive whole number of credits');
  }
  const carriedUntil = instantOf(data.rollover.expiresAt, now, 'rollover');
  if (carriedUntil.kind === 'refused') return carriedUntil;
  if (carriedUntil.at === undefined || Date.parse(carriedUntil.at) <= Date.parse(expiry.at)) {
    return refused('rollover', 'expiresAt must be after the credits expire');
  }
  const rollover = { ...(creditsMax === undefined ? {} : { creditsMax }), expiresAt: carriedUntil.at };
  return { kind: 'terms', expiresAt: expiry.at, rollover };
}

/** An instant with its offset, normalised to UTC; past or future, within the bound from `now`. */
function instantOf(
  value: string | undefined,
  now: string,
  field: InvalidGrantTerms['field'],
): { kind: 'instant'; at: string | undefined } | { kind: 'refused'; error: InvalidGrantTerms } {
  if (value === undefined) return { kind: 'instant', at: undefined };
  const instant = DateTime.fromISO(value, { zone: 'utc', setZone: false });
  if (!instant.isValid || !/(Z|[+-]\d\d:?\d\d)$/.test(value)) {
    return refused(field, 'must be an ISO 8601 date and time with its offset, e.g. 2027-01-31T00:00:00Z');
  }
  if (instant > DateTime.fromISO(now, { zone: 'utc' }).plus({ years: GRANT_EXPIRY_YEARS_MAX })) {
    return refused(field, `must be within ${GRANT_EXPIRY_YEARS_MAX} years`);
  }
  return { kind: 'instant', at: instant.toUTC().toISO() };
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
