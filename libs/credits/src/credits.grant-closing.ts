import type { ExpireGrant, VoidGrant } from './credits.commands';
import { type Decision, record, refuse } from './credits.decision';
import type {
  CreditsEvent,
  CreditsEventMetadata,
  CreditsExpired,
  CreditsRolledOver,
  GrantVoided,
} from './credits.events';
import { type Grant, grantOf } from './credits.grants';
import { eventIdFor, grantClosedIdempotencyKey, payloadFingerprint } from './credits.idempotency';
import type { CreditsState } from './credits.state';
import { creditsStreamId } from './credits.stream';

/**
 * A grant past its `expiresAt` lapses: its unspent, unfrozen credits leave the
 * balance (frozen ones stay until their dispute closes), except what its
 * carry-over moves into a new grant (`CreditsRolledOver`). Refused before it is
 * due, and for a grant closed already; the key (the grant's) makes a second
 * expiry of it a replay, however many processes try.
 */
export function expireGrant(command: ExpireGrant, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, grantId } = command.data;
  const grant = state.grants.byId.get(grantId);
  if (grant === undefined) return refuse({ type: 'unknown-grant', grantId });
  const closed = refuseClosed(grant);
  if (closed) return closed;
  if (grant.expiresAt === undefined || Date.parse(metadata.occurredAt) < grant.expiresAtMs) {
    return refuse({ type: 'grant-not-closable', grantId, reason: 'not-due', ...expiresAtOf(grant) });
  }
  // A hold reserves some of its credits: the grant closes when the last such hold ends (`planHoldEnd`). A plan
  // period's grant does not wait: it carries over what is not held, and what the hold hands back follows.
  if (grant.held > 0 && grant.rollover === undefined) {
    return refuse({ type: 'grant-not-closable', grantId, reason: 'held', ...expiresAtOf(grant) });
  }
  const id = eventIdFor(creditsStreamId(userId), metadata.idempotencyKey);
  const credits = unfrozenRemaining(state, grantId);
  const carried = grant.rollover === undefined ? 0 : Math.min(credits, grant.rollover.creditsMax ?? credits);
  if (grant.rollover !== undefined && carried > 0) {
    const rolledOver: CreditsRolledOver = {
      type: 'CreditsRolledOver',
      schemaVersion: 1,
      id,
      data: {
        grantId,
        expiresAt: grant.expiresAt,
        creditsExpired: credits - carried,
        creditsRolledOver: carried,
        rolledOverExpiresAt: grant.rollover.expiresAt,
        debtPaidCredits: Math.min(state.grants.debt, carried),
      },
      metadata,
    };
    return record(rolledOver);
  }
  const event: CreditsExpired = {
    type: 'CreditsExpired',
    schemaVersion: 1,
    id,
    data: { grantId, expiresAt: grant.expiresAt, credits },
    metadata,
  };
  return record(event);
}

/**
 * An operator removes what is left of a bonus (paid or promotional). A
 * recharge's credits are not voided: they leave through a refund, which keeps
 * the money and the credits together. A grant past its expiry lapses instead.
 */
export function voidGrant(command: VoidGrant, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, grantId, reason } = command.data;
  const grant = state.grants.byId.get(grantId);
  if (grant === undefined) return refuse({ type: 'unknown-grant', grantId });
  const closed = refuseClosed(grant);
  if (closed) return closed;
  if (grant.rechargeId !== undefined) return refuse({ type: 'grant-not-closable', grantId, reason: 'recharge' });
  if (Date.parse(metadata.occurredAt) >= grant.expiresAtMs) {
    return refuse({ type: 'grant-not-closable', grantId, reason: 'expired', ...expiresAtOf(grant) });
  }
  const event: GrantVoided = {
    type: 'GrantVoided',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { grantId, reason, credits: unfrozenRemaining(state, grantId), metadata: command.data.metadata },
    metadata,
  };
  return record(event);
}

/**
 * A grant closed already, or holding credits an open dispute froze: those do
 * not lapse or go while the dispute is open; the grant closes once it is.
 */
function refuseClosed(grant: Grant): Decision | undefined {
  if (grant.status === 'active' && grant.frozen > 0) {
    return refuse({ type: 'grant-not-closable', grantId: grant.grantId, reason: 'frozen', ...expiresAtOf(grant) });
  }
  if (grant.status === 'active') return undefined;
  return refuse({ type: 'grant-not-closable', grantId: grant.grantId, reason: grant.status, ...expiresAtOf(grant) });
}

function expiresAtOf(grant: Grant): { expiresAt?: string } {
  return grant.expiresAt === undefined ? {} : { expiresAt: grant.expiresAt };
}

function unfrozenRemaining(state: CreditsState, grantId: string): number {
  const grant = grantOf(state.grants, grantId);
  return grant.remaining - grant.frozen;
}

/**
 * The recharge's grant past its expiry with a carry-over the expiry process
 * has not recorded yet: its `CreditsRolledOver`, decided as the process
 * would (same key, same event id), so that a refund, a dispute or a
 * give-back of the recharge decides on the grants as they stand after it (a
 * carry-over is capped: taking credits from the grant before it would change
 * what it carries). Undefined when there is none to record.
 */
export function carryOverDue(
  state: CreditsState,
  userId: string,
  rechargeId: string,
  metadata: CreditsEventMetadata,
): CreditsEvent | undefined {
  const recharge = state.recharges.get(rechargeId);
  const grant = recharge === undefined ? undefined : state.grants.byId.get(recharge.grantId);
  if (grant?.rollover === undefined || grant.status !== 'active' || grant.frozen > 0) return undefined;
  if (Date.parse(metadata.occurredAt) < grant.expiresAtMs) return undefined;
  const command: ExpireGrant = {
    type: 'ExpireGrant',
    data: { userId, grantId: grant.grantId },
    metadata: { idempotencyKey: grantClosedIdempotencyKey(grant.grantId, 'expired'), now: metadata.occurredAt },
  };
  const keyed = {
    ...metadata,
    idempotencyKey: command.metadata.idempotencyKey,
    payloadFingerprint: payloadFingerprint(command),
  };
  const decision = expireGrant(command, state, keyed);
  return decision.kind === 'recorded' ? decision.events[0] : undefined;
}
