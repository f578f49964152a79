import { setTimeout as sleep } from 'node:timers/promises';
import { checkoutSessionCompleted, signedDelivery } from '../test/support/stripe-events';
import type { LedgerClient, Outcome } from './ledger-client';
import { PACK } from './model/commands';
import { SIM_WEBHOOK_SECRET } from './system/ledger-environment';
import type { Trace } from './trace';
import type { Step } from './workload';

const FORGERS_SECRET = 'whsec_not_the_ledgers_0123456789';

/**
 * Sends each step's request as a product backend (or Stripe) would, and keeps what came back: the outcomes the
 * checker judges, the holds placed (a later capture names them), the payments Stripe signed.
 */
export class StepExecutor {
  readonly outcomes = new Map<number, Outcome>();
  readonly holdIds = new Map<number, string>();
  readonly payments = new Map<string, { kind: 'checkout'; step: number; userId: string; paymentIntentId: string }>();
  /** Violations seen at once, without reading the ledger (a forged delivery accepted). */
  readonly violations: Array<{ step: number; violation: string }> = [];
  private readonly deliveries: Array<Promise<void>> = [];

  constructor(
    private readonly client: LedgerClient,
    private readonly trace: Trace,
  ) {}

  async execute(step: Step): Promise<void> {
    switch (step.kind) {
      case 'consume':
        await this.record(step.step, {
          path: `/v1/users/${step.userId}/consumptions`,
          body: {
            feature: step.feature,
            reference: `c-${step.step}`,
            amount: step.amount,
            metadata: { simStep: step.step },
          },
        });
        return;
      case 'bonus':
        await this.record(step.step, {
          path: `/v1/users/${step.userId}/bonuses`,
          idempotencyKey: `sim-bonus-${step.step}`,
          body: {
            amount: step.amount,
            reason: 'simulation',
            priority: step.priority,
            expiresIn: step.expiresInSeconds === undefined ? undefined : `PT${step.expiresInSeconds}S`,
            metadata: { simStep: step.step },
          },
        });
        return;
      case 'hold':
        return this.placeHold(step);
      case 'capture':
      case 'release':
        return this.endHold(step);
      case 'checkout':
        this.checkout(step);
        return;
      case 'parked-checkout':
        this.parkedCheckout(step);
        return;
      case 'assign':
        return this.assign(step);
      case 'forged-checkout':
        return this.forgedCheckout(step);
      case 'pause':
        await sleep(step.ms);
        return;
      case 'fault':
        throw new Error('faults are struck by the fault injector');
    }
  }

  /** Until every delivery scheduled late has been sent and answered. */
  async deliveriesDone(): Promise<void> {
    while (this.deliveries.length > 0) await Promise.all(this.deliveries.splice(0));
  }

  private async record(
    step: number,
    request: { path: string; body: unknown; idempotencyKey?: string },
  ): Promise<Outcome> {
    this.trace.write(step, 'request', { path: request.path, body: request.body });
    const outcome = await this.client.send({ step, method: 'POST', ...request });
    this.outcomes.set(step, outcome);
    return outcome;
  }

  private async placeHold(step: Extract<Step, { kind: 'hold' }>): Promise<void> {
    const outcome = await this.record(step.step, {
      path: `/v1/users/${step.userId}/holds`,
      body: {
        feature: 'video_generation',
        reference: `h-${step.step}`,
        amount: step.amount,
        expiresIn: `PT${step.expiresInSeconds}S`,
        metadata: { simStep: step.step },
      },
    });
    if (outcome.status === 200 || outcome.status === 201) this.holdIds.set(step.step, outcome.body.holdId as string);
  }

  private async endHold(step: Extract<Step, { kind: 'capture' | 'release' }>): Promise<void> {
    const holdId = this.holdIds.get(step.holdStep);
    if (holdId === undefined) {
      this.trace.write(step.step, 'skipped', { reason: `hold of step ${step.holdStep} not placed (yet)` });
      return;
    }
    const body = step.kind === 'capture' && step.amount !== undefined ? { amount: step.amount } : {};
    await this.record(step.step, { path: `/v1/users/${step.userId}/holds/${holdId}/${step.kind}`, body });
  }

  /** Stripe's delivery of a paid Checkout, sent once or more, late or at once, each one retried as Stripe does. */
  private checkout(step: Extract<Step, { kind: 'checkout' }>): void {
    this.payments.set(step.paymentIntentId, {
      kind: 'checkout',
      step: step.step,
      userId: step.userId,
      paymentIntentId: step.paymentIntentId,
    });
    const event = checkoutCompleted(step.userId, step.paymentIntentId, `evt_sim_${step.step}`);
    const { body, signature } = signedDelivery(event, SIM_WEBHOOK_SECRET);
    for (const delayMs of step.deliveryDelaysMs) {
      this.deliveries.push(this.deliver(step.step, body, signature, delayMs));
    }
  }

  /** A payment Stripe made for no user the ledger can find: parked, credited to no one until assigned. */
  private parkedCheckout(step: Extract<Step, { kind: 'parked-checkout' }>): void {
    const event = checkoutSessionCompleted(
      { payment_intent: step.paymentIntentId, metadata: { packId: PACK.packId } },
      { id: `evt_sim_${step.step}` },
    );
    const { body, signature } = signedDelivery(event, SIM_WEBHOOK_SECRET);
    for (const delayMs of step.deliveryDelaysMs)
      this.deliveries.push(this.deliver(step.step, body, signature, delayMs));
  }

  /** The operator's assignment: from now on the payment is this user's (it is the only assignment of it). */
  private async assign(step: Extract<Step, { kind: 'assign' }>): Promise<void> {
    const { paymentIntentId, userId } = step;
    this.payments.set(paymentIntentId, { kind: 'checkout', step: step.step, userId, paymentIntentId });
    await this.record(step.step, { path: `/v1/admin/unmatched-payments/${paymentIntentId}/assign`, body: { userId } });
  }

  private async deliver(step: number, body: string, signature: string, delayMs: number): Promise<void> {
    await sleep(delayMs);
    this.trace.write(step, 'stripe-delivery', { delayMs });
    const outcome = await this.client.send({
      step,
      method: 'POST',
      path: '/webhooks/stripe',
      raw: { body, headers: { 'content-type': 'application/json', 'stripe-signature': signature } },
    });
    // Any copy acknowledged is Stripe's payment acknowledged.
    if (this.outcomes.get(step)?.status !== 200) this.outcomes.set(step, outcome);
  }

  private async forgedCheckout(step: Extract<Step, { kind: 'forged-checkout' }>): Promise<void> {
    const event = checkoutCompleted(step.userId, step.paymentIntentId, `evt_forged_${step.step}`);
    const signed = signedDelivery(event, step.how === 'wrong-secret' ? FORGERS_SECRET : SIM_WEBHOOK_SECRET);
    // Tampered: signed by Stripe for one pack, then changed in transit to buy five.
    const body = step.how === 'tampered' ? signed.body.replace(`"${PACK.packId}"`, '"credits_500"') : signed.body;
    const outcome = await this.client.send({
      step: step.step,
      method: 'POST',
      path: '/webhooks/stripe',
      raw: { body, headers: { 'content-type': 'application/json', 'stripe-signature': signed.signature } },
    });
    this.outcomes.set(step.step, outcome);
    if (outcome.status !== 400) {
      this.violations.push({ step: step.step, violation: `forged delivery (${step.how}) answered ${outcome.status}` });
    }
  }
}

function checkoutCompleted(userId: string, paymentIntentId: string, eventId: string): object {
  return checkoutSessionCompleted(
    { client_reference_id: userId, payment_intent: paymentIntentId, metadata: { packId: PACK.packId } },
    { id: eventId },
  );
}
