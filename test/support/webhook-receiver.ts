import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookPayload } from '@libs/webhooks';

export type ReceivedWebhook = { rawBody: string; headers: IncomingHttpHeaders; payload: WebhookPayload; at: number };

/** How the receiver answers a request: a status, or nothing at all (`hang`), or its own writing. */
export type Answer = number | 'hang' | ((response: ServerResponse) => void);

/**
 * A webhook receiver on loopback, as a product's backend runs one: it records every request (raw body,
 * headers) and answers as `answer` says for the n-th request (default 200).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  answer: (index: number, payload: WebhookPayload) => Answer = () => 200;
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const payload = JSON.parse(rawBody) as WebhookPayload;
        const index = this.received.length;
        this.received.push({ rawBody, headers: request.headers, payload, at: Date.now() });
        const answer = this.answer(index, payload);
        if (answer === 'hang') this.hanging.add(response);
        else if (typeof answer === 'function') answer(response);
        else response.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Waits until `count` requests came, or throws after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 15_000): Promise<ReceivedWebhook[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`received ${this.received.length} of ${count} webhooks`);
      await sleep(10);
    }
    return this.received;
  }
}
