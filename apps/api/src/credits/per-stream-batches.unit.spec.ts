import { setTimeout as sleep } from 'node:timers/promises';
import { PerStreamBatches } from './per-stream-batches';

describe('PerStreamBatches', () => {
  it('runs the first item alone and those that arrive meanwhile together, in the order they came', async () => {
    const log: string[][] = [];
    const batches = new PerStreamBatches<string, string>(async (_stream, items) => {
      log.push([...items]);
      await sleep(10);
      return items.map((item) => item.toUpperCase());
    }, 10);

    const results = await Promise.all(['a', 'b', 'c'].map((item) => batches.submit('s', item)));

    expect(results).toEqual(['A', 'B', 'C']);
    expect(log).toEqual([['a'], ['b', 'c']]);
  });

  it('takes at most itemsMax items per batch', async () => {
    const sizes: number[] = [];
    const batches = new PerStreamBatches<number, number>(async (_stream, items) => {
      sizes.push(items.length);
      await sleep(1);
      return [...items];
    }, 2);

    await Promise.all([1, 2, 3, 4, 5, 6].map((item) => batches.submit('s', item)));

    expect(sizes).toEqual([1, 2, 2, 1]);
  });

  it('runs the batches of different streams side by side', async () => {
    const log: string[] = [];
    const batches = new PerStreamBatches<number, void>(async (stream, items) => {
      await sleep(stream === 's1' ? 20 : 1);
      log.push(stream);
      return items.map(() => undefined);
    }, 10);

    await Promise.all([batches.submit('s1', 1), batches.submit('s2', 1)]);

    expect(log).toEqual(['s2', 's1']);
  });

  it('fails only the batch that threw, and goes on with the next', async () => {
    const batches = new PerStreamBatches<string, string>(async (_stream, items) => {
      await sleep(1);
      if (items.includes('boom')) throw new Error('boom');
      return [...items];
    }, 1);

    const failing = batches.submit('s', 'boom');
    const next = batches.submit('s', 'next');

    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });

  it('keeps no entry once a stream has drained', async () => {
    const batches = new PerStreamBatches<number, number>((_stream, items) => Promise.resolve([...items]), 10);
    await Promise.all([batches.submit('s1', 1), batches.submit('s2', 2)]);

    expect(batches.streamsInFlight).toBe(0);
  });
});
