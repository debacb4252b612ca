import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { AppError } from '../../errors.ts';

/** True for loopback, private, link-local, carrier-grade NAT and unspecified addresses. */
export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return isPrivateAddress(mapped[1]!);
  // URL parsing writes an IPv4-mapped address in hex: ::ffff:c0a8:1 is 192.168.0.1.
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (hex) {
    const high = parseInt(hex[1]!, 16);
    const low = parseInt(hex[2]!, 16);
    return isPrivateAddress(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  const lower = ip.toLowerCase();
  return lower === '::' || lower === '::1' || /^f[cd]/.test(lower) || /^fe[89ab]/.test(lower);
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Finds the addresses of a host name (the system resolver; tests pass their own). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (host) => lookup(host, { all: true });

/**
 * Resolves the URL's host once and checks every address it has: an address inside the server's own
 * network (a request forged through us) is refused unless the operator allowed it. A public name for
 * an inner address is refused too. The connection must then go to these addresses and no others
 * (see pinnedLookup): asking DNS again could get another answer.
 */
export async function resolveDeliverableAddresses(
  url: URL,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<ResolvedAddress[]> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: ResolvedAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else if (host === 'localhost' || host.endsWith('.localhost'))
    addresses = [{ address: '127.0.0.1', family: 4 }];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw new AppError('invalid', `The address ${host} could not be found.`);
  }
  if (!allowPrivate && addresses.some((a) => isPrivateAddress(a.address))) {
    throw new AppError(
      'invalid',
      `The address ${host} is inside this server's network; webhooks go only to public addresses (set WEBHOOK_ALLOW_PRIVATE=true to allow it).`,
    );
  }
  return addresses;
}

/** Checks a webhook address when it is registered (names are resolved; see resolveDeliverableAddresses). */
export async function assertDeliverableAddress(
  url: URL,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<void> {
  if (allowPrivate) return;
  await resolveDeliverableAddresses(url, allowPrivate, resolve);
}

/** A `lookup` for node:http(s) that answers with the checked addresses and never asks DNS again. */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
    const usable = addresses.filter((a) => wanted === 0 || a.family === wanted);
    if (usable.length === 0) {
      callback(Object.assign(new Error('no checked address of that family'), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (options.all)
      callback(
        null,
        usable.map((a) => ({ address: a.address, family: a.family })),
      );
    else callback(null, usable[0]!.address, usable[0]!.family);
  };
}
