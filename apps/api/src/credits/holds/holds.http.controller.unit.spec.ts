import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import { type CreditsState, type PlaceHold, decide, evolve, initialState } from '@libs/credits';
import type { Response } from 'express';
import type { CreditsCommandResult } from '../credits-command.runner';
import { PlaceHoldHandler } from './hold-commands.handlers';
import type { PlaceHoldCommand } from './hold-commands';
import { HoldsHttpController } from './holds.http.controller';

/**
 * HOLD_EXPIRES_IN_MAX_SECONDS bounds a hold's life as the domain counts it (from now, in UTC calendar units):
 * a duration whose units cancel in another reckoning (a month as 30 days, a year as 365, units of either sign)
 * must neither pass the bound nor last longer than it. Found by a review: the first bound measured
 * `shiftTo('seconds')`, and P1200MT-864000H lasted 524 days.
 */
const MAX_SECONDS = 86_400;
const USER_ID = 'user-1';

/** A stream holding plenty of credits. */
function stateWithCredits(): CreditsState {
  const now = new Date().toISOString();
  const decision = decide(
    {
      type: 'GrantBonus',
      data: { userId: USER_ID, amount: 1000, reason: 'test', metadata: {} },
      metadata: { idempotencyKey: 'bonus:b', now },
    },
    initialState(),
  );
  if (decision.kind !== 'recorded') throw new Error('bonus refused');
  return evolve(initialState(), { ...decision.events[0], streamVersion: 1, globalPosition: '1' });
}

/** A command bus running PlaceHoldHandler on a runner that decides on `state` (nothing stored). */
function busDecidingOn(state: CreditsState): CommandBus {
  const runner = {
    run: (command: PlaceHold): Promise<CreditsCommandResult> => Promise.resolve(decided(command)),
  };
  const decided = (command: PlaceHold): CreditsCommandResult => {
    const decision = decide(command, state);
    if (decision.kind === 'refused') return { kind: 'refused', userId: USER_ID, error: decision.error };
    if (decision.kind !== 'recorded') throw new Error('unexpected replay');
    const after = evolve(state, { ...decision.events[0], streamVersion: state.version + 1, globalPosition: '2' });
    const outcome = after.outcomes.get(command.metadata.idempotencyKey)!;
    return { kind: 'recorded', userId: USER_ID, outcome, hold: after.holds.get(outcome.eventId) };
  };
  const handler = new PlaceHoldHandler(runner as never, { video: { credits: 5 } });
  return { execute: (command: PlaceHoldCommand) => handler.execute(command) } as unknown as CommandBus;
}

const response = { status: () => response, setHeader: () => response } as unknown as Response;

describe('POST /holds and HOLD_EXPIRES_IN_MAX_SECONDS', () => {
  it.each(['P1200MT-864000H', 'P100YT-876000H', 'P1M', 'P1DT1S'])(
    'never places a hold lasting more than the bound (expiresIn %s)',
    async (expiresIn) => {
      const controller = new HoldsHttpController(busDecidingOn(stateWithCredits()), {} as QueryBus, MAX_SECONDS);
      const placedAt = Date.now();
      let lastsSeconds: number | undefined;
      try {
        const hold = await controller.place(
          USER_ID,
          { feature: 'video', reference: 'job-1', expiresIn },
          undefined,
          response,
          {},
        );
        lastsSeconds = (Date.parse(hold.expiresAt) - placedAt) / 1000;
      } catch {
        // Refused (422 invalid-hold-terms): within the bound.
      }
      expect(lastsSeconds ?? 0).toBeLessThanOrEqual(MAX_SECONDS + 5);
    },
  );
});

describe('POST /holds within HOLD_EXPIRES_IN_MAX_SECONDS', () => {
  it('places a hold lasting exactly the bound', async () => {
    const controller = new HoldsHttpController(busDecidingOn(stateWithCredits()), {} as QueryBus, MAX_SECONDS);
    const hold = await controller.place(
      USER_ID,
      { feature: 'video', reference: 'job-2', expiresIn: 'PT24H' },
      undefined,
      response,
      {},
    );
    expect(Date.parse(hold.expiresAt) - Date.now()).toBeGreaterThan((MAX_SECONDS - 5) * 1000);
  });
});
