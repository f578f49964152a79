import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isTransientStoreFailure } from '@libs/event-store';
import { PROBLEM_CONTENT_TYPE, type ProblemDetails, ProblemException, problemType } from './problem-details';

/**
 * Every error leaves the API as application/problem+json; a passing fault of
 * a store is answered 503 with Retry-After, anything unexpected is logged and
 * answered 500.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const request = context.getRequest<Request>();
    const response = context.getResponse<Response>();
    const problem = { ...this.problemOf(exception), instance: request.originalUrl };
    if (problem.status >= 500) this.logger.error({ err: exception, problemType: problem.type }, 'request failed');
    if (problem.status === 503) response.setHeader('Retry-After', '1');
    if (problem.status === 401) response.setHeader('WWW-Authenticate', 'Bearer');
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }

  private problemOf(exception: unknown): ProblemDetails {
    if (exception instanceof ProblemException) return exception.problem;
    if (exception instanceof HttpException) return fromHttpException(exception);
    const status = httpStatusOfFramework(exception);
    if (status !== undefined) return fromFrameworkError(status, exception as Error);
    if (isTransientStoreFailure(exception)) return STORE_UNAVAILABLE;
    return {
      type: problemType('internal-error'),
      title: 'Internal server error',
      status: HttpStatus.INTERNAL_SERVER_ERROR,
    };
  }
}

/**
 * A passing fault of a store (see isTransientStoreFailure), told apart from a
 * bug: the client may not know whether its request was applied, and a retry
 * with the same idempotency key is how it finds out, safely.
 */
const STORE_UNAVAILABLE: ProblemDetails = {
  type: problemType('store-unavailable'),
  title: 'Store unavailable',
  status: HttpStatus.SERVICE_UNAVAILABLE,
  detail:
    'the database failed for a moment (a lost connection, a timeout, a restart); whether this request was applied ' +
    'is unknown: send it again with the same Idempotency-Key, which applies it at most once',
};

function fromHttpException(exception: HttpException): ProblemDetails {
  const status = exception.getStatus();
  const slugs: Record<number, [string, string]> = {
    [HttpStatus.NOT_FOUND]: ['not-found', 'Not found'],
    [HttpStatus.METHOD_NOT_ALLOWED]: ['method-not-allowed', 'Method not allowed'],
    [HttpStatus.PAYLOAD_TOO_LARGE]: ['payload-too-large', 'Payload too large'],
    [HttpStatus.UNSUPPORTED_MEDIA_TYPE]: ['unsupported-media-type', 'Unsupported media type'],
  };
  const [slug, title] =
    slugs[status] ?? (status >= 500 ? ['internal-error', 'Internal server error'] : ['bad-request', 'Bad request']);
  return { type: problemType(slug), title, status, detail: exception.message };
}

/** Other body-parser errors (an unsupported charset, an aborted request) carry a 4xx `status` and a `type`. */
function httpStatusOfFramework(exception: unknown): number | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const { status, type } = exception as { status?: unknown; type?: unknown };
  return typeof status === 'number' && typeof type === 'string' && status >= 400 && status < 500 ? status : undefined;
}

function fromFrameworkError(status: number, error: Error): ProblemDetails {
  const slug = status === 415 ? 'unsupported-media-type' : 'bad-request';
  return { type: problemType(slug), title: 'Bad request', status, detail: error.message };
}
