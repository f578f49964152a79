import { createWriteStream, type WriteStream } from 'node:fs';

/** One line of the trace: when (ms since the run began), which step, what happened. */
export type TraceEntry = { at: number; step: number; kind: string; [detail: string]: unknown };

/**
 * The run's trace, one JSON object per line: every request and its answer, every fault, every check. A failure
 * names the trace's path, so that what led to it can be read back step by step.
 */
export class Trace {
  private readonly out: WriteStream;
  private readonly startedAt = Date.now();
  private lines = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'w' });
  }

  write(step: number, kind: string, detail: Record<string, unknown> = {}): void {
    this.lines++;
    this.out.write(`${JSON.stringify({ at: Date.now() - this.startedAt, step, kind, ...detail })}\n`);
  }

  get written(): number {
    return this.lines;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}
