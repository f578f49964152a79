/**
 * Compares balances found with those expected, as the peers do: at most three
 * mismatches named, then their count. Pushes failures onto `errors`.
 */
export function compareBalances(
  actual: ReadonlyMap<string, number>,
  expected: ReadonlyMap<string, number>,
  errors: string[],
  label: string,
): { sumActual: number; sumExpected: number; mismatches: number } {
  let mismatches = 0;
  let sumActual = 0;
  let sumExpected = 0;
  for (const [userId, expectedBalance] of expected) {
    sumExpected += expectedBalance;
    const actualBalance = actual.get(userId);
    if (actualBalance !== undefined) sumActual += actualBalance;
    if (actualBalance !== expectedBalance) {
      if (mismatches < 3)
        errors.push(`${label}: user ${userId} balance ${actualBalance} != expected ${expectedBalance}`);
      mismatches++;
    }
  }
  if (actual.size !== expected.size) errors.push(`${label}: ${actual.size} users found, expected ${expected.size}`);
  if (mismatches > 3) errors.push(`${label}: ${mismatches} mismatching users in total`);
  return { sumActual, sumExpected, mismatches };
}
