/**
 * A defect planted on purpose, for the seeded simulation's test of its own checker (`npm run sim --
 * --planted-defect …`, docs/reliability.md): a simulation that passes with it planted would prove nothing.
 * Read once from `CREDITS_PLANTED_DEFECT`, which only the simulation sets; unset, nothing changes.
 *
 * - `balance-skips-a-consume`: the balance projection ignores the amount of a consumption whose feed
 *   position is a multiple of 100, so the read model shows credits the user no longer has.
 * - `capture-takes-whole-hold`: a capture consumes all the hold reserved, whatever amount it asked for.
 */
export const PLANTED_DEFECTS = ['balance-skips-a-consume', 'capture-takes-whole-hold'] as const;
export type PlantedDefect = (typeof PLANTED_DEFECTS)[number];

const PLANTED = process.env.CREDITS_PLANTED_DEFECT;
// A misspelt name would run with no defect planted, and a simulation meant to fail would pass.
if (PLANTED !== undefined && PLANTED !== '' && !(PLANTED_DEFECTS as readonly string[]).includes(PLANTED)) {
  throw new Error(`CREDITS_PLANTED_DEFECT is one of ${PLANTED_DEFECTS.join(', ')}, not ${PLANTED}`);
}

export function isPlanted(defect: PlantedDefect): boolean {
  return PLANTED === defect;
}
