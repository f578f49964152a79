/**
 * The client side of `npm run bench -- http`, run in a child process so that
 * its CPU is neither profiled nor taken from the server's event loop:
 * autocannon posts `requests` consumes over `connections` keep-alive
 * connections (one request in flight on each), request `index` going to user
 * `sequence[index]` (the W1 sequence), and the child answers with what it saw.
 */
import autocannon from 'autocannon';
import { benchUserId, spreadSequence } from '../workloads/seeded-sequence';

export type LoadPlan = {
  baseUrl: string;
  secret: string;
  feature: string;
  users: number;
  requests: number;
  connections: number;
  seed: number;
  runId: string;
};

export type LoadReport = {
  /** Requests planned: each is answered, or counted in connectionErrors. */
  requests: number;
  seconds: number;
  latenciesMs: number[];
  statusCounts: Record<string, number>;
  /** Consumes answered 201, per user index. */
  createdPerUser: number[];
  /** Connection errors and timeouts (no HTTP answer). */
  connectionErrors: number;
  timeouts: number;
  firstErrors: string[];
};

type ClientContext = { userIndex?: number };

export function generateLoad(plan: LoadPlan): Promise<LoadReport> {
  const sequence = spreadSequence({ seed: plan.seed, ops: plan.requests, users: plan.users });
  const createdPerUser = new Array<number>(plan.users).fill(0);
  const statusCounts: Record<string, number> = {};
  const latenciesMs: number[] = [];
  const firstErrors: string[] = [];
  let next = 0;
  const options: autocannon.Options = {
    url: plan.baseUrl,
    connections: plan.connections,
    pipelining: 1,
    amount: plan.requests,
    timeout: 30,
    method: 'POST',
    headers: { authorization: `Bearer ${plan.secret}`, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request, context: ClientContext) => {
          const index = next++;
          const userIndex = sequence[index % plan.requests];
          context.userIndex = userIndex;
          const reference = `${plan.runId}-${index}`;
          return {
            ...request,
            path: `/v1/users/${benchUserId(userIndex)}/consumptions`,
            body: JSON.stringify({ feature: plan.feature, reference }),
          };
        },
        onResponse: (status, body, context: ClientContext) => {
          statusCounts[status] = (statusCounts[status] ?? 0) + 1;
          if (status === 201 && context.userIndex !== undefined) createdPerUser[context.userIndex]++;
          else if (status !== 201 && firstErrors.length < 3) firstErrors.push(`HTTP ${status}: ${body.slice(0, 200)}`);
        },
      },
    ],
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error: Error | null, result) => {
      if (error) return reject(error);
      resolve({
        requests: plan.requests,
        seconds: result.duration,
        latenciesMs,
        statusCounts,
        createdPerUser,
        connectionErrors: result.errors,
        timeouts: result.timeouts,
        firstErrors,
      });
    });
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latenciesMs.push(responseTimeMs));
    instance.on('reqError', (error: Error) => {
      if (firstErrors.length < 3) firstErrors.push(`request error: ${error.message}`);
    });
  });
}

if (require.main === module) {
  process.once('disconnect', () => process.exit(1));
  process.send?.('ready');
  process.once('message', (plan: LoadPlan) => {
    generateLoad(plan).then(
      (report) => process.send?.(report, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
