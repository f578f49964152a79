import { parseApiKeys } from '@libs/config';
import { ApiKeyVerifier } from './api-key.verifier';

describe('ApiKeyVerifier', () => {
  const verifier = new ApiKeyVerifier(
    parseApiKeys('backend:consume+read:backend-secret-0123456789,ops:admin:ops-secret-0123456789'),
  );

  it('finds the key a secret belongs to', () => {
    expect(verifier.verify('backend-secret-0123456789')?.name).toBe('backend');
    expect(verifier.verify('ops-secret-0123456789')?.name).toBe('ops');
  });

  it.each(['', 'backend-secret-012345678', 'backend-secret-0123456789 ', 'BACKEND-SECRET-0123456789'])(
    'finds no key for %p',
    (secret) => {
      expect(verifier.verify(secret)).toBeUndefined();
    },
  );
});
