/** What a key may do; `admin` implies every other scope. */
export const API_SCOPES = ['consume', 'grant', 'read', 'audit', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export type ApiKey = { name: string; scopes: ReadonlySet<ApiScope>; secret: string };

export const API_KEY_SECRET_LENGTH_MIN = 16;

/**
 * Parses `API_KEYS`: a comma-separated list of `name:scopes:secret`, scopes
 * joined by `+`. Throws a message that never contains a secret.
 */
export function parseApiKeys(value: string): ApiKey[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) throw new Error('lists no key; expected name:scopes:secret[,name:scopes:secret...]');
  const keys = entries.map((entry, index) => parseApiKey(entry, index));
  const names = new Set(keys.map((key) => key.name));
  if (names.size !== keys.length) throw new Error('names the same key twice');
  // One secret under two names would grant the wider scopes of either: refuse it.
  const secrets = new Set(keys.map((key) => key.secret));
  if (secrets.size !== keys.length) throw new Error('gives two keys the same secret');
  return keys;
}

function parseApiKey(entry: string, index: number): ApiKey {
  const [name, scopeList, ...secretParts] = entry.split(':');
  const secret = secretParts.join(':');
  if (!name || !scopeList || !secret) throw new Error(`entry ${index + 1} is not name:scopes:secret`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`entry ${index + 1} has an invalid name`);
  const scopes = scopeList.split('+');
  for (const scope of scopes) {
    if (!(API_SCOPES as readonly string[]).includes(scope)) {
      throw new Error(`key "${name}" has unknown scope "${scope}" (known: ${API_SCOPES.join(', ')})`);
    }
  }
  if (secret.length < API_KEY_SECRET_LENGTH_MIN) {
    throw new Error(`key "${name}" has a secret shorter than ${API_KEY_SECRET_LENGTH_MIN} characters`);
  }
  return { name, scopes: new Set(scopes as ApiScope[]), secret };
}

export function hasScope(key: ApiKey, scope: ApiScope): boolean {
  return key.scopes.has('admin') || key.scopes.has(scope);
}
