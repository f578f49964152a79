import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyWebhookSignature } from '@libs/webhooks';
import { createWebhookEndpoint } from '@projections';
import { recharge } from '../../libs/credits/src/testing/grant-commands';
import { UserStream, as } from '../../projections/testing/grants-vs-fold';
import { exited, startProjectorProcess } from '../support/projector-process';
import { type ReadModelDatabase, openReadModelDatabase } from '../support/read-model-database';
import { describeOnPostgres } from '../support/test-stores';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * The dispatcher in real projector processes (`ROLE=projector`) on PostgreSQL, killed with SIGKILL mid-delivery
 * and started again: the receiver gets every event, each user's in stream order, and a copy only under the same
 * delivery id (at least once). PGlite has one process per data directory, so this case does not exist there.
 */
const DISPATCH_ENV = {
  GRANT_EXPIRY_INTERVAL_MS: '0',
  OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
  WEBHOOK_DISPATCH_POLL_MS: '20',
  WEBHOOK_LEASE_MS: '1000',
  WEBHOOK_TIMEOUT_MS: '500',
  WEBHOOK_RETRY_BASE_MS: '50',
};

describeOnPostgres('webhook dispatch in projector processes on PostgreSQL', () => {
  let database: ReadModelDatabase;
  const receiver = new WebhookReceiver();
  const started: ChildProcess[] = [];

  beforeEach(async () => {
    database = await openReadModelDatabase('postgres');
  });

  afterEach(async () => {
    const running = started.splice(0).filter((child) => child.exitCode === null && child.signalCode === null);
    for (const child of running) child.kill('SIGKILL');
    await Promise.all(running.map(exited));
    await receiver.stop();
    await database?.close();
  });

  function startProjector(): ChildProcess {
    const child = startProjectorProcess(database.url!, DISPATCH_ENV);
    started.push(child);
    return child;
  }

  it('delivers every event once or more under one id, in order per user, across SIGKILLs mid-delivery', async () => {
    const url = await receiver.start();
    // A slow receiver: a kill lands while requests are in flight.
    receiver.answer = () => (response) => setTimeout(() => response.writeHead(200).end(), 5 + Math.random() * 20);
    const { secret } = await createWebhookEndpoint(database.driver, { url, events: ['recharge.completed'] });
    const users = Array.from({ length: 8 }, () => new UserStream(database, `hooked-${randomUUID()}`));
    const rechargesPerUser = 15;
    const writing = (async () => {
      for (let index = 0; index < rechargesPerUser; index++) {
        await Promise.all(
          users.map((user) => user.record(as(user.userId, recharge(`${user.userId}-${index}`, index + 1)))),
        );
        await sleep(30);
      }
    })();

    for (let round = 0; round < 4; round++) {
      const victim = startProjector();
      // Killed once it is delivering, at a random moment: mostly with requests in flight.
      const before = receiver.received.length;
      await waitUntil(() => receiver.received.length > before, 20_000);
      await sleep(Math.random() * 60);
      victim.kill('SIGKILL');
      await exited(victim);
    }
    await writing;
    startProjector();

    const total = users.length * rechargesPerUser;
    await waitUntil(() => new Set(receiver.received.map(({ payload }) => payload.id)).size >= total, 30_000);
    await sleep(300);
    const received = receiver.received;
    const ids = new Set(received.map(({ payload }) => payload.id));
    expect(ids.size).toBe(total);
    for (const id of ids) {
      const copies = received.filter(({ payload }) => payload.id === id);
      expect(new Set(copies.map(({ rawBody }) => rawBody)).size).toBe(1);
    }
    for (const { rawBody, headers } of received) {
      expect(verifyWebhookSignature(rawBody, headers['credits-signature'] as string, secret).valid).toBe(true);
    }
    for (const user of users) {
      const versions = received
        .filter(({ payload }) => payload.userId === user.userId)
        .map(({ payload }) => payload.data.ledgerEvent!.streamVersion);
      // In stream order: a copy may come again (sent, then killed before its record), never an earlier one later.
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(rechargesPerUser);
    }
  });
});

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
