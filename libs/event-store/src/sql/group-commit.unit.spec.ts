import type { AppendResult } from '../event-store.port';
import type { StreamAppend } from './append-batch';
import { type BatchOfAppends, GroupCommit } from './group-commit';

/** A flush function whose batches stay in flight until the test ends them, in any order. */
function heldFlushes() {
  const flushes: Array<{ streams: string[]; end: () => void }> = [];
  const flush = (batch: BatchOfAppends) =>
    new Promise<void>((resolve) => {
      const end = () => {
        batch.forEach((write) => write.resolve(storedResult()));
        resolve();
      };
      flushes.push({ streams: batch.map((write) => write.append.streamId), end });
    });
  return { flush, flushes };
}

function storedResult(): AppendResult {
  return { nextStreamVersion: 1, lastGlobalPosition: '1', events: [] };
}

function appendTo(streamId: string): StreamAppend {
  return {
    streamId,
    expectedVersion: 0,
    events: [{ id: `${streamId}-1`, type: 'Happened', schemaVersion: 1, data: {}, metadata: {} }],
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes a lone append at once', () => {
    const { flush, flushes } = heldFlushes();
    const groupCommit = new GroupCommit(flush, { flushesMax: 2, eventsMax: 100, sideWaitMs: 60_000 });

    void groupCommit.append(appendTo('a'));

    expect(flushes.map((batch) => batch.streams)).toEqual([['a']]);
  });

  it('writes a batch beside another only once it holds as many appends, and the rest when that one ends', async () => {
    const { flush, flushes } = heldFlushes();
    const groupCommit = new GroupCommit(flush, { flushesMax: 2, eventsMax: 100, sideWaitMs: 60_000 });
    ['a', 'b', 'c', 'd'].forEach((stream) => void groupCommit.append(appendTo(stream)));
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b']]);
    flushes[0].end();
    await settle();
    flushes[1].end();
    await settle();
    // 'c' and 'd' went together when 'a' ended; they alone are in flight now.
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b'], ['c', 'd']]);

    void groupCommit.append(appendTo('e'));
    expect(flushes).toHaveLength(3);
    void groupCommit.append(appendTo('f'));
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b'], ['c', 'd'], ['e', 'f']]);

    void groupCommit.append(appendTo('g'));
    flushes[2].end();
    await settle();
    // Two batches were in flight; once one ended, 'g' waited for a batch as large as ['e', 'f'].
    expect(flushes).toHaveLength(4);
    flushes[3].end();
    await settle();
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b'], ['c', 'd'], ['e', 'f'], ['g']]);
  });

  it('never writes more than flushesMax batches at once, however large the waiting one', async () => {
    const { flush, flushes } = heldFlushes();
    const groupCommit = new GroupCommit(flush, { flushesMax: 2, eventsMax: 100, sideWaitMs: 60_000 });
    const streams = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const stored = streams.map((stream) => groupCommit.append(appendTo(stream)));
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b']]);

    flushes[0].end();
    await settle();
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b'], ['c', 'd', 'e', 'f', 'g']]);
    flushes.slice(1).forEach((batch) => batch.end());
    await expect(Promise.all(stored)).resolves.toHaveLength(streams.length);
  });

  it('writes appends in the free slot after sideWaitMs while a larger batch is stuck, as it was before the rule', async () => {
    const { flush, flushes } = heldFlushes();
    const groupCommit = new GroupCommit(flush, { flushesMax: 2, eventsMax: 100, sideWaitMs: 5 });
    ['a', 'b', 'c', 'd'].forEach((stream) => void groupCommit.append(appendTo(stream)));
    flushes[0].end();
    await settle();
    flushes[1].end();
    await settle();
    // ['c', 'd'] never ends (a statement waiting on another session's lock, say). One slot is free.
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b'], ['c', 'd']]);

    const stored = groupCommit.append(appendTo('e'));
    expect(flushes).toHaveLength(3);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(flushes.map((batch) => batch.streams)).toEqual([['a'], ['b'], ['c', 'd'], ['e']]);
    flushes[3].end();
    await expect(stored).resolves.toMatchObject({ nextStreamVersion: 1 });
  });
});
