import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, ProblemException, problemType } from './problems/problem-details';
import { refuseUnstorableStrings } from './storable-strings';

export const REQUEST_BODY_LIMIT = '64kb';
/** Deeper bodies are refused before validation, whose recursive copy would overflow the stack. */
export const REQUEST_BODY_DEPTH_MAX = 16;

/** Stripe events can be large (an invoice with many lines); its senders are verified by signature. */
export const RAW_BODY_LIMIT = '1mb';

/**
 * The body at `path` is kept as the bytes that were sent (a Buffer), whatever
 * its content type: a signature is computed over exactly those bytes. Call it
 * before `acceptJsonBodies`, whose parser then leaves that body alone.
 */
export function acceptRawBodiesAt(app: NestExpressApplication, path: string): void {
  app.useBodyParser('raw', {
    limit: RAW_BODY_LIMIT,
    type: (request: { url?: string }) => request.url?.split('?')[0] === path,
  });
}

/**
 * JSON bodies up to 64 KiB and 16 levels deep, and no string anywhere in a
 * request that PostgreSQL cannot store (see storable-strings.ts). Body-parser's own errors
 * (malformed JSON, too large) become problem details here, before NestJS
 * would turn them into generic ones.
 */
export function acceptJsonBodies(app: NestExpressApplication): void {
  app.useBodyParser('json', { limit: REQUEST_BODY_LIMIT });
  app.use(bodyParserErrorsAsProblems);
  app.use(refuseDeepBodies);
  app.use(refuseUnstorableStrings);
}

function bodyParserErrorsAsProblems(error: unknown, _request: Request, _response: Response, next: NextFunction): void {
  const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
  if (type === 'entity.parse.failed') {
    return next(
      ProblemException.of(400, 'malformed-json', 'Malformed JSON body', {
        detail: 'the request body is not valid JSON',
      }),
    );
  }
  if (type === 'entity.too.large' || status === 413) {
    // The parser that refused it says its limit: the webhook's raw body may be larger than a JSON body.
    const { limit } = error as { limit?: unknown };
    return next(
      ProblemException.of(413, 'payload-too-large', 'Payload too large', {
        detail: typeof limit === 'number' ? `the body is over ${limit} bytes` : 'the body is too large',
      }),
    );
  }
  if (typeof status === 'number' && status >= 400 && status < 500 && type === undefined) {
    // A body in a Content-Encoding (gzip, deflate, br) that does not decode: zlib's error, with the parser's status.
    return next(
      ProblemException.of(400, 'undecodable-body', 'Body does not decode', {
        detail: 'the body could not be decoded in the Content-Encoding it names',
      }),
    );
  }
  next(error);
}

function refuseDeepBodies(request: Request, _response: Response, next: NextFunction): void {
  if (!Buffer.isBuffer(request.body) && depthExceeds(request.body, REQUEST_BODY_DEPTH_MAX)) {
    return next(
      ProblemException.of(400, 'invalid-request', 'Invalid request', {
        detail: `the body nests objects or arrays more than ${REQUEST_BODY_DEPTH_MAX} levels deep`,
      }),
    );
  }
  next();
}

/** Iterative, so that checking a hostile body cannot itself overflow the stack. */
export function depthExceeds(value: unknown, depthMax: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= depthMax) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
}

/** What Node's HTTP parser refuses before any route runs, by its error code: a status and a problem. */
const CLIENT_ERRORS: Record<string, [number, string, string, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'headers-too-large',
    'Request Header Fields Too Large',
    'the request line and headers are over 16 KiB',
  ],
  HPE_URI_TOO_LONG: [414, 'uri-too-long', 'URI Too Long', 'the request line is too long'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request-timeout', 'Request Timeout', 'the request did not arrive in time'],
};

/**
 * Requests Node's HTTP server refuses itself (headers over its limit, a
 * request that is not HTTP) are answered as problem+json too, as every other
 * error is, instead of Node's bare status line.
 */
export function answerClientErrorsAsProblems(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, slug, title, detail] = CLIENT_ERRORS[error.code ?? ''] ?? [
      400,
      'bad-request',
      'Bad Request',
      'the request is not valid HTTP',
    ];
    const body = JSON.stringify({ type: problemType(slug), title, status, detail });
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
