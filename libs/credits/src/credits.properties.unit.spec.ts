import fc from 'fast-check';
import type { CreditsCommand } from './credits.commands';
import { type Decision, decide } from './credits.decide';
import type { RecordedCreditsEvent } from './credits.events';
import { rechargeIdempotencyKey } from './credits.idempotency';
import { AMOUNT_CREDITS_MAX } from './credits.limits';
import { type CommandOutcome, type CreditsState, balanceDelta, evolve, initialState } from './credits.state';
import { plainState, recordAfter } from './testing/credits.given-when-then';

/**
 * Invariants over random sequences of commands from a few users sharing a few idempotency keys, run through the
 * command handler's loop (read, fold, decide, append) against an in-memory store. Retries re-send a command that
 * was already recorded, at another time.
 */
const RUNS = { numRuns: 200 };

const USER_IDS = ['user-a', 'user-b', 'user-c'] as const;
const IDEMPOTENCY_KEYS = Array.from({ length: 12 }, (_, index) => `key-${index + 1}`);
const TIMES = ['2025-03-01T09:00:00.000Z', '2025-03-01T09:00:01.000Z', '2025-03-02T17:30:00.000Z'];

describe('credits ledger properties', () => {
  it('never lets a balance go below zero', () => {
    fc.assert(
      fc.property(stepsArbitrary, (steps) => {
        const { handled } = runLedger(steps);

        for (const { stateAfter } of handled) expect(stateAfter.balance).toBeGreaterThanOrEqual(0);
      }),
      RUNS,
    );
  });

  it('refuses a valid consume only when it exceeds the balance', () => {
    fc.assert(
      fc.property(stepsArbitrary, (steps) => {
        const { handled } = runLedger(steps);

        for (const { command, decision, stateBefore } of handled) {
          if (command.type !== 'ConsumeCredits' || decision.kind !== 'refused') continue;
          if (decision.error.type !== 'insufficient-credits') continue;
          expect(decision.error).toEqual({
            type: 'insufficient-credits',
            balance: stateBefore.balance,
            requested: command.data.requestedAmount,
          });
          expect(command.data.requestedAmount).toBeGreaterThan(stateBefore.balance);
        }
      }),
      RUNS,
    );
  });

  it('answers a retry of a recorded command with its original outcome, appending nothing and changing nothing', () => {
    fc.assert(
      fc.property(stepsArbitrary, (steps) => {
        const { handled } = runLedger(steps);

        for (const { originalOutcome, decision, appended, stateBefore, stateAfter } of handled) {
          if (originalOutcome === undefined) continue;
          expect(decision).toEqual<Decision>({ kind: 'replayed', outcome: originalOutcome });
          expect(appended).toEqual([]);
          expect(stateAfter).toBe(stateBefore);
        }
      }),
      RUNS,
    );
  });

  it('folds the stored events back to the balance each command reported, ending at the last one', () => {
    fc.assert(
      fc.property(stepsArbitrary, (steps) => {
        const { handled, streams } = runLedger(steps);
        const reportedBalanceByEventId = new Map<string, number>();
        const lastReportedBalanceByUser = new Map<string, number>();
        for (const { command, decision, stateBefore, answer } of handled) {
          if (decision.kind !== 'recorded' || answer === undefined) continue;
          const [event] = decision.events;
          expect(answer.balanceAfter).toBe(stateBefore.balance + balanceDelta(event));
          reportedBalanceByEventId.set(answer.eventId, answer.balanceAfter);
          lastReportedBalanceByUser.set(command.data.userId, answer.balanceAfter);
        }

        for (const [userId, { events, state }] of streams) {
          let refolded = initialState();
          for (const event of events) {
            refolded = evolve(refolded, event);
            expect(refolded.balance).toBe(reportedBalanceByEventId.get(event.id));
          }
          expect(refolded.balance).toBe(lastReportedBalanceByUser.get(userId) ?? 0);
          expect(plainState(refolded)).toEqual(plainState(state));
        }
      }),
      RUNS,
    );
  });

  it('never consumes more credits than were granted and recharged', () => {
    fc.assert(
      fc.property(stepsArbitrary, (steps) => {
        const { streams } = runLedger(steps);

        for (const { events } of streams.values()) {
          let consumed = 0;
          let credited = 0;
          for (const event of events) {
            if (event.type === 'CreditsConsumed') consumed += event.data.amount;
            if (event.type === 'BonusGranted') credited += event.data.amount;
            if (event.type === 'RechargeCompleted') credited += event.data.credits;
            expect(consumed).toBeLessThanOrEqual(credited);
          }
        }
      }),
      RUNS,
    );
  });
});

type Step = { kind: 'send'; command: CreditsCommand } | { kind: 'retry'; recordedIndex: number; now: string };

type Stream = { state: CreditsState; events: RecordedCreditsEvent[] };

type Handled = {
  command: CreditsCommand;
  decision: Decision;
  /** Set for a retry: the outcome the command got when it was first recorded. */
  originalOutcome?: CommandOutcome;
  /** What the handler answers: the new outcome, or the original one for a replay; nothing for a refusal. */
  answer?: CommandOutcome;
  appended: RecordedCreditsEvent[];
  stateBefore: CreditsState;
  stateAfter: CreditsState;
};

function runLedger(steps: readonly Step[]): { handled: Handled[]; streams: Map<string, Stream> } {
  const streams = new Map<string, Stream>(USER_IDS.map((userId) => [userId, { state: initialState(), events: [] }]));
  const recorded: Array<{ command: CreditsCommand; outcome: CommandOutcome }> = [];
  const handled: Handled[] = [];
  let lastGlobalPosition = 0n;
  // Like the store: an event id is stored once in the whole ledger (a recharge id is ledger-wide).
  const storedEventIds = new Set<string>();
  for (const step of steps) {
    if (step.kind === 'retry' && recorded.length === 0) continue;
    const original = step.kind === 'retry' ? recorded[step.recordedIndex % recorded.length] : undefined;
    const command = step.kind === 'retry' ? retryAt(step.now, original!.command) : step.command;
    const stream = streams.get(command.data.userId)!;
    const stateBefore = stream.state;
    const decision = refusedIfStoredElsewhere(decide(command, stream.state), command, storedEventIds);
    const appended = decision.kind === 'recorded' ? recordAfter(stream.state, decision.events, lastGlobalPosition) : [];
    for (const event of appended) storedEventIds.add(event.id);
    lastGlobalPosition += BigInt(appended.length);
    stream.events.push(...appended);
    stream.state = appended.reduce(evolve, stream.state);
    const answer = answerOf(decision, stream.state, command);
    if (decision.kind === 'recorded' && answer !== undefined) recorded.push({ command, outcome: answer });
    const stateAfter = stream.state;
    handled.push({ command, decision, originalOutcome: original?.outcome, answer, appended, stateBefore, stateAfter });
  }
  return { handled, streams };
}

/** What the command runner answers when the store refuses a recharge another user already has. */
function refusedIfStoredElsewhere(decision: Decision, command: CreditsCommand, storedEventIds: Set<string>): Decision {
  if (decision.kind !== 'recorded' || !decision.events.some((event) => storedEventIds.has(event.id))) return decision;
  if (command.type !== 'CompleteRecharge') throw new Error('only a recharge id is ledger-wide');
  return { kind: 'refused', error: { type: 'recharge-already-recorded', rechargeId: command.data.rechargeId } };
}

function retryAt(now: string, command: CreditsCommand): CreditsCommand {
  return { ...command, metadata: { ...command.metadata, now } };
}

function answerOf(decision: Decision, state: CreditsState, command: CreditsCommand): CommandOutcome | undefined {
  if (decision.kind === 'replayed') return decision.outcome;
  if (decision.kind === 'recorded') return state.outcomes.get(command.metadata.idempotencyKey);
  return undefined;
}

const metadataArbitrary = fc.record({
  idempotencyKey: fc.constantFrom(...IDEMPOTENCY_KEYS),
  now: fc.constantFrom(...TIMES),
});
const userIdArbitrary = fc.constantFrom(...USER_IDS);
const clientMetadataArbitrary = fc.constantFrom({}, { origin: 'web' });
/** Mostly valid amounts, now and then one `decide` must refuse. */
const amountArbitrary = (amountMax: number) =>
  fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: amountMax }), weight: 9 },
    { arbitrary: fc.constantFrom(0, -3, 2.5, AMOUNT_CREDITS_MAX + 1), weight: 1 },
  );

const commandArbitrary: fc.Arbitrary<CreditsCommand> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('ConsumeCredits' as const),
      data: fc.record({
        userId: userIdArbitrary,
        feature: fc.constantFrom('document-upload', 'llm-completion'),
        reference: fc.constantFrom('reference-1', 'reference-2'),
        requestedAmount: amountArbitrary(60),
        price: fc.constant({ credits: 1, amountOverride: { amountMax: AMOUNT_CREDITS_MAX } }),
        metadata: clientMetadataArbitrary,
      }),
      metadata: metadataArbitrary,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('GrantBonus' as const),
      data: fc.record({
        userId: userIdArbitrary,
        amount: amountArbitrary(100),
        reason: fc.constantFrom('welcome', 'apology'),
        metadata: clientMetadataArbitrary,
      }),
      metadata: metadataArbitrary,
    }),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        type: fc.constant('CompleteRecharge' as const),
        data: fc.record({
          userId: userIdArbitrary,
          rechargeId: fc.constantFrom('recharge-1', 'recharge-2'),
          credits: amountArbitrary(100),
          amountPaid: fc.integer({ min: 1, max: 10_000 }),
          currency: fc.constant('eur'),
          source: fc.constant({ kind: 'stripe' as const, stripeEventId: 'evt_1' }),
          metadata: clientMetadataArbitrary,
        }),
        metadata: metadataArbitrary,
      })
      .map((command) => ({
        ...command,
        metadata: { ...command.metadata, idempotencyKey: rechargeIdempotencyKey(command.data.rechargeId) },
      })),
  },
);

const stepsArbitrary: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: commandArbitrary.map((command): Step => ({ kind: 'send', command })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ recordedIndex: fc.nat(), now: fc.constantFrom(...TIMES) })
        .map((retry): Step => ({ kind: 'retry', ...retry })),
    },
  ),
  { maxLength: 60, size: 'medium' },
);
