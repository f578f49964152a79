import type { CommandBus } from '@nestjs/cqrs';
import { ProblemException } from '@libs/http';
import type { Response } from 'express';
import { CommandRetriesExhaustedError } from './credits-command.runner';
import { runMovement } from './credits.http';
import { GrantBonusCommand } from './grant-bonus/grant-bonus.command';

/** A command bus whose only handler fails as the runner does after its last retry. */
const losingEveryRace = { execute: () => Promise.reject(new CommandRetriesExhaustedError('credits-u', 11)) };

describe('runMovement', () => {
  it('answers a command that kept losing races with 503 concurrency-conflict', async () => {
    const command = new GrantBonusCommand('u', 1, 'test', {}, 'key-1');

    const answer = runMovement(losingEveryRace as unknown as CommandBus, command, {} as Response);

    await expect(answer).rejects.toThrow(ProblemException);
    await expect(answer).rejects.toMatchObject({
      problem: { type: '/problems/concurrency-conflict', status: 503 },
    });
  });

  it('lets any other failure through, to be answered 500', async () => {
    const outage = { execute: () => Promise.reject(new Error('connection refused')) };

    await expect(
      runMovement(outage as unknown as CommandBus, new GrantBonusCommand('u', 1, 'test', {}, 'k'), {} as Response),
    ).rejects.toThrow('connection refused');
  });
});
