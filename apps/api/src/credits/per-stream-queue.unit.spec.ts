import { setTimeout as sleep } from 'node:timers/promises';
import { PerStreamQueue } from './per-stream-queue';

describe('PerStreamQueue', () => {
  it('runs the work of one stream one at a time, in the order it came', async () => {
    const queue = new PerStreamQueue();
    const log: string[] = [];
    const work = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      return name;
    };

    const results = await Promise.all([
      queue.run('s', work('a', 20)),
      queue.run('s', work('b', 1)),
      queue.run('s', work('c', 1)),
    ]);

    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('runs the work of different streams side by side', async () => {
    const queue = new PerStreamQueue();
    const log: string[] = [];
    const slow = queue.run('s1', async () => {
      await sleep(20);
      log.push('s1');
    });
    await queue.run('s2', () => Promise.resolve(log.push('s2')));
    await slow;

    expect(log).toEqual(['s2', 's1']);
  });

  it('goes on after a failure, which reaches only its own caller', async () => {
    const queue = new PerStreamQueue();
    const failing = queue.run('s', () => Promise.reject(new Error('boom')));
    const next = queue.run('s', () => Promise.resolve('next'));

    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });

  it('keeps no entry once a stream has drained', async () => {
    const queue = new PerStreamQueue();
    await Promise.all([queue.run('s1', () => sleep(1)), queue.run('s2', () => sleep(1))]);
    await sleep(1);

    expect(queue.streamsInFlight).toBe(0);
  });
});
