import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';

/**
 * Where outbound webhooks may go. An endpoint's URL is an operator's input, but a ledger inside a private
 * network must not become a way to reach it (SSRF): loopback and private ranges are refused unless allowed
 * (`OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS`, for tests and private deployments), link-local ones always (the
 * cloud metadata address 169.254.169.254 among them). A name is checked for every address it resolves to,
 * at registration and again at each delivery, on the very addresses the connection then uses.
 */
export type AddressKind = 'public' | 'private' | 'link-local';

const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');

const PRIVATE = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network": 0.0.0.0 reaches the local host
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and broadcast
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
}
PRIVATE.addAddress('::', 'ipv6');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6'); // unique local
PRIVATE.addSubnet('ff00::', 8, 'ipv6'); // multicast

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export function addressKind(address: string): AddressKind {
  const { address: plain, family } = unmapped(address.replace(/^\[|\]$/g, ''));
  if (isIP(plain) === 0) throw new Error(`not an IP address: ${address}`);
  if (LINK_LOCAL.check(plain, family)) return 'link-local';
  // IPv6 forms that carry an IPv4 address elsewhere (NAT64, 6to4, Teredo) are not reached through: refused too.
  if (PRIVATE.check(plain, family) || (family === 'ipv6' && /^(64:ff9b|2002|2001:0?:)/i.test(plain))) {
    return 'private';
  }
  return 'public';
}

/** Why an address may not be reached, or undefined when it may. */
export function refusalOf(address: string, allowPrivate: boolean): string | undefined {
  const kind = addressKind(address);
  if (kind === 'link-local') return `${address} is link-local: never reached`;
  if (kind === 'private' && !allowPrivate) {
    return `${address} is a loopback or private address (allowed only with OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS=true)`;
  }
  return undefined;
}

export class OutboundAddressRefusedError extends Error {
  override readonly name = 'OutboundAddressRefusedError';
  readonly code = 'EADDRREFUSED_BY_POLICY';
}

export type OutboundUrlPolicy = { allowPrivate: boolean };

/** The URL's own refusal (scheme, credentials, a literal address), before any name is resolved. */
export function refusalOfUrl(url: URL, policy: OutboundUrlPolicy): string | undefined {
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowPrivate)) {
    return 'must be https (http only with OUTBOUND_WEBHOOKS_ALLOW_PRIVATE_URLS=true)';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) === 0 ? undefined : refusalOf(host, policy.allowPrivate);
}

/**
 * How a name becomes addresses: the system's resolver (`dns.lookup`, as sockets use). Tests of a name that
 * resolves differently over time pass their own, there being no DNS server of theirs to change.
 */
export type Resolver = (
  hostname: string,
  options: { family?: number; hints?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) =>
  dnsLookup(hostname, { ...options, all: true }, callback);

/** Every address `hostname` resolves to, each checked; throws OutboundAddressRefusedError for the first refused. */
export async function resolveAllowed(
  hostname: string,
  policy: OutboundUrlPolicy,
  resolve: Resolver = systemResolver,
): Promise<string[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses =
    isIP(host) !== 0
      ? [host]
      : await new Promise<string[]>((resolved, rejected) =>
          resolve(host, {}, (error, found) =>
            error ? rejected(error) : resolved(found.map((entry) => entry.address)),
          ),
        );
  for (const address of addresses) {
    const refusal = refusalOf(address, policy.allowPrivate);
    if (refusal !== undefined) throw new OutboundAddressRefusedError(`${hostname}: ${refusal}`);
  }
  return addresses;
}

/**
 * A `lookup` for `http.request` that refuses a name resolving to an address the policy forbids: the check is
 * made on the addresses the socket then connects to, so a name that changes what it resolves to between a
 * check and the connection (DNS rebinding) is caught.
 */
export function guardedLookup(policy: OutboundUrlPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { family: options.family as number | undefined, hints: options.hints }, (error, found) => {
      if (error) return callback(error, '', 4);
      if (found.length === 0) return callback(new Error(`${hostname} resolves to no address`), '', 4);
      for (const entry of found) {
        const refusal = refusalOf(entry.address, policy.allowPrivate);
        if (refusal !== undefined) {
          return callback(new OutboundAddressRefusedError(`${hostname}: ${refusal}`), '', 4);
        }
      }
      if (options.all) return (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, found);
      return callback(null, found[0].address, found[0].family);
    });
  };
}
