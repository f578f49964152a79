import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKey } from '@libs/config';

/**
 * Finds the key a bearer token belongs to, in constant time: both sides are
 * hashed to the same length and every key is compared, whatever matches.
 */
export class ApiKeyVerifier {
  private readonly keys: ReadonlyArray<{ key: ApiKey; digest: Buffer }>;

  constructor(keys: readonly ApiKey[]) {
    this.keys = keys.map((key) => ({ key, digest: sha256(key.secret) }));
  }

  verify(presentedSecret: string): ApiKey | undefined {
    const presented = sha256(presentedSecret);
    let found: ApiKey | undefined;
    for (const { key, digest } of this.keys) {
      if (timingSafeEqual(presented, digest)) found = key;
    }
    return found;
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
