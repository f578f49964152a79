import type { LookupAddress } from 'node:dns';
import { type Resolver, resolveAllowed } from '@libs/webhooks';
import { WebhookReceiver } from '../../test/support/webhook-receiver';
import { sendWebhook } from './webhook-sender';

/**
 * One delivery's request to a receiver on loopback, with DNS stood in for by a resolver function (no DNS
 * server of ours to change what a name resolves to): the guard checks the addresses the socket connects to.
 */
describe('a webhook request and the addresses it may reach', () => {
  const receiver = new WebhookReceiver();
  let port: string;
  const body = JSON.stringify({ id: 'delivery-1', type: 'recharge.completed', createdAt: '', userId: 'u', data: {} });
  const options = { timeoutMs: 2_000, responseBodyLimitBytes: 1_024 };

  beforeAll(async () => {
    port = new URL(await receiver.start()).port;
  });

  afterAll(async () => {
    await receiver.stop();
  });

  /** A name that resolves to each of `answers` in turn, as a DNS rebinding attack has it. */
  function rebinding(...answers: string[]): Resolver {
    let call = 0;
    return (_hostname, _options, callback) => {
      const address = answers[Math.min(call++, answers.length - 1)];
      callback(null, [{ address, family: address.includes(':') ? 6 : 4 } satisfies LookupAddress]);
    };
  }

  it('refuses at delivery a name that resolved to a public address at registration and to loopback now', async () => {
    const resolve = rebinding('93.184.216.34', '127.0.0.1');
    await expect(resolveAllowed('hooks.example.test', { allowPrivate: false }, resolve)).resolves.toEqual([
      '93.184.216.34',
    ]);
    const before = receiver.received.length;
    // http is refused without the setting: the scheme is checked first; with https the name is resolved again.
    const outcome = await sendWebhook(
      { url: `https://hooks.example.test:${port}/hooks`, secrets: ['whsec_test'] },
      body,
      { ...options, allowPrivateUrls: false, resolve },
    );
    expect(outcome).toMatchObject({ delivered: false, statusCode: null });
    expect((outcome as { error: string }).error).toMatch(/refused: .*127\.0\.0\.1 is a loopback or private address/);
    expect(receiver.received.length).toBe(before);
  });

  it('refuses a name resolving to the metadata address even where private addresses are allowed', async () => {
    const outcome = await sendWebhook(
      { url: `http://metadata.example.test:${port}/hooks`, secrets: ['whsec_test'] },
      body,
      { ...options, allowPrivateUrls: true, resolve: rebinding('169.254.169.254') },
    );
    expect((outcome as { error: string }).error).toMatch(/link-local/);
  });

  it('connects to the address the guard checked: a name resolving to loopback, allowed, reaches the receiver', async () => {
    const outcome = await sendWebhook(
      { url: `http://hooks.example.test:${port}/hooks`, secrets: ['whsec_test'] },
      body,
      { ...options, allowPrivateUrls: true, resolve: rebinding('127.0.0.1') },
    );
    expect(outcome).toEqual({ delivered: true, statusCode: 200 });
    expect(receiver.received.at(-1)?.rawBody).toBe(body);
  });

  it('refuses literal loopback and link-local URLs before connecting', async () => {
    const strict = await sendWebhook({ url: `https://127.0.0.1:${port}/hooks`, secrets: ['s'] }, body, {
      ...options,
      allowPrivateUrls: false,
    });
    expect((strict as { error: string }).error).toMatch(/refused: .*loopback or private/);
    const metadata = await sendWebhook({ url: 'http://169.254.169.254/latest', secrets: ['s'] }, body, {
      ...options,
      allowPrivateUrls: true,
    });
    expect((metadata as { error: string }).error).toMatch(/refused: .*link-local/);
  });

  it('takes a receiver that does not answer in time as a failed attempt', async () => {
    receiver.answer = () => 'hang';
    const outcome = await sendWebhook({ url: `http://127.0.0.1:${port}/hooks`, secrets: ['s'] }, body, {
      ...options,
      timeoutMs: 200,
      allowPrivateUrls: true,
    });
    receiver.answer = () => 200;
    expect(outcome).toEqual({ delivered: false, statusCode: null, error: 'no answer within 200 ms' });
  });
});
