/** `npm run bench [-- consumes | projection | webhook | replay]`: the benchmarks, by name (all when none is given). */
import 'reflect-metadata';
import { projectionBench } from './projection.bench';
import { replayBench } from './replay.bench';
import { sequentialConsumesBench } from './sequential-consumes.bench';
import { stripeWebhookBench } from './stripe-webhook.bench';

const BENCHES: Record<string, () => Promise<boolean>> = {
  consumes: sequentialConsumesBench,
  projection: projectionBench,
  webhook: stripeWebhookBench,
  replay: replayBench,
};

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
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
