/**
 * Whether an error of a store (the event store or the read model: PostgreSQL
 * through `pg`, PGlite, KurrentDB) is a passing fault rather than a bug: the
 * connection was lost or refused, a timeout, the server restarting or
 * shutting down, a deadlock or serialization failure, a full disk or too many
 * connections, a standby that cannot write yet. The request's outcome is then
 * unknown, and the same request sent again (with its idempotency key) is safe:
 * the API answers 503 with Retry-After. Anything else stays a 500.
 */
export function isTransientStoreFailure(error: unknown): boolean {
  for (let current = error, depth = 0; isObject(current) && depth < 5; current = current.cause, depth++) {
    if (isTransientSqlState(current.code) || isTransientConnectionError(current)) return true;
  }
  return false;
}

/**
 * SQLSTATE codes that a retry can get past, by class: 08 connection
 * exception but for 08P01 (a protocol violation: a bug of the caller); 40 transaction rollback (deadlock, serialization failure,
 * outcome unknown) but for 40002 (a constraint: a bug); 53 insufficient
 * resources; 57 operator intervention (a restart, a shutdown, a statement or
 * lock timeout) but for 57P04 (database dropped); 58 system errors of I/O;
 * 55P03 a lock not available in time; 25006 a read-only transaction (a
 * failover still under way); 25P03 a transaction ended by
 * idle_in_transaction_session_timeout. Every other class (22 data, 23 integrity, 42
 * syntax, XX internal) is a bug of this service or its data: 500.
 */
export function isTransientSqlState(code: unknown): boolean {
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  const sqlClass = code.slice(0, 2);
  // 08P01 (protocol violation) is what a statement given the wrong number of parameters gets: a bug.
  if (sqlClass === '08') return code !== '08P01';
  if (sqlClass === '53') return true;
  if (sqlClass === '40') return code !== '40002';
  if (sqlClass === '57') return code !== '57P04';
  if (sqlClass === '58') return code === '58000' || code === '58030';
  return code === '55P03' || code === '25006' || code === '25P03';
}

/** Socket errors of Node, and the connection errors `pg`, its pool and the KurrentDB client throw without a SQLSTATE. */
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
const TRANSIENT_DRIVER_MESSAGES = [
  /^Connection terminated/, // pg: the server closed the socket, or the connection timed out
  /^timeout exceeded when trying to connect/, // pg's pool: no connection within its timeout
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^Query read timeout/,
  /^PGlite is closed/, // the process is shutting down
];
/** KurrentDB client errors, by their `type` (the client's classes are loaded only in its adapter). */
const TRANSIENT_KURRENTDB_ERROR_TYPES = new Set(['unavailable', 'deadline-exceeded', 'timeout', 'not-leader']);

function isTransientConnectionError(error: { code?: unknown; message?: unknown; type?: unknown }): boolean {
  if (typeof error.code === 'string' && TRANSIENT_SOCKET_CODES.has(error.code)) return true;
  if (typeof error.type === 'string' && TRANSIENT_KURRENTDB_ERROR_TYPES.has(error.type)) return true;
  const message = typeof error.message === 'string' ? error.message : '';
  return TRANSIENT_DRIVER_MESSAGES.some((pattern) => pattern.test(message));
}

function isObject(value: unknown): value is { code?: unknown; message?: unknown; type?: unknown; cause?: unknown } {
  return typeof value === 'object' && value !== null;
}
