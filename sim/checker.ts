import { type AnswerBody, type LedgerClient, type Outcome, RETRIED_STATUSES } from './ledger-client';
import { AMOUNT_FEATURE, type CheckoutPayment, FEATURE_PRICES, type ModelCommand } from './model/commands';
import { type StoredEvent, UserLedgerModel } from './model/ledger-model';
import type { Step } from './workload';

/** What the simulation sent and what came back, by step: what the checker judges the ledger by. */
export type SentLog = {
  steps: ReadonlyMap<number, Step>;
  outcomes: ReadonlyMap<number, Outcome>;
  /** Checkouts whose signed delivery was sent at least once: the payments Stripe made. */
  payments: ReadonlyMap<string, CheckoutPayment>;
  /** The hold each hold step placed, by that step (a capture or release names it). */
  holdIds: ReadonlyMap<number, string>;
  users: readonly string[];
};

export type StreamsCheck = {
  models: Map<string, UserLedgerModel>;
  events: Map<string, StoredEvent[]>;
  violations: string[];
};

/**
 * Reads every user's stream over the API and judges it against what was sent: each recorded event against the
 * model (`UserLedgerModel`), and each command against its answer. A command answered with success is stored
 * exactly once; one refused is not stored; one whose outcome is unknown is stored at most once; nothing is
 * stored that was not sent; a payment is credited once in the whole ledger, and only if Stripe signed it.
 */
export async function checkStreams(client: LedgerClient, sent: SentLog, step: number): Promise<StreamsCheck> {
  const models = new Map<string, UserLedgerModel>();
  const events = new Map<string, StoredEvent[]>();
  const violations: string[] = [];
  const expectations = {
    commandOf: (commandStep: number) => modelCommandOf(sent.steps.get(commandStep)),
    paymentOf: (paymentIntentId: string) => sent.payments.get(paymentIntentId),
  };
  for (const userId of sent.users) {
    const stream = await readStream(client, userId, step);
    const model = new UserLedgerModel(userId, expectations);
    for (const event of stream) model.apply(event);
    models.set(userId, model);
    events.set(userId, stream);
    violations.push(...model.violations);
  }
  violations.push(
    ...checkAnswers(sent),
    ...checkCommandsStored(sent, models),
    ...checkHoldEnds(sent, models),
    ...checkPaymentsCredited(sent, models),
  );
  return { models, events, violations };
}

/** The model's view of a step's command: what it must have recorded, if anything. */
export function modelCommandOf(step: Step | undefined): ModelCommand | undefined {
  if (step === undefined) return undefined;
  switch (step.kind) {
    case 'consume':
      return {
        kind: 'consume',
        step: step.step,
        userId: step.userId,
        feature: step.feature,
        amount: step.feature === AMOUNT_FEATURE ? step.amount! : FEATURE_PRICES[step.feature],
      };
    case 'bonus':
      return { ...step, kind: 'bonus', priority: step.priority, expiresInSeconds: step.expiresInSeconds };
    case 'hold':
      return { ...step, kind: 'hold', feature: AMOUNT_FEATURE };
    case 'capture':
    case 'release':
    case 'checkout':
    case 'parked-checkout':
    case 'assign':
    case 'forged-checkout':
    case 'fault':
    case 'pause':
      // Judged otherwise: a hold's end by the hold's events, a payment by its recharge, the rest record nothing.
      return undefined;
  }
}

function checkCommandsStored(sent: SentLog, models: Map<string, UserLedgerModel>): string[] {
  const violations: string[] = [];
  for (const [step, outcome] of sent.outcomes) {
    const command = modelCommandOf(sent.steps.get(step));
    if (command === undefined) continue;
    const stored = models.get(command.userId)?.recordedSteps.get(step) ?? 0;
    const expected = expectedCopies(outcome);
    if (!expected.includes(stored)) {
      violations.push(
        `step ${step} (${command.kind} of ${command.userId}) answered ${describe(outcome)} is stored ${stored} times`,
      );
    }
  }
  for (const model of models.values()) {
    for (const [step, copies] of model.recordedSteps) {
      if (!sent.outcomes.has(step) && copies > 0) violations.push(`step ${step} stored but never answered`);
    }
  }
  return violations;
}

/**
 * Answers no request may end with: a 500 is a bug (a database's failure is a 503), and a delivery Stripe
 * signed is never refused (a 4xx makes Stripe give up on a payment it took).
 */
function checkAnswers(sent: SentLog): string[] {
  const violations: string[] = [];
  for (const [step, outcome] of sent.outcomes) {
    if (outcome.status === 'unknown') continue;
    if (outcome.status >= 500 && !RETRIED_STATUSES.has(outcome.status)) {
      violations.push(`step ${step} answered ${outcome.status} ${JSON.stringify(outcome.body).slice(0, 300)}`);
    }
    const kind = sent.steps.get(step)?.kind;
    const signed = kind === 'checkout' || kind === 'parked-checkout';
    if (signed && outcome.status >= 400 && outcome.status < 500) {
      violations.push(`step ${step}: a delivery Stripe signed answered ${outcome.status}`);
    }
  }
  return violations;
}

/**
 * A capture or release answered with success ended its hold as it asked: captured for the amount asked (all
 * of it when none was), or released (or expired, when the release came after its expiry and answers so).
 */
function checkHoldEnds(sent: SentLog, models: Map<string, UserLedgerModel>): string[] {
  const violations: string[] = [];
  for (const [step, outcome] of sent.outcomes) {
    const sentStep = sent.steps.get(step);
    if ((sentStep?.kind !== 'capture' && sentStep?.kind !== 'release') || !isSuccess(outcome)) continue;
    const holdId = sent.holdIds.get(sentStep.holdStep);
    const hold = holdId === undefined ? undefined : models.get(sentStep.userId)?.holds.get(holdId);
    if (hold === undefined) {
      violations.push(`step ${step}: ${sentStep.kind} answered ${outcome.status} of a hold the stream lacks`);
    } else if (sentStep.kind === 'capture') {
      const asked = sentStep.amount ?? hold.amount;
      if (hold.ended !== 'HoldCaptured' || hold.capturedAmount !== asked) {
        violations.push(
          `step ${step}: capture of ${asked} answered ${outcome.status}, the hold ${hold.ended} (${hold.capturedAmount})`,
        );
      }
    } else if (hold.ended !== 'HoldReleased' && hold.ended !== 'HoldExpired') {
      violations.push(`step ${step}: release answered ${outcome.status}, the hold ${hold.ended ?? 'still active'}`);
    }
  }
  return violations;
}

function isSuccess(outcome: Outcome): boolean {
  return outcome.status === 200 || outcome.status === 201;
}

/**
 * How many copies of a command its answer allows: success once, a refusal none, unknown at most one (no
 * answer, or a 502/503/504 after every retry: applied or not, the client cannot tell).
 */
function expectedCopies(outcome: Outcome): number[] {
  if (outcome.status === 'unknown' || RETRIED_STATUSES.has(outcome.status)) return [0, 1];
  if (outcome.status === 200 || outcome.status === 201) return [1];
  return [0];
}

function checkPaymentsCredited(sent: SentLog, models: Map<string, UserLedgerModel>): string[] {
  const violations: string[] = [];
  const credited = new Map<string, number>();
  for (const model of models.values()) {
    for (const [paymentIntentId, copies] of model.recordedPayments) {
      credited.set(paymentIntentId, (credited.get(paymentIntentId) ?? 0) + copies);
    }
  }
  for (const [paymentIntentId, copies] of credited) {
    if (copies > 1) violations.push(`payment ${paymentIntentId} credited ${copies} times`);
  }
  for (const [step, outcome] of sent.outcomes) {
    const sentStep = sent.steps.get(step);
    const acknowledged = outcome.status === 200 || outcome.status === 201;
    if ((sentStep?.kind !== 'checkout' && sentStep?.kind !== 'assign') || !acknowledged) continue;
    if (!credited.has(sentStep.paymentIntentId)) {
      violations.push(`step ${step}: payment ${sentStep.paymentIntentId} acknowledged (200) but never credited`);
    }
  }
  return violations;
}

function describe(outcome: Outcome): string {
  return outcome.status === 'unknown' ? `unknown after ${outcome.attempts} attempts` : String(outcome.status);
}

/** A user's whole stream, page by page, over `GET /v1/users/{userId}/events`. */
export async function readStream(client: LedgerClient, userId: string, step: number): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (let fromVersion: number | null = 1; fromVersion !== null;) {
    const path = `/v1/users/${userId}/events?fromVersion=${fromVersion}&limit=1000`;
    const answer = await client.send({ step, method: 'GET', path });
    if (answer.status !== 200) throw new Error(`reading ${userId}'s stream: ${JSON.stringify(answer)}`);
    events.push(...(answer.body.events as StoredEvent[]));
    fromVersion = answer.body.nextFromVersion as number | null;
  }
  return events;
}

/**
 * The read model, once caught up, against the model: each user's balance and held credits, each grant's
 * remaining credits, each hold's status.
 */
export async function checkReadModel(
  client: LedgerClient,
  models: ReadonlyMap<string, UserLedgerModel>,
  events: ReadonlyMap<string, StoredEvent[]>,
  step: number,
): Promise<string[]> {
  const violations: string[] = [];
  for (const [userId, model] of models) {
    const stream = events.get(userId) ?? [];
    const minPosition = stream.length === 0 ? 0 : stream[stream.length - 1].position;
    const balance = await getOk(client, step, `/v1/users/${userId}/balance?minPosition=${minPosition}`);
    if (balance.balance !== model.balance || balance.heldCredits !== model.heldCredits) {
      violations.push(
        `${userId}: read model balance ${balance.balance} (held ${balance.heldCredits}), ` +
          `the model ${model.balance} (held ${model.heldCredits})`,
      );
    }
    const grants = await getOk(
      client,
      step,
      `/v1/users/${userId}/grants?status=all&limit=1000&minPosition=${minPosition}`,
    );
    for (const grant of grants.grants as Array<{ grantId: string; remainingCredits: number }>) {
      const modelled = model.grants.get(grant.grantId);
      // What the grant still has that no hold reserves (the read model counts held credits in the hold).
      const remaining = modelled === undefined || modelled.closed ? 0 : modelled.remaining;
      if (grant.remainingCredits !== remaining) {
        violations.push(`${userId}: grant ${grant.grantId} has ${grant.remainingCredits} left, the model ${remaining}`);
      }
    }
    if (grants.grants.length !== model.grants.size) {
      violations.push(`${userId}: ${grants.grants.length} grants listed, the model has ${model.grants.size}`);
    }
    const holds = await getOk(
      client,
      step,
      `/v1/users/${userId}/holds?status=all&limit=1000&minPosition=${minPosition}`,
    );
    for (const hold of holds.holds as Array<{ holdId: string; status: string }>) {
      const ended = model.holds.get(hold.holdId)?.ended;
      const status = ended === undefined ? 'active' : ended.replace('Hold', '').toLowerCase();
      if (hold.status !== status)
        violations.push(`${userId}: hold ${hold.holdId} is ${hold.status}, the model ${status}`);
    }
    if (holds.holds.length !== model.holds.size) {
      violations.push(`${userId}: ${holds.holds.length} holds listed, the model has ${model.holds.size}`);
    }
  }
  return violations;
}

/** `GET /v1/admin/health-check`: every section that failed, as violations (lag is a warning, not a failure). */
export async function checkHealth(client: LedgerClient, step: number): Promise<string[]> {
  const report = await getOk(client, step, '/v1/admin/health-check?findings=5');
  return (report.checks as Array<{ name: string; status: string; findings: unknown[] }>)
    .filter((check) => check.status === 'failed')
    .map((check) => `health check ${check.name} failed: ${JSON.stringify(check.findings).slice(0, 500)}`);
}

async function getOk(client: LedgerClient, step: number, path: string): Promise<AnswerBody> {
  const answer = await client.send({ step, method: 'GET', path });
  if (answer.status !== 200) throw new Error(`GET ${path}: ${JSON.stringify(answer).slice(0, 300)}`);
  return answer.body;
}
