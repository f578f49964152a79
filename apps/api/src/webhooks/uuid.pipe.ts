import { ParseUUIDPipe } from '@nestjs/common';
import { ProblemException } from '@libs/http';

/** An id in a path that must be a UUID (endpoints, deliveries): anything else is a 400, as every bad input. */
export const UuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => ProblemException.of(400, 'invalid-request', 'Invalid request', { detail: 'not a UUID' }),
});
