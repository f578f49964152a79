/** A bigint column read as text, checked to fit a JavaScript number exactly (credit amounts are bounded). */
export function safeInteger(text: string | number, column: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${column} holds ${text}, not a safe integer`);
  return value;
}

/** A column written from a row: the row's field, the table's column and its SQL type. */
export type WrittenColumn<Row> = readonly [field: keyof Row & string, column: string, type: string];

/**
 * Rows sent as one JSON parameter: `insert into t (<columns>) select <fields>
 * from json_to_recordset($1::json) as rows(<record>)`. The same rows as one
 * array per column, cheaper to send: JSON.stringify is native, where an array
 * parameter is escaped element by element in JavaScript (the projector's
 * batches spend their time there, not in the database).
 */
export function recordsetOf<Row>(columns: ReadonlyArray<WrittenColumn<Row>>): {
  columns: string;
  fields: string;
  record: string;
} {
  return {
    columns: columns.map(([, column]) => column).join(', '),
    fields: columns.map(([field]) => `"${field}"`).join(', '),
    record: columns.map(([field, , type]) => `"${field}" ${type}`).join(', '),
  };
}
