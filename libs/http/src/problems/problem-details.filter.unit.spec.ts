import type { ArgumentsHost } from '@nestjs/common';
import { ProblemException } from './problem-details';
import { ProblemDetailsFilter } from './problem-details.filter';

/** Catches one exception as the filter would for a request to /v1/users/u/consumptions. */
function answerTo(exception: unknown) {
  const answer = {
    status: 0,
    headers: {} as Record<string, string>,
    contentType: '',
    body: {} as Record<string, unknown>,
  };
  const response = {
    status: (status: number) => ((answer.status = status), response),
    setHeader: (name: string, value: string) => (answer.headers[name] = value),
    type: (contentType: string) => ((answer.contentType = contentType), response),
    send: (body: string) => (answer.body = JSON.parse(body)),
  };
  const host = {
    switchToHttp: () => ({
      getRequest: () => ({ originalUrl: '/v1/users/u/consumptions' }),
      getResponse: () => response,
    }),
  } as unknown as ArgumentsHost;
  new ProblemDetailsFilter().catch(exception, host);
  return answer;
}

describe('ProblemDetailsFilter', () => {
  it('answers a problem exception with its problem, as application/problem+json', () => {
    const answer = answerTo(ProblemException.of(402, 'insufficient-credits', 'Insufficient credits', { balance: 0 }));

    expect(answer.status).toBe(402);
    expect(answer.contentType).toBe('application/problem+json');
    expect(answer.body).toEqual({
      type: '/problems/insufficient-credits',
      title: 'Insufficient credits',
      status: 402,
      balance: 0,
      instance: '/v1/users/u/consumptions',
    });
  });

  it('adds WWW-Authenticate to a 401', () => {
    const answer = answerTo(ProblemException.of(401, 'unauthorized', 'Unauthorized'));

    expect(answer.headers['WWW-Authenticate']).toBe('Bearer');
  });

  it('answers an unexpected error with 500 internal-error, without its message', () => {
    const answer = answerTo(new Error('connection to 10.0.0.5 refused: password authentication failed'));

    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({
      type: '/problems/internal-error',
      title: 'Internal server error',
      status: 500,
      instance: '/v1/users/u/consumptions',
    });
  });
});
