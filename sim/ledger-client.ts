import { setTimeout as sleep } from 'node:timers/promises';
import type { Trace } from './trace';

/** A JSON answer, read field by field as the API documents it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any JSON the API answers
export type AnswerBody = any;

/** How a request ended, after its retries: the last answer, or `unknown` when none came in time. */
export type Outcome =
  | { status: number; body: AnswerBody; attempts: number; replayed: boolean }
  | { status: 'unknown'; attempts: number; error: string };

export type LedgerRequest = {
  step: number;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: unknown;
  /** Raw body and headers instead of JSON (a Stripe delivery, signed). */
  raw?: { body: string; headers: Record<string, string> };
  idempotencyKey?: string;
};

/** Answers a client sends again, as its body says: the same request with the same idempotency key. */
export const RETRIED_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** How long a client keeps sending a request, and how long it waits for each answer. */
export type ClientPatience = { giveUpAfterMs: number; attemptTimeoutMs: number };
const PATIENCE_DEFAULT: ClientPatience = { giveUpAfterMs: 45_000, attemptTimeoutMs: 10_000 };

/**
 * A client as a product's backend is one: it sends a request to one of the API processes, and when the request
 * fails, times out or is answered 503, it sends it again, with the same idempotency key, to the next process,
 * until `giveUpAfterMs`. Then its outcome is unknown: it may or may not have been applied, and the checker
 * allows at most one copy. Every attempt and answer goes to the trace.
 */
export class LedgerClient {
  constructor(
    private readonly apiUrls: () => string[],
    private readonly authorization: string,
    private readonly trace: Trace,
    private readonly patience: ClientPatience = PATIENCE_DEFAULT,
  ) {}

  async send(request: LedgerRequest): Promise<Outcome> {
    const deadline = Date.now() + this.patience.giveUpAfterMs;
    let lastError: string;
    for (let attempt = 1; ; attempt++) {
      const urls = this.apiUrls();
      const url = urls[(request.step + attempt) % urls.length];
      try {
        const response = await fetch(`${url}${request.path}`, this.init(request));
        const body: AnswerBody = await response.json().catch(() => undefined);
        const replayed = response.headers.get('idempotent-replayed') === 'true';
        this.trace.write(request.step, 'answer', {
          attempt,
          url,
          path: request.path,
          status: response.status,
          replayed,
        });
        if (!RETRIED_STATUSES.has(response.status) || Date.now() > deadline) {
          return { status: response.status, body, attempts: attempt, replayed };
        }
        lastError = `${response.status} ${body?.type ?? ''}`;
      } catch (error) {
        lastError = (error as Error).cause ? String((error as Error).cause) : String(error);
        this.trace.write(request.step, 'attempt-failed', { attempt, url, path: request.path, error: lastError });
      }
      if (Date.now() > deadline) return { status: 'unknown', attempts: attempt, error: lastError };
      await sleep(Math.min(1_000, 50 * attempt));
    }
  }

  private init(request: LedgerRequest): RequestInit {
    const headers: Record<string, string> = request.raw?.headers ?? {
      authorization: this.authorization,
      'content-type': 'application/json',
    };
    if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey;
    const body = request.raw?.body ?? (request.body === undefined ? undefined : JSON.stringify(request.body));
    return { method: request.method, headers, body, signal: AbortSignal.timeout(this.patience.attemptTimeoutMs) };
  }
}
