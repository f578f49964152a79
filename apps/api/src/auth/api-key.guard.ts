import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type ApiKey, type ApiScope, hasScope } from '@libs/config';
import type { Request } from 'express';
import { PUBLIC_ROUTE, ProblemException } from '@libs/http';
import { ApiKeyVerifier } from './api-key.verifier';

const REQUIRED_SCOPE = 'credits:required-scope';

/** The scope a route needs; a route without one and not @Public (libs/http) is refused to everyone. */
export const RequiresScope = (scope: ApiScope) => SetMetadata(REQUIRED_SCOPE, scope);

export type AuthenticatedRequest = Request & { apiKey?: ApiKey };

@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: ApiKeyVerifier,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const key = this.authenticate(request);
    const scope = this.reflector.getAllAndOverride<ApiScope | undefined>(REQUIRED_SCOPE, targets);
    if (scope === undefined || !hasScope(key, scope)) {
      throw ProblemException.of(403, 'forbidden', 'Forbidden', {
        detail: `the API key "${key.name}" lacks the scope "${scope ?? 'admin'}"`,
        requiredScope: scope ?? 'admin',
      });
    }
    request.apiKey = key;
    return true;
  }

  private authenticate(request: Request): ApiKey {
    const match = /^Bearer ([^\s]+)$/.exec(request.headers.authorization ?? '');
    const key = match ? this.verifier.verify(match[1]) : undefined;
    if (key === undefined) {
      throw ProblemException.of(401, 'unauthorized', 'Unauthorized', {
        detail: 'send a valid API key as "Authorization: Bearer <key>"',
      });
    }
    return key;
  }
}
