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

  describe('a store failure: 503 with Retry-After when it is passing, 500 when it is a bug', () => {
    const sqlError = (code: string) => Object.assign(new Error(`SQLSTATE ${code}`), { code });
    const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
    const CASES: Array<[string, unknown, 503 | 500]> = [
      ['08006 connection failure (class 08)', sqlError('08006'), 503],
      ['08001 unable to connect (class 08)', sqlError('08001'), 503],
      ['08P01 protocol violation (class 08): a statement given the wrong parameters, a bug', sqlError('08P01'), 500],
      ['25P03 idle-in-transaction session timeout', sqlError('25P03'), 503],
      ['40001 serialization failure (class 40)', sqlError('40001'), 503],
      ['40P01 deadlock (class 40)', sqlError('40P01'), 503],
      ['40003 statement completion unknown (class 40)', sqlError('40003'), 503],
      ['40002 integrity constraint at commit (class 40): a bug', sqlError('40002'), 500],
      ['53300 too many connections (class 53)', sqlError('53300'), 503],
      ['53100 disk full (class 53)', sqlError('53100'), 503],
      ['57P01 admin shutdown (class 57)', sqlError('57P01'), 503],
      ['57P02 crash shutdown (class 57)', sqlError('57P02'), 503],
      ['57P03 cannot connect now, starting up (class 57)', sqlError('57P03'), 503],
      ['57014 statement timeout (class 57)', sqlError('57014'), 503],
      ['57P04 database dropped (class 57): not passing', sqlError('57P04'), 500],
      ['58030 I/O error (class 58)', sqlError('58030'), 503],
      ['58P01 undefined file (class 58): a bug', sqlError('58P01'), 500],
      ['55P03 lock not available', sqlError('55P03'), 503],
      ['25006 read-only transaction (a failover under way)', sqlError('25006'), 503],
      ['22P05 untranslatable character (class 22): a bug', sqlError('22P05'), 500],
      ['23505 unique violation (class 23): a bug here', sqlError('23505'), 500],
      ['42P01 undefined table (class 42): a bug', sqlError('42P01'), 500],
      ['XX000 internal error (class XX)', sqlError('XX000'), 500],
      ['ECONNREFUSED (Node)', socketError('ECONNREFUSED'), 503],
      ['ECONNRESET (Node)', socketError('ECONNRESET'), 503],
      ['ETIMEDOUT (Node)', socketError('ETIMEDOUT'), 503],
      ["pg's 'Connection terminated unexpectedly'", new Error('Connection terminated unexpectedly'), 503],
      [
        "pg-pool's connection timeout, with its cause",
        new Error('Connection terminated due to connection timeout', { cause: new Error('x') }),
        503,
      ],
      [
        "pg-pool's 'timeout exceeded when trying to connect'",
        new Error('timeout exceeded when trying to connect'),
        503,
      ],
      ['an error whose cause is a lost connection', new Error('append failed', { cause: socketError('EPIPE') }), 503],
      ["KurrentDB's unavailable", Object.assign(new Error('14 UNAVAILABLE'), { type: 'unavailable' }), 503],
      ["KurrentDB's deadline exceeded", Object.assign(new Error('deadline'), { type: 'deadline-exceeded' }), 503],
      ["KurrentDB's not leader", Object.assign(new Error('not leader'), { type: 'not-leader' }), 503],
      [
        "KurrentDB's access denied: a bug of configuration",
        Object.assign(new Error('denied'), { type: 'access-denied' }),
        500,
      ],
      ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'x')"), 500],
    ];

    it.each(CASES)('%s', (_, error, status) => {
      const answer = answerTo(error);

      expect(answer.status).toBe(status);
      expect(answer.contentType).toBe('application/problem+json');
      if (status === 503) {
        expect(answer.body.type).toBe('/problems/store-unavailable');
        expect(answer.body.detail).toContain('same Idempotency-Key');
        expect(answer.headers['Retry-After']).toBe('1');
      } else {
        expect(answer.body.type).toBe('/problems/internal-error');
        expect(answer.headers['Retry-After']).toBeUndefined();
      }
    });
  });
});
