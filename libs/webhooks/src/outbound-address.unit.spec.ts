import { lookup } from 'node:dns/promises';
import { addressKind, guardedLookup, refusalOfUrl, resolveAllowed } from './outbound-address';

describe('where outbound webhooks may go', () => {
  it('tells public, private (loopback among them) and link-local addresses apart, IPv4 written as IPv6 too', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', '0.0.0.0', '::1']) {
      expect([address, addressKind(address)]).toEqual([address, 'private']);
    }
    for (const address of ['::ffff:127.0.0.1', '::ffff:10.0.0.1', 'fd00::1', '::', '64:ff9b::a00:1', '2002:a00:1::']) {
      expect([address, addressKind(address)]).toEqual([address, 'private']);
    }
    for (const address of ['169.254.169.254', '169.254.0.1', 'fe80::1', '::ffff:169.254.169.254']) {
      expect([address, addressKind(address)]).toEqual([address, 'link-local']);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '2001:db8::1']) {
      expect([address, addressKind(address)]).toEqual([address, 'public']);
    }
  });

  it('refuses loopback and private URLs unless allowed, link-local ones always, and http unless allowed', () => {
    const strict = { allowPrivate: false };
    const allowing = { allowPrivate: true };
    expect(refusalOfUrl(new URL('https://127.0.0.1/hook'), strict)).toMatch(/loopback or private/);
    expect(refusalOfUrl(new URL('https://10.0.0.8/hook'), strict)).toMatch(/loopback or private/);
    expect(refusalOfUrl(new URL('https://[::1]:8443/hook'), strict)).toMatch(/loopback or private/);
    expect(refusalOfUrl(new URL('https://127.0.0.1/hook'), allowing)).toBeUndefined();
    expect(refusalOfUrl(new URL('http://169.254.169.254/latest/meta-data'), allowing)).toMatch(/link-local/);
    expect(refusalOfUrl(new URL('https://[fe80::1]/'), allowing)).toMatch(/link-local/);
    expect(refusalOfUrl(new URL('http://93.184.216.34/hook'), strict)).toMatch(/must be https/);
    expect(refusalOfUrl(new URL('http://93.184.216.34/hook'), allowing)).toBeUndefined();
    expect(refusalOfUrl(new URL('ftp://93.184.216.34/hook'), allowing)).toMatch(/must be https/);
    expect(refusalOfUrl(new URL('https://user:pw@example.com/hook'), allowing)).toMatch(/credentials/);
    expect(refusalOfUrl(new URL('https://example.com/hook'), strict)).toBeUndefined();
  });

  it('checks every address a name resolves to: localhost is refused unless allowed', async () => {
    const addresses = (await lookup('localhost', { all: true })).map((entry) => entry.address);
    expect(addresses.length).toBeGreaterThan(0);
    await expect(resolveAllowed('localhost', { allowPrivate: false })).rejects.toThrow(/loopback or private/);
    await expect(resolveAllowed('localhost', { allowPrivate: true })).resolves.toEqual(addresses);
    await expect(resolveAllowed('169.254.169.254', { allowPrivate: true })).rejects.toThrow(/link-local/);
  });

  it('checks in the lookup the socket connects with, so a name cannot change what it resolves to afterwards', async () => {
    const lookupOf = (allowPrivate: boolean) =>
      new Promise<{ error: Error | null; address: unknown }>((resolve) =>
        guardedLookup({ allowPrivate })('localhost', { family: 0 }, (error, address) => resolve({ error, address })),
      );
    const refused = await lookupOf(false);
    expect(refused.error?.name).toBe('OutboundAddressRefusedError');
    const allowed = await lookupOf(true);
    expect(allowed.error).toBeNull();
    expect(typeof allowed.address).toBe('string');
  });
});
