import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiKey } from '@libs/config';

export const DEVELOPMENT_API_KEY_FILE = 'development-api-key';

/**
 * The embedded mode's key when API_KEYS is unset: made once, kept in the data
 * directory (readable by its owner only), so the quick start needs no set-up.
 */
export function developmentApiKey(dataDir: string): { key: ApiKey; file: string; created: boolean } {
  const file = join(dataDir, DEVELOPMENT_API_KEY_FILE);
  let created = false;
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dataDir, { recursive: true });
    secret = `dev_${randomBytes(24).toString('base64url')}`;
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    created = true;
  }
  return { key: { name: 'development', scopes: new Set(['admin']), secret }, file, created };
}
