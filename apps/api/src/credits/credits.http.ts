import { HttpStatus, type PipeTransform } from '@nestjs/common';
import type { Command, CommandBus } from '@nestjs/cqrs';
import { ApiProperty } from '@nestjs/swagger';
import { type CreditsDomainError, type GrantNotClosable, USER_ID_PATTERN, assertNever } from '@libs/credits';
import type { Response } from 'express';
import { ProblemException } from '@libs/http';
import { CommandRetriesExhaustedError, type CreditsCommandResult } from './credits-command.runner';

/** What a command that moved credits answers, the first time and on every replay. */
export class CreditsMovementResponse {
  @ApiProperty({ example: 'user-42' }) userId!: string;
  @ApiProperty({ format: 'uuid' }) eventId!: string;
  @ApiProperty({ description: 'Credits moved, always positive', example: 1 }) amount!: number;
  @ApiProperty({ description: 'Balance right after this movement', example: 99 }) balance!: number;
  @ApiProperty({ description: 'Stream version of the event', example: 2 }) version!: number;
  @ApiProperty({ description: 'Global position of the event (64-bit, as a string)', example: '1042' })
  position!: string;
}

/**
 * Runs a command that moves credits and answers it: 201 for a new movement,
 * 200 and `Idempotent-Replayed: true` for a replay, a problem for a refusal,
 * 503 when it kept losing races with other writers.
 */
export async function runMovement(
  commandBus: CommandBus,
  command: Command<CreditsCommandResult>,
  response: Response,
): Promise<CreditsMovementResponse> {
  try {
    return answerMovement(await commandBus.execute(command), response);
  } catch (error) {
    if (!(error instanceof CommandRetriesExhaustedError)) throw error;
    throw ProblemException.of(503, 'concurrency-conflict', 'Concurrency conflict', {
      detail: 'other writers kept changing this user; retry the request (its idempotency key makes that safe)',
    });
  }
}

export function answerMovement(result: CreditsCommandResult, response: Response): CreditsMovementResponse {
  if (result.kind === 'refused') throw problemOfDomainError(result.error);
  response.status(result.kind === 'recorded' ? HttpStatus.CREATED : HttpStatus.OK);
  if (result.kind === 'replayed') response.setHeader('Idempotent-Replayed', 'true');
  const { eventId, amount, balanceAfter, streamVersion, globalPosition } = result.outcome;
  return {
    userId: result.userId,
    eventId,
    amount,
    balance: balanceAfter,
    version: streamVersion,
    position: globalPosition,
  };
}

export function problemOfDomainError(error: CreditsDomainError): ProblemException {
  switch (error.type) {
    case 'insufficient-credits':
      return ProblemException.of(402, error.type, 'Insufficient credits', {
        detail:
          `the balance is ${error.balance}` +
          (error.frozenCredits === undefined ? '' : ` (${error.frozenCredits} frozen by an open dispute)`) +
          (error.heldCredits === undefined ? '' : ` (${error.heldCredits} held for jobs in progress)`) +
          (error.spendable === undefined ? '' : `, of which ${error.spendable} may be spent`) +
          `, the consumption needs ${error.requested}`,
        balance: error.balance,
        requested: error.requested,
        frozenCredits: error.frozenCredits,
        spendable: error.spendable,
        heldCredits: error.heldCredits,
      });
    case 'idempotency-key-reused':
      return ProblemException.of(409, error.type, 'Idempotency key reused with another payload', {
        detail: `the key "${error.idempotencyKey}" was already used for a different request`,
        idempotencyKey: error.idempotencyKey,
      });
    case 'balance-limit-exceeded':
      return ProblemException.of(422, error.type, 'Balance limit exceeded', {
        detail: `a balance may not exceed ${error.balanceMax} credits`,
        balance: error.balance,
        requested: error.requested,
        balanceMax: error.balanceMax,
      });
    case 'invalid-amount':
      return ProblemException.of(400, error.type, 'Invalid amount', { amount: error.amount });
    case 'unknown-feature':
      return ProblemException.of(404, error.type, 'Unknown feature', {
        detail: `the price list has no feature "${error.feature}"`,
        feature: error.feature,
      });
    case 'amount-override-not-allowed':
      return ProblemException.of(422, error.type, 'Amount override not allowed', {
        detail:
          error.amountMax === undefined
            ? `the price of "${error.feature}" is fixed by the price list`
            : `"${error.feature}" allows an amount of at most ${error.amountMax}`,
        feature: error.feature,
        amountMax: error.amountMax,
      });
    case 'recharge-already-recorded':
      return ProblemException.of(409, error.type, 'Recharge already recorded', {
        detail: `the recharge "${error.rechargeId}" is already recorded for another user`,
        rechargeId: error.rechargeId,
      });
    case 'unknown-recharge':
    case 'refund-already-applied':
    case 'invalid-refund-amount':
    case 'dispute-already-open':
    case 'dispute-already-closed':
      // Refunds and disputes come from Stripe's webhook, which records these as delivery outcomes.
      return ProblemException.of(409, error.type, 'Refund or dispute not applicable', { ...error });
    case 'invalid-grant-terms':
      return ProblemException.of(422, error.type, 'Invalid grant terms', {
        detail: `${error.field} ${error.reason}`,
        field: error.field,
      });
    case 'grant-limit-exceeded':
      return ProblemException.of(422, error.type, 'Grant limit exceeded', {
        detail: `a user may hold at most ${error.activeGrantsMax} grants with credits left; paid credits are never refused`,
        activeGrants: error.activeGrants,
        activeGrantsMax: error.activeGrantsMax,
      });
    case 'unknown-grant':
      return ProblemException.of(404, error.type, 'Unknown grant', {
        detail: `this user has no grant "${error.grantId}"`,
        grantId: error.grantId,
      });
    case 'grant-not-closable':
      return ProblemException.of(409, error.type, 'Grant cannot be closed', {
        detail: grantNotClosableDetail(error.reason),
        grantId: error.grantId,
        reason: error.reason,
        expiresAt: error.expiresAt,
      });
    case 'invalid-hold-terms':
      return ProblemException.of(422, error.type, 'Invalid hold terms', {
        detail: `${error.field} ${error.reason}`,
        field: error.field,
      });
    case 'unknown-hold':
      return ProblemException.of(404, error.type, 'Unknown hold', {
        detail: `this user has no hold "${error.holdId}"`,
        holdId: error.holdId,
      });
    case 'hold-expired':
      return ProblemException.of(409, error.type, 'Hold expired', {
        detail: `the hold expired at ${error.expiresAt}: its credits are released`,
        holdId: error.holdId,
        expiresAt: error.expiresAt,
      });
    case 'hold-already-captured':
      return ProblemException.of(409, error.type, 'Hold already captured', {
        detail: `the hold was captured already, of ${error.capturedAmount} credits`,
        holdId: error.holdId,
        capturedAmount: error.capturedAmount,
      });
    case 'hold-already-released':
      return ProblemException.of(409, error.type, 'Hold already released', {
        detail: 'the hold was released: nothing can be captured from it',
        holdId: error.holdId,
      });
    case 'invalid-capture-amount':
      return ProblemException.of(422, error.type, 'Invalid capture amount', {
        detail: `a capture takes a whole number of credits from 1 to the ${error.heldAmount} held; release the hold to take none`,
        holdId: error.holdId,
        amount: error.amount,
        heldAmount: error.heldAmount,
      });
    case 'hold-not-due':
      return ProblemException.of(409, error.type, 'Hold not due to expire', {
        detail: `the hold expires at ${error.expiresAt}`,
        holdId: error.holdId,
        expiresAt: error.expiresAt,
      });
    case 'top-up-refused':
    case 'unknown-top-up':
      // Decided by the top-up process only, never on a request.
      throw new Error(`${error.type} has no HTTP answer: no route decides top-ups`);
    default:
      return assertNever(error);
  }
}

function grantNotClosableDetail(reason: GrantNotClosable['reason']): string {
  switch (reason) {
    case 'expired':
      return 'the grant has expired';
    case 'voided':
      return 'the grant is voided already';
    case 'not-due':
      return 'the grant is not due to expire';
    case 'recharge':
      return "a recharge's credits leave through a refund of its payment, not a void";
    case 'frozen':
      return 'an open dispute holds some of its credits: it can be closed once the dispute is';
    case 'held':
      return 'a hold reserves some of its credits: it expires when the hold ends';
    default:
      return assertNever(reason);
  }
}

/** Validates the `{userId}` path parameter. */
export class UserIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!USER_ID_PATTERN.test(value)) {
      throw ProblemException.of(400, 'invalid-user-id', 'Invalid user id', {
        detail: 'a user id is 1 to 128 characters of A-Z a-z 0-9 . _ : @ -',
      });
    }
    return value;
  }
}

const GRANT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates a `{grantId}` path parameter: its event's id, a UUID, read in lower case as event ids are. */
export class GrantIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!GRANT_ID_PATTERN.test(value)) {
      throw ProblemException.of(400, 'invalid-grant-id', 'Invalid grant id', { detail: 'a grant id is a UUID' });
    }
    return value.toLowerCase();
  }
}

/** Validates a `{holdId}` path parameter: its event's id, a UUID, read in lower case as event ids are. */
export class HoldIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!GRANT_ID_PATTERN.test(value)) {
      throw ProblemException.of(400, 'invalid-hold-id', 'Invalid hold id', { detail: 'a hold id is a UUID' });
    }
    return value.toLowerCase();
  }
}

const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Reads the `Idempotency-Key` header: 1 to 255 visible ASCII characters. */
export function idempotencyKeyFrom(header: string | undefined, options: { required: boolean }): string | undefined {
  if (header === undefined || header === '') {
    if (!options.required) return undefined;
    throw ProblemException.of(400, 'idempotency-key-required', 'Idempotency-Key header required', {
      detail: 'this request moves credits: send an Idempotency-Key header so a retry cannot apply it twice',
    });
  }
  if (!IDEMPOTENCY_KEY_PATTERN.test(header)) {
    throw ProblemException.of(400, 'invalid-idempotency-key', 'Invalid Idempotency-Key header', {
      detail: 'an idempotency key is 1 to 255 visible ASCII characters',
    });
  }
  return header;
}
