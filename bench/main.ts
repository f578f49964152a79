/**
 * `npm run bench [-- consumes | projection | webhook | replay | grants | outbound-webhooks]`: the benchmarks, by name
 * (all when none is given).
 * `npm run bench -- w1|w2|w3 [--json] [--store pglite] [flags]`: one workload of the peers folder (`--peers DIR`).
 * `npm run bench -- http [--json] [--store pglite] [flags]`: consumes through the API under autocannon (see bench/http.bench.ts).
 * `npm run bench -- holds [--json] [flags]`: w1 and w2 with each consume a hold and its capture (see bench/holds.bench.ts).
 * `npm run bench -- compare --peers DIR`: ours and the peers side by side (see bench/compare.ts).
 */
import 'reflect-metadata';
import { compare } from './compare';
import { grantsBench } from './grants.bench';
import { holdsBench } from './holds.bench';
import { httpBench } from './http.bench';
import { outboundWebhooksBench } from './outbound-webhooks.bench';
import { projectionBench } from './projection.bench';
import { replayBench } from './replay.bench';
import { sequentialConsumesBench } from './sequential-consumes.bench';
import { stripeWebhookBench } from './stripe-webhook.bench';
import { WORKLOADS, runWorkload } from './workloads/run-workload';

const BENCHES: Record<string, () => Promise<boolean>> = {
  consumes: sequentialConsumesBench,
  projection: projectionBench,
  webhook: stripeWebhookBench,
  replay: replayBench,
  grants: grantsBench,
  'outbound-webhooks': outboundWebhooksBench,
};

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first !== undefined && first in WORKLOADS) return runWorkload(first, rest);
  if (first === 'compare') return compare(rest);
  if (first === 'http') return httpBench(rest);
  if (first === 'holds') return (await holdsBench(rest)) ? 0 : 1;
  return runBenches(argv);
}

async function runBenches(names: string[]): Promise<number> {
  const unknown = names.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    const known = [...Object.keys(BENCHES), ...Object.keys(WORKLOADS), 'http', 'compare'];
    console.error(`unknown benchmark ${unknown.join(', ')}; known: ${known.join(', ')}`);
    return 2;
  }
  let verified = true;
  for (const name of names.length === 0 ? Object.keys(BENCHES) : names) verified = (await BENCHES[name]()) && verified;
  return verified ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
