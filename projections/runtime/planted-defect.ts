/**
 * A defect planted on purpose, for the seeded simulation's test of its own checker (`npm run sim --
 * --planted-defect …`, docs/reliability.md): a simulation that passes with it planted would prove nothing.
 * Read once from `CREDITS_PLANTED_DEFECT`, which only the simulation sets; unset, nothing changes.
 *
 * - `balance-skips-a-consume`: the balance projection ignores the amount of a consumption whose feed
 *   position is a multiple of 100, so the read model shows credits the user no longer has.
 */
export type PlantedDefect = 'balance-skips-a-consume';

const PLANTED = process.env.CREDITS_PLANTED_DEFECT;

export function isPlanted(defect: PlantedDefect): boolean {
  return PLANTED === defect;
}
