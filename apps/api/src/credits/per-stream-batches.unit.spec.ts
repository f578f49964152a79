import { setTimeout as sleep } from 'node:timers/promises';
import { type BatchEntry, PerStreamBatches } from './per-stream-batches';

/** A batch function that answers every entry with what `work` returns for the batch's items. */
function answeringAll<Item, Result>(work: (stream: string, items: Item[]) => Promise<Result[]>) {
  return async (stream: string, entries: ReadonlyArray<BatchEntry<Item, Result>>) => {
    const results = await work(
      stream,
      entries.map((entry) => entry.item),
    );
    entries.forEach((entry, index) => entry.resolve(results[index]));
  };
}

describe('PerStreamBatches', () => {
  it('runs the first item alone and those that arrive meanwhile together, in the order they came', async () => {
    const log: string[][] = [];
    const batches = new PerStreamBatches<string, string>(
      answeringAll(async (_stream, items) => {
        log.push([...items]);
        await sleep(10);
        return items.map((item) => item.toUpperCase());
      }),
      10,
    );

    const results = await Promise.all(['a', 'b', 'c'].map((item) => batches.submit('s', item)));

    expect(results).toEqual(['A', 'B', 'C']);
    expect(log).toEqual([['a'], ['b', 'c']]);
  });

  it('takes at most itemsMax items per batch', async () => {
    const sizes: number[] = [];
    const batches = new PerStreamBatches<number, number>(
      answeringAll(async (_stream, items) => {
        sizes.push(items.length);
        await sleep(1);
        return [...items];
      }),
      2,
    );

    await Promise.all([1, 2, 3, 4, 5, 6].map((item) => batches.submit('s', item)));

    expect(sizes).toEqual([1, 2, 2, 1]);
  });

  it('runs the batches of different streams side by side', async () => {
    const log: string[] = [];
    const batches = new PerStreamBatches<number, void>(
      answeringAll(async (stream, items) => {
        await sleep(stream === 's1' ? 20 : 1);
        log.push(stream);
        return items.map(() => undefined);
      }),
      10,
    );

    await Promise.all([batches.submit('s1', 1), batches.submit('s2', 1)]);

    expect(log).toEqual(['s2', 's1']);
  });

  it('fails only the batch that threw, and goes on with the next', async () => {
    const batches = new PerStreamBatches<string, string>(
      answeringAll(async (_stream, items) => {
        await sleep(1);
        if (items.includes('boom')) throw new Error('boom');
        return [...items];
      }),
      1,
    );

    const failing = batches.submit('s', 'boom');
    const next = batches.submit('s', 'next');

    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });

  it('keeps the answers a batch gave before it threw, and fails only the entries it left unanswered', async () => {
    const batches = new PerStreamBatches<string, string>(async (_stream, entries) => {
      await sleep(1);
      entries[0].resolve('stored');
      throw new Error('the second part failed');
    }, 10);
    const slow = batches.submit('s', 'occupies the stream');
    const answered = batches.submit('s', 'first');
    const unanswered = batches.submit('s', 'second');

    await expect(slow).resolves.toBe('stored');
    await expect(answered).resolves.toBe('stored');
    await expect(unanswered).rejects.toThrow('the second part failed');
  });

  it('fails an entry the batch forgot to answer, rather than leaving its caller waiting', async () => {
    const batches = new PerStreamBatches<string, string>(() => Promise.resolve(), 10);

    await expect(batches.submit('s', 'forgotten')).rejects.toThrow('unanswered');
  });

  it('keeps no entry once a stream has drained', async () => {
    const batches = new PerStreamBatches<number, number>(
      answeringAll((_stream, items) => Promise.resolve([...items])),
      10,
    );
    await Promise.all([batches.submit('s1', 1), batches.submit('s2', 2)]);

    expect(batches.streamsInFlight).toBe(0);
  });
});
