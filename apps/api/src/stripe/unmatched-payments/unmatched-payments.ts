import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { DuplicateEventIdError, EVENT_STORE, type EventStore, type SqlDriver } from '@libs/event-store';
import {
  type StripeEventEnvelope,
  type StripePayment,
  UNMATCHED_PAYMENTS_STREAM,
  type UnmatchedPayment,
  foldUnmatchedPayments,
  parkedPaymentAssigned,
  paymentParked,
} from '@libs/stripe';
import { type DeliveryOutcome, READ_MODEL_DB, recordedRechargeIds } from '@projections';
import type { CreditsCommandResult } from '../../credits/credits-command.runner';
import { RechargesLookup } from '../recharges-lookup';
import { rechargeCommandOf } from '../stripe-recharge';

export type Assignment = { userId: string; credits?: number; assignedBy: string };

export type AssignmentResult =
  { kind: 'not-parked' } | { kind: 'credits-required'; reason: string } | { kind: 'ran'; result: CreditsCommandResult };

/**
 * Payments no user or no credit count could be found for: kept as events on
 * one stream with the full Stripe object, listed for operators, and credited
 * once an operator names the user.
 */
@Injectable()
export class UnmatchedPayments {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODEL_DB) private readonly db: SqlDriver,
    private readonly recharges: RechargesLookup,
    private readonly commandBus: CommandBus,
  ) {}

  /** Parks a payment unless another event of it was credited already; parking twice keeps the first. */
  async park(payment: StripePayment, reason: string, event: StripeEventEnvelope): Promise<DeliveryOutcome> {
    const credited = await this.recharges.rechargeById(payment.paymentId);
    if (credited !== undefined) {
      return {
        status: 'duplicate',
        reason: 'payment already credited',
        userId: credited.userId,
        rechargeId: payment.paymentId,
      };
    }
    const parked = paymentParked(payment, reason, event.type, event.data.object, new Date().toISOString());
    try {
      await this.store.appendToStream(UNMATCHED_PAYMENTS_STREAM, [parked], { expectedVersion: 'any' });
    } catch (error) {
      if (!(error instanceof DuplicateEventIdError)) throw error;
    }
    return { status: 'parked', reason, rechargeId: payment.paymentId };
  }

  /** Parked payments not yet credited to anyone, oldest first. */
  async list(): Promise<UnmatchedPayment[]> {
    const unassigned = [...(await this.readAll()).values()].filter((payment) => payment.assigned === undefined);
    const credited = await recordedRechargeIds(
      this.db,
      unassigned.map((payment) => payment.paymentId),
    );
    return unassigned.filter((payment) => !credited.has(payment.paymentId));
  }

  /**
   * Credits a parked payment to the user an operator names. Idempotent: the
   * recharge is keyed by the payment id, so a second assignment replays (or is
   * refused if it names another user).
   */
  async assign(paymentId: string, assignment: Assignment): Promise<AssignmentResult> {
    const parked = (await this.readAll()).get(paymentId);
    if (parked === undefined) return { kind: 'not-parked' };
    const known = parked.payment.credits;
    const credits = known.kind === 'known' ? known.credits : assignment.credits;
    if (credits === undefined)
      return { kind: 'credits-required', reason: known.kind === 'unknown' ? known.reason : '' };
    const result: CreditsCommandResult = await this.commandBus.execute(
      rechargeCommandOf(parked.payment, assignment.userId, credits, {
        apiKey: assignment.assignedBy,
        stripeEventId: parked.stripeEventId,
      }),
    );
    if (result.kind === 'recorded' || result.kind === 'replayed')
      await this.recordAssignment(paymentId, assignment, credits);
    return { kind: 'ran', result };
  }

  private async recordAssignment(paymentId: string, assignment: Assignment, credits: number): Promise<void> {
    const { userId, assignedBy } = assignment;
    const assigned = parkedPaymentAssigned({ paymentId, userId, credits, assignedBy }, new Date().toISOString());
    try {
      await this.store.appendToStream(UNMATCHED_PAYMENTS_STREAM, [assigned], { expectedVersion: 'any' });
    } catch (error) {
      if (!(error instanceof DuplicateEventIdError)) throw error;
    }
  }

  private async readAll(): Promise<Map<string, UnmatchedPayment>> {
    const events = [];
    for await (const event of this.store.readStream(UNMATCHED_PAYMENTS_STREAM)) events.push(event);
    return foldUnmatchedPayments(events);
  }
}
