import 'reflect-metadata';
import { type ApiKey, loadConfig, failStartup } from '@libs/config';
import { describeEventStoreLocation } from '@libs/event-store';
import { developmentApiKey } from './auth/development-api-key';
import { createApp } from './create-app';

/** `npm start`: the API, with the projector in the same process unless ROLE=api. */
export async function main(): Promise<void> {
  const config = loadConfig();
  const apiKeys = config.apiKeys ?? [announceDevelopmentKey(config.dataDir)];
  const app = await createApp(config, apiKeys);
  app.enableShutdownHooks();
  await app.listen(config.port);
  const store = describeEventStoreLocation(config.eventStore);
  console.log(`Credits ledger listening on ${await app.getUrl()} (events in ${store}); API docs at /docs`);
}

function announceDevelopmentKey(dataDir: string): ApiKey {
  const { key, file, created } = developmentApiKey(dataDir);
  console.log(
    `API_KEYS is unset: ${created ? 'made' : 'using'} a development key with scope admin, kept in ${file}\n` +
      `  Authorization: Bearer ${key.secret}`,
  );
  return key;
}

if (require.main === module) {
  main().catch(failStartup);
}
