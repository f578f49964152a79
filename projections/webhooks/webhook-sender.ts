import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  OutboundAddressRefusedError,
  type Resolver,
  WEBHOOK_SIGNATURE_HEADER,
  guardedLookup,
  refusalOfUrl,
  signWebhookPayload,
} from '@libs/webhooks';
import type { AttemptOutcome } from './webhook-deliveries.repository';

export type SendOptions = {
  timeoutMs: number;
  responseBodyLimitBytes: number;
  allowPrivateUrls: boolean;
  /** How names resolve; the system's resolver unless a test stands in for DNS. */
  resolve?: Resolver;
};

/**
 * One attempt: POSTs the body signed with every current secret, to the URL's address checked again now (a
 * literal one here, a name on each address it resolves to as the socket connects), and reads at most
 * `responseBodyLimitBytes` of the answer. A 2xx delivers; anything else, a refusal, a timeout or a network
 * error is a failed attempt, with what went wrong.
 */
export async function sendWebhook(
  target: { url: string; secrets: readonly string[] },
  body: string,
  options: SendOptions,
): Promise<AttemptOutcome> {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    return { delivered: false, statusCode: null, error: 'the endpoint URL does not parse' };
  }
  const policy = { allowPrivate: options.allowPrivateUrls };
  const refusal = refusalOfUrl(url, policy);
  if (refusal !== undefined) return { delivered: false, statusCode: null, error: `refused: ${refusal}` };
  return new Promise<AttemptOutcome>((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(url, {
      method: 'POST',
      lookup: guardedLookup(policy, options.resolve),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'credits-ledger-webhooks/1',
        [WEBHOOK_SIGNATURE_HEADER]: signWebhookPayload(body, target.secrets),
      },
    });
    const timer = setTimeout(
      () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const settle = (outcome: AttemptOutcome) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    request.on('error', (error) => {
      const refused = error instanceof OutboundAddressRefusedError;
      settle({ delivered: false, statusCode: null, error: refused ? `refused: ${error.message}` : error.message });
    });
    request.on('response', (response) => {
      readLimited(response, options.responseBodyLimitBytes, () => {
        const statusCode = response.statusCode ?? 0;
        if (statusCode >= 200 && statusCode < 300) settle({ delivered: true, statusCode });
        else settle({ delivered: false, statusCode, error: `answered ${statusCode}` });
      });
    });
    request.end(body);
  });
}

/** Reads up to `limit` bytes of the body, then stops reading and closes the connection if more comes. */
function readLimited(response: IncomingMessage, limit: number, done: () => void): void {
  let read = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  response.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > limit) {
      response.destroy();
      finish();
    }
  });
  response.on('end', finish);
  response.on('close', finish);
  response.on('error', finish);
}
