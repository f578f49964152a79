import type { CreditsEventType } from './credits.events';
import { DEFAULT_GRANT_PRIORITY } from './credits.grants';

/**
 * One upcaster per event type and stored schema version: a pure function of
 * that version's data to the next version's (see the schema-evolution rule in
 * `credits.events.ts`). The parser applies them from the stored version up to
 * the current one.
 */
type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

export const CURRENT_SCHEMA_VERSION: Readonly<Record<CreditsEventType, number>> = {
  RechargeCompleted: 3,
  CreditsConsumed: 2,
  BonusGranted: 2,
  RechargeRefunded: 2,
  RefundReversed: 2,
  CreditsFrozen: 1,
  CreditsUnfrozen: 2,
  CreditsExpired: 1,
  CreditsRolledOver: 1,
  GrantVoided: 1,
  CreditsHeld: 1,
  HoldCaptured: 1,
  HoldReleased: 1,
  HoldExpired: 1,
  TopUpRequested: 1,
  TopUpSucceeded: 1,
  TopUpFailed: 1,
};

/** `UPCASTERS[type][v]` turns version `v` into version `v + 1`. */
const UPCASTERS: Partial<Record<CreditsEventType, Record<number, Upcaster>>> = {
  // Before grants, a recharge was paid credits that never expired; a bonus promotional ones. What debt they
  // paid is the stream's, not the event's: the fold computes it.
  // Version 3 added an optional carry-over: a version 2 recharge has none.
  RechargeCompleted: {
    1: (data) => ({ ...data, category: 'paid', priority: DEFAULT_GRANT_PRIORITY.paid }),
    2: (data) => data,
  },
  BonusGranted: {
    1: (data) => ({ ...data, category: 'promotional', priority: DEFAULT_GRANT_PRIORITY.promotional }),
  },
  // Which grants it drew from is the stream's: absent `drawnFrom`, the fold draws in spend order.
  CreditsConsumed: { 1: (data) => data },
  // Recharges did not expire before version 2: nothing lapsed, nothing was returned to a closed grant, and
  // no dispute's release expired a grant. Which grants a take-back took from, or a give-back returned to, is
  // the stream's: absent `takenFrom` and `givenTo`, the fold places them by the rules of then.
  RechargeRefunded: { 1: (data) => ({ ...data, creditsLapsed: 0 }) },
  RefundReversed: { 1: (data) => ({ ...data, creditsLapseReversed: 0, creditsLapsedOnReturn: 0 }) },
  CreditsUnfrozen: { 1: (data) => ({ ...data, expired: [] }) },
};

/** The event's data at the current version; throws for a version this build does not know. */
export function upcast(type: CreditsEventType, schemaVersion: number, data: unknown): unknown {
  const current = CURRENT_SCHEMA_VERSION[type];
  if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > current) {
    throw new Error(`${type} schema version ${schemaVersion} is not known to this build`);
  }
  let upcasted = data as Record<string, unknown>;
  for (let version = schemaVersion; version < current; version++) {
    const upcaster = UPCASTERS[type]?.[version];
    if (upcaster === undefined) throw new Error(`no upcaster of ${type} from schema version ${version}`);
    upcasted = upcaster(upcasted);
  }
  return upcasted;
}
