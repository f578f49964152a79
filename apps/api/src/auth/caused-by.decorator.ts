import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Causation } from '@libs/credits';
import type { AuthenticatedRequest } from './api-key.guard';

/** The API key that made the request, by name, for the events it causes (never the secret). */
export const CausedBy = createParamDecorator((_: unknown, context: ExecutionContext): Causation => {
  const apiKey = context.switchToHttp().getRequest<AuthenticatedRequest>().apiKey?.name;
  return apiKey === undefined ? {} : { apiKey };
});
