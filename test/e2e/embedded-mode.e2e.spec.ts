import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@libs/config';
import { EVENT_STORE, type EventStore } from '@libs/event-store';
import request from 'supertest';
import { developmentApiKey } from '../../apps/api/src/auth/development-api-key';
import { createApp } from '../../apps/api/src/create-app';

describe('the embedded mode (npm start with no configuration)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'credits-embedded-'));

  it('makes a development key once, readable by its owner only, and reuses it on the next start', () => {
    const first = developmentApiKey(dataDir);
    const second = developmentApiKey(dataDir);

    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.key.secret).toBe(first.key.secret);
    expect([...first.key.scopes]).toEqual(['admin']);
    expect(readFileSync(first.file, 'utf8').trim()).toBe(first.key.secret);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
  });

  it('keeps the events in the PGlite data directory across restarts', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    const { key } = developmentApiKey(dataDir);
    const authorization = `Bearer ${key.secret}`;

    const before = await createApp(config, [key]);
    await request(before.getHttpServer())
      .post('/v1/users/alice/bonuses')
      .set('Authorization', authorization)
      .set('Idempotency-Key', 'welcome-alice')
      .send({ amount: 10, reason: 'welcome' })
      .expect(201);
    await before.close();

    const after = await createApp(config, [key]);
    try {
      const balance = await request(after.getHttpServer())
        .get('/v1/users/alice/balance')
        .query({ minPosition: '1' })
        .set('Authorization', authorization)
        .expect(200);
      expect(balance.body).toMatchObject({ userId: 'alice', balance: 10, version: 1 });
      await request(after.getHttpServer())
        .post('/v1/users/alice/bonuses')
        .set('Authorization', authorization)
        .set('Idempotency-Key', 'welcome-alice')
        .send({ amount: 10, reason: 'welcome' })
        .expect(200)
        .expect('Idempotent-Replayed', 'true');
    } finally {
      await after.close();
    }
  });

  it('keeps a hold across a restart: the new process captures it from what the stream says', async () => {
    const config = loadConfig({ DATA_DIR: mkdtempSync(join(tmpdir(), 'credits-holds-')), LOG_LEVEL: 'silent' });
    const { key } = developmentApiKey(config.dataDir);
    const authorization = `Bearer ${key.secret}`;
    const before = await createApp(config, [key]);
    await request(before.getHttpServer())
      .post('/v1/users/bob/bonuses')
      .set('Authorization', authorization)
      .set('Idempotency-Key', 'welcome-bob')
      .send({ amount: 20, reason: 'welcome' })
      .expect(201);
    const held = await request(before.getHttpServer())
      .post('/v1/users/bob/holds')
      .set('Authorization', authorization)
      .send({ feature: 'video_generation', reference: 'render-1', amount: 15 })
      .expect(201);
    await before.close();

    const after = await createApp(config, [key]);
    try {
      const captured = await request(after.getHttpServer())
        .post(`/v1/users/bob/holds/${held.body.holdId}/capture`)
        .set('Authorization', authorization)
        .send({ amount: 6 })
        .expect(201);
      expect(captured.body).toMatchObject({ status: 'captured', capturedAmount: 6, balance: 14 });
      const balance = await request(after.getHttpServer())
        .get('/v1/users/bob/balance')
        .query({ minPosition: captured.body.position })
        .set('Authorization', authorization)
        .expect(200);
      expect(balance.body).toMatchObject({ balance: 14, heldCredits: 0, spendable: 14 });
    } finally {
      await after.close();
    }
  });

  it('is not ready once its store stops answering', async () => {
    const config = loadConfig({ DATA_DIR: mkdtempSync(join(tmpdir(), 'credits-ready-')), LOG_LEVEL: 'silent' });
    const app = await createApp(config, [developmentApiKey(config.dataDir).key]);
    try {
      await request(app.getHttpServer()).get('/health/ready').expect(200);
      await app.get<EventStore>(EVENT_STORE).close();

      const response = await request(app.getHttpServer()).get('/health/ready');

      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({
        type: '/problems/not-ready',
        status: 503,
        checks: { status: 'error', error: { eventStore: { status: 'down' } } },
      });
      await request(app.getHttpServer()).get('/health/live').expect(200);
    } finally {
      await app.close();
    }
  });
});
