import type { HoldState } from '@libs/credits';
import type { HoldFigures, ReadModelRows } from './read-model-snapshot';
import type { FoldedStream } from './stream-fold';

/** What is reported of a stream's holds, computed as soon as it is folded (a page never keeps them). */
export type HoldsVerdict = {
  /** Holds whose row differs from the stream's; judged only when the holds model stands at the stream's version. */
  differences: Array<{ kind: 'hold-differs'; detail: string }>;
  /** Holds still active in the stream past their `expiresAt` at the check's start: no `HoldExpired` yet. */
  due: HoldState[];
};

/**
 * Each hold's status, amount, captured amount and expiry against its row, and
 * the holds the expiry process should have released by `nowMs`.
 */
export function holdsVerdictOf(stream: FoldedStream, model: ReadModelRows['holds'], nowMs: number): HoldsVerdict {
  const due = [...stream.holds.values()].filter((hold) => hold.status === 'active' && hold.expiresAtMs <= nowMs);
  const comparable = model !== undefined && model.version === stream.version && stream.integrityBreak === undefined;
  if (!comparable) return { differences: [], due };
  const differences: HoldsVerdict['differences'] = [];
  const ids = new Set([...stream.holds.keys(), ...model.byId.keys()]);
  for (const holdId of ids) {
    const replayed = stream.holds.get(holdId);
    const expected: HoldFigures | undefined = replayed && {
      status: replayed.status,
      amount: replayed.amount,
      capturedAmount: replayed.capturedAmount,
      expiresAtMs: replayed.expiresAtMs,
    };
    const row = model.byId.get(holdId);
    if (JSON.stringify(expected) === JSON.stringify(row)) continue;
    differences.push({
      kind: 'hold-differs',
      detail:
        `hold ${holdId} at version ${stream.version}: the holds model says ${JSON.stringify(row ?? 'nothing')}; ` +
        `the stream says ${JSON.stringify(expected ?? 'nothing')}`,
    });
  }
  return { differences, due };
}
