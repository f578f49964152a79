import { DateTime, Duration } from 'luxon';
import type { CaptureHold, ExpireHold, PlaceHold, ReleaseHold } from './credits.commands';
import { type Decision, record, refuse } from './credits.decision';
import type {
  CreditsEventMetadata,
  CreditsHeld,
  HoldCaptured,
  HoldExpired,
  HoldReleased,
  HoldReturn,
} from './credits.events';
import { GRANT_EXPIRY_YEARS_MAX } from './credits.grant-terms';
import { type HoldEnd, planDraw, planHoldEnd } from './credits.grants';
import { HOLD_EXPIRES_IN_DEFAULT, type HoldState } from './credits.holds';
import { eventIdFor } from './credits.idempotency';
import { type CreditsState, decisionTimeMs, insufficientCredits, spendableCreditsAt } from './credits.state';
import { creditsStreamId } from './credits.stream';
import { priceFeature } from './price-list';

/**
 * Holds: a job's credits reserved before it runs (`placeHold`), then consumed as far as it used them
 * (`captureHold`) or returned (`releaseHold`, or `expireHold` by the expiry process once it is past its
 * `expiresAt`). A hold ends once: the three share its key (`holdEndedIdempotencyKey`).
 */

/** Credits reserved for a job, priced as a consumption, from what may be spent now, in spend order. */
export function placeHold(command: PlaceHold, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, feature, reference, price, requestedAmount } = command.data;
  const pricing = priceFeature(feature, price, requestedAmount);
  if (pricing.kind === 'refused') return refuse(pricing.error);
  const nowMs = decisionTimeMs(metadata.occurredAt);
  const expiry = holdExpiryOf(command.data.expiresIn ?? HOLD_EXPIRES_IN_DEFAULT, nowMs);
  if (expiry.kind === 'refused') return expiry.decision;
  const amount = pricing.amount;
  const spendable = spendableCreditsAt(state, nowMs);
  const drawnFrom = amount > spendable ? undefined : planDraw(state.grants, amount, nowMs);
  if (drawnFrom === undefined) return refuse(insufficientCredits(state, amount, spendable));
  const event: CreditsHeld = {
    type: 'CreditsHeld',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { feature, reference, amount, expiresAt: expiry.expiresAt, drawnFrom, metadata: command.data.metadata },
    metadata,
  };
  return record(event);
}

/**
 * A hold's job used `amount` (all when absent): consumed from the hold's grants in the order it drew them, the
 * rest returned (or lapsed where a grant closed or passed its expiry meanwhile). Refused from the hold's
 * `expiresAt` on, even before its expiry is recorded. The same capture again answers its first outcome.
 */
export function captureHold(command: CaptureHold, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, holdId } = command.data;
  const hold = state.holds.get(holdId);
  if (hold === undefined) return refuse({ type: 'unknown-hold', holdId });
  const amount = command.data.amount ?? hold.amount;
  if (hold.status !== 'active') return endedHoldAnswer(hold, state, metadata, { captureOf: amount });
  const nowMs = decisionTimeMs(metadata.occurredAt);
  if (nowMs >= hold.expiresAtMs) return refuse({ type: 'hold-expired', holdId, expiresAt: hold.expiresAt });
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > hold.amount) {
    return refuse({ type: 'invalid-capture-amount', holdId, amount, heldAmount: hold.amount });
  }
  const end = planHoldEnd(state.grants, hold.drawnFrom, amount, nowMs);
  const { capturedFrom } = end;
  const returned = returnOf(end);
  const event: HoldCaptured = {
    type: 'HoldCaptured',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { holdId, feature: hold.feature, reference: hold.reference, amount, capturedFrom, ...returned },
    metadata,
  };
  return record(event);
}

/** A hold's job failed: all its credits return. Releasing a released or expired hold answers how it ended. */
export function releaseHold(command: ReleaseHold, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, holdId } = command.data;
  const hold = state.holds.get(holdId);
  if (hold === undefined) return refuse({ type: 'unknown-hold', holdId });
  if (hold.status !== 'active') return endedHoldAnswer(hold, state, metadata, { captureOf: undefined });
  const returned = returnOf(planHoldEnd(state.grants, hold.drawnFrom, 0, decisionTimeMs(metadata.occurredAt)));
  const event: HoldReleased = {
    type: 'HoldReleased',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { holdId, ...returned },
    metadata,
  };
  return record(event);
}

/** The expiry process releases a hold past its `expiresAt`, once (the key is the hold's). */
export function expireHold(command: ExpireHold, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, holdId } = command.data;
  const hold = state.holds.get(holdId);
  if (hold === undefined) return refuse({ type: 'unknown-hold', holdId });
  if (hold.status !== 'active') return endedHoldAnswer(hold, state, metadata, { captureOf: undefined });
  const nowMs = decisionTimeMs(metadata.occurredAt);
  if (nowMs < hold.expiresAtMs) return refuse({ type: 'hold-not-due', holdId, expiresAt: hold.expiresAt });
  const returned = returnOf(planHoldEnd(state.grants, hold.drawnFrom, 0, nowMs));
  const event: HoldExpired = {
    type: 'HoldExpired',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { holdId, expiresAt: hold.expiresAt, ...returned },
    metadata,
  };
  return record(event);
}

/**
 * A command for a hold that ended: the same capture (same amount) or a release of a released or expired hold
 * answers the first outcome; any other is refused with how the hold ended.
 */
function endedHoldAnswer(
  hold: HoldState,
  state: CreditsState,
  metadata: CreditsEventMetadata,
  asked: { captureOf: number | undefined },
): Decision {
  const outcome = state.outcomes.get(metadata.idempotencyKey);
  const { holdId } = hold;
  const captureAgain = hold.status === 'captured' && asked.captureOf === hold.capturedAmount;
  const releaseAgain = hold.status !== 'captured' && asked.captureOf === undefined;
  if (outcome !== undefined && (captureAgain || releaseAgain)) return { kind: 'replayed', outcome };
  switch (hold.status) {
    case 'captured':
      return refuse({ type: 'hold-already-captured', holdId, capturedAmount: hold.capturedAmount });
    case 'released':
      return refuse({ type: 'hold-already-released', holdId });
    case 'expired':
    case 'active':
      return refuse({ type: 'hold-expired', holdId, expiresAt: hold.expiresAt });
  }
}

/** What a hold's end did with the credits it did not consume: what its event records. */
function returnOf(end: HoldEnd): HoldReturn {
  const { debtPaidFrom, returnedTo, frozenFrom, lapsed, creditsLapsedOnReturn, expired } = end;
  return { debtPaidFrom, returnedTo, frozenFrom, lapsed, creditsLapsedOnReturn, expired };
}

/** Milliseconds of the units that last the same in UTC whatever the date (not months, quarters or years). */
const FIXED_UNIT_MS: Readonly<Record<string, number>> = {
  weeks: 604_800_000,
  days: 86_400_000,
  hours: 3_600_000,
  minutes: 60_000,
  seconds: 1_000,
  milliseconds: 1,
};

/**
 * What an `expiresIn` says: a refusal, a length in milliseconds (units that last the same whatever the date), or
 * calendar units (months, years) to add as luxon counts them.
 */
type HoldDuration =
  { kind: 'refused'; reason: string } | { kind: 'fixed'; ms: number } | { kind: 'calendar'; duration: Duration };

/**
 * Durations read once: holds name a few (the default, a job's usual life), and reading one with luxon costs more
 * than the rest of a hold's decision. A bound keeps hostile input small.
 */
const heldDurations = new Map<string, HoldDuration>();
const HELD_DURATIONS_MAX = 1_000;

function holdDurationOf(expiresIn: string): HoldDuration {
  let known = heldDurations.get(expiresIn);
  if (known !== undefined) return known;
  known = readHoldDuration(expiresIn);
  if (heldDurations.size >= HELD_DURATIONS_MAX) heldDurations.clear();
  heldDurations.set(expiresIn, known);
  return known;
}

function readHoldDuration(expiresIn: string): HoldDuration {
  const duration = Duration.fromISO(expiresIn);
  if (!duration.isValid) return { kind: 'refused', reason: 'must be an ISO 8601 duration, e.g. PT15M' };
  const units = duration.toObject() as Record<string, number>;
  // Units of either sign would cancel in one reckoning and not in another (P1MT-720H): each must be positive or 0.
  if (Object.values(units).some((value) => value < 0))
    return { kind: 'refused', reason: 'must be a positive duration' };
  if (Object.keys(units).some((unit) => FIXED_UNIT_MS[unit] === undefined)) return { kind: 'calendar', duration };
  const ms = Object.entries(units).reduce((sum, [unit, value]) => sum + value * FIXED_UNIT_MS[unit], 0);
  return { kind: 'fixed', ms };
}

/**
 * A hold's `expiresIn`: a positive ISO 8601 duration from the command's time, within the grants' bound. Units of
 * fixed length are added as milliseconds; months and years as calendar units in UTC (a month from the 31st
 * of January is the last day of February), as luxon counts them, which costs more and is rare.
 */
function holdExpiryOf(
  expiresIn: string,
  decidedAtMs: number,
): { kind: 'expiry'; expiresAt: string } | { kind: 'refused'; decision: Decision } {
  const refused = (reason: string) => ({
    kind: 'refused' as const,
    decision: refuse({ type: 'invalid-hold-terms', field: 'expiresIn', reason }),
  });
  const duration = holdDurationOf(expiresIn);
  if (duration.kind === 'refused') return refused(duration.reason);
  const expiresAtMs =
    duration.kind === 'fixed'
      ? decidedAtMs + duration.ms
      : DateTime.fromMillis(decidedAtMs, { zone: 'utc' }).plus(duration.duration).toMillis();
  if (!Number.isFinite(expiresAtMs) || expiresAtMs > expiryBoundMs(decidedAtMs)) {
    return refused(`must be within ${GRANT_EXPIRY_YEARS_MAX} years`);
  }
  if (expiresAtMs <= decidedAtMs) return refused('must be a positive duration');
  return { kind: 'expiry', expiresAt: new Date(expiresAtMs).toISOString() };
}

/** The latest a hold decided at `decidedAtMs` may expire: as far away as a grant may. */
function expiryBoundMs(decidedAtMs: number): number {
  const bound = new Date(decidedAtMs);
  bound.setUTCFullYear(bound.getUTCFullYear() + GRANT_EXPIRY_YEARS_MAX);
  return bound.getTime();
}
