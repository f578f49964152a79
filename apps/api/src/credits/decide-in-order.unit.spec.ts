import { type CreditsCommand, type CreditsState, type Decision, decide, evolve, initialState } from '@libs/credits';
import { plainState, recordAfter } from '../../../../libs/credits/src/testing/credits.given-when-then';
import {
  DAY,
  T0,
  bonus,
  consume,
  expire,
  grantIdOf,
  plus,
  recharge,
  voidGrant,
} from '../../../../libs/credits/src/testing/grant-commands';
import { decideInOrder } from './decide-in-order';

/** Decides and folds each command, as a batch of one would. */
function stateAfter(commands: readonly CreditsCommand[], state = initialState()): CreditsState {
  return commands.reduce((current, command) => {
    const decision = decide(command, current);
    if (decision.kind !== 'recorded') return current;
    return recordAfter(current, decision.events, 1000n + BigInt(current.version)).reduce(evolve, current);
  }, state);
}

describe('decideInOrder', () => {
  const expiring = bonus('expiring', 100, { priority: 300, expiresIn: 'P1D' });
  const welcome = bonus('welcome', 30);
  const history = [expiring, welcome, recharge('pack', 100), consume('job-0', 60)];
  const later = plus(T0, 2 * DAY);
  const batch = [
    consume('job-1', 10, later),
    expire(grantIdOf(expiring), later),
    voidGrant(grantIdOf(welcome), T0),
    bonus('apology', 5, {}, later),
    consume('job-2', 200, later),
    consume('job-3', 1, later),
  ];

  it('leaves the state it was given as it was', () => {
    const state = stateAfter(history);
    const before = plainState(state);

    decideInOrder(batch, state);

    expect(plainState(state)).toEqual(before);
  });

  it('decides each command as if the ones before it had been appended alone', () => {
    const state = stateAfter(history);
    let oneByOne = state;
    const expected: Decision[] = batch.map((command) => {
      const decision = decide(command, oneByOne);
      oneByOne = stateAfter([command], oneByOne);
      return decision;
    });

    expect(decideInOrder(batch, state).decisions).toEqual(expected);
    expect(expected.map((decision) => decision.kind)).toEqual([
      'recorded',
      'recorded',
      'recorded',
      'recorded',
      'refused',
      'recorded',
    ]);
  });
});
