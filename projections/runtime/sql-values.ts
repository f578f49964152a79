/** A bigint column read as text, checked to fit a JavaScript number exactly (credit amounts are bounded). */
export function safeInteger(text: string | number, column: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${column} holds ${text}, not a safe integer`);
  return value;
}

/** Columns of rows, for one multi-row `insert ... select * from unnest($1::type[], ...)`. */
export function columnsOf<Row, Column extends keyof Row>(
  rows: readonly Row[],
  columns: readonly Column[],
): unknown[][] {
  return columns.map((column) => rows.map((row) => row[column]));
}
