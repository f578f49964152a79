import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { ApiKey } from '@libs/config';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyVerifier } from './api-key.verifier';

/** Every route needs a bearer API key with the route's scope, unless marked @Public. */
@Module({})
export class AuthModule {
  static forRoot(apiKeys: readonly ApiKey[]): DynamicModule {
    return {
      module: AuthModule,
      providers: [
        { provide: ApiKeyVerifier, useValue: new ApiKeyVerifier(apiKeys) },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
    };
  }
}
