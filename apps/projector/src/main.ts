import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { loadConfig, failStartup } from '@libs/config';
import { describeEventStoreLocation } from '@libs/event-store';
import { Logger } from 'nestjs-pino';
import { ProjectorAppModule } from './projector-app.module';

/** `ROLE=projector npm start`: keeps the read model up to date; serves /health and /metrics on PORT. */
export async function main(): Promise<void> {
  const config = loadConfig();
  const app = await NestFactory.create(ProjectorAppModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  await app.listen(config.port);
  const store = describeEventStoreLocation(config.eventStore);
  console.log(`Credits projector running on ${store}; /health and /metrics on ${await app.getUrl()}`);
}

if (require.main === module) {
  main().catch(failStartup);
}
