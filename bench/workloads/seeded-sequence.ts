/**
 * The peers' seeded user sequence (the peers' `src/common.mjs`, in the folder given with `--peers`), copied
 * exactly: the same seed gives every implementation the same commands.
 */

/** mulberry32: small, fast, seedable PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The peers' user ids: `u000000`, `u000001`, ... */
export function benchUserId(index: number): string {
  return `u${String(index).padStart(6, '0')}`;
}

/** The W1 sequence, pre-generated: the user index of each of `ops` commands. */
export function spreadSequence(options: { seed: number; ops: number; users: number }): Int32Array {
  const random = mulberry32(options.seed);
  const sequence = new Int32Array(options.ops);
  for (let index = 0; index < options.ops; index++) sequence[index] = Math.floor(random() * options.users);
  return sequence;
}
