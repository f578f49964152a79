import type { CompleteRecharge, ConsumeCredits, CreditsCommand, GrantBonus } from './credits.commands';
import type { CreditsDomainError } from './credits.errors';
import type {
  BonusGranted,
  CreditsConsumed,
  CreditsEventMetadata,
  RechargeCompleted,
  CreditsEvent,
} from './credits.events';
import { eventIdFor, payloadFingerprint, rechargeEventId, rechargeIdempotencyKey } from './credits.idempotency';
import { BALANCE_CREDITS_MAX, isCreditAmount } from './credits.limits';
import { type CommandOutcome, type CreditsState, assertNever } from './credits.state';
import { creditsStreamId } from './credits.stream';
import { priceFeature } from './price-list';

export type Decision =
  /** New events to append at the state's version. */
  | { kind: 'recorded'; events: CreditsEvent[] }
  /** The same command was already recorded: answer with its original outcome. */
  | { kind: 'replayed'; outcome: CommandOutcome }
  | { kind: 'refused'; error: CreditsDomainError };

export function decide(command: CreditsCommand, state: CreditsState): Decision {
  assertRechargeKeyedByItsId(command);
  const fingerprint = payloadFingerprint(command);
  const original = state.outcomes.get(command.metadata.idempotencyKey);
  if (original !== undefined) {
    return original.payloadFingerprint === fingerprint
      ? { kind: 'replayed', outcome: original }
      : refuse({ type: 'idempotency-key-reused', idempotencyKey: command.metadata.idempotencyKey });
  }
  const metadata: CreditsEventMetadata = {
    idempotencyKey: command.metadata.idempotencyKey,
    payloadFingerprint: fingerprint,
    occurredAt: command.metadata.now,
  };
  switch (command.type) {
    case 'ConsumeCredits':
      return consumeCredits(command, state, metadata);
    case 'GrantBonus':
      return grantBonus(command, state, metadata);
    case 'CompleteRecharge':
      return completeRecharge(command, state, metadata);
    default:
      return assertNever(command);
  }
}

function consumeCredits(command: ConsumeCredits, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, feature, reference, price, requestedAmount } = command.data;
  const pricing = priceFeature(feature, price, requestedAmount);
  if (pricing.kind === 'refused') return refuse(pricing.error);
  const amount = pricing.amount;
  if (amount > state.balance) {
    return refuse({ type: 'insufficient-credits', balance: state.balance, requested: amount });
  }
  const event: CreditsConsumed = {
    type: 'CreditsConsumed',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { amount, feature, reference, metadata: command.data.metadata },
    metadata,
  };
  return record(event);
}

function grantBonus(command: GrantBonus, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { userId, amount, reason } = command.data;
  const refusal = refuseCredit(amount, state);
  if (refusal) return refusal;
  const event: BonusGranted = {
    type: 'BonusGranted',
    schemaVersion: 1,
    id: eventIdFor(creditsStreamId(userId), metadata.idempotencyKey),
    data: { amount, reason, metadata: command.data.metadata },
    metadata,
  };
  return record(event);
}

function completeRecharge(command: CompleteRecharge, state: CreditsState, metadata: CreditsEventMetadata): Decision {
  const { rechargeId, credits, amountPaid, currency, source } = command.data;
  const refusal = refuseCredit(credits, state);
  if (refusal) return refusal;
  const event: RechargeCompleted = {
    type: 'RechargeCompleted',
    schemaVersion: 1,
    id: rechargeEventId(rechargeId),
    data: { rechargeId, credits, amountPaid, currency, source, metadata: command.data.metadata },
    metadata,
  };
  return record(event);
}

/** Credits added must be a valid amount and keep the balance within its bound. */
function refuseCredit(amount: number, state: CreditsState): Decision | undefined {
  if (!isCreditAmount(amount)) return refuse({ type: 'invalid-amount', amount });
  if (state.balance + amount > BALANCE_CREDITS_MAX) {
    return refuse({
      type: 'balance-limit-exceeded',
      balance: state.balance,
      requested: amount,
      balanceMax: BALANCE_CREDITS_MAX,
    });
  }
  return undefined;
}

/** Two keys for one recharge id would let one payment be credited twice: a caller's bug, asserted. */
function assertRechargeKeyedByItsId(command: CreditsCommand): void {
  if (command.type !== 'CompleteRecharge') return;
  const expected = rechargeIdempotencyKey(command.data.rechargeId);
  if (command.metadata.idempotencyKey !== expected) {
    throw new Error(`a CompleteRecharge must carry the idempotency key "${expected}"`);
  }
}

function record(...events: CreditsEvent[]): Decision {
  return { kind: 'recorded', events };
}

function refuse(error: CreditsDomainError): Decision {
  return { kind: 'refused', error };
}
