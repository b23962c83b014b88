// Local addresses a socket can hold in a cell, and the kernel's address-overlap predicates over
// them (models ipv4_rcv_saddr_equal / ipv6_rcv_saddr_equal / inet_rcv_saddr_equal and the
// bhash2 address matching in net/ipv4/inet_hashtables.c of Linux 6.1).
import type { BindAddr, Family } from '../core/cell.js';

/** IPv4 receive address (sk_rcv_saddr). 127.0.0.6 is LOOPBACK4_IPV6, what IPv6 sockets with a non-mapped address carry. */
export type V4 = '0.0.0.0' | '127.0.0.1' | '127.0.0.6';
/** IPv6 receive address (sk_v6_rcv_saddr). */
export type V6 = '::' | '::1' | '::ffff:127.0.0.1' | '::ffff:0.0.0.0';
/** Kernel socket family (sk_family): v4-mapped cells use AF_INET6 sockets. */
export type SkFamily = 'AF_INET' | 'AF_INET6';

/** The address part of a socket that the bind tables look at. */
export interface SkAddr {
  family: SkFamily;
  v4: V4;
  v6: V6;
  ipv6only: boolean;
}

type V6Kind = 'any' | 'mapped' | 'unicast';

// Classifies an IPv6 address the way ipv6_addr_type() does for the cases we use.
function v6Kind(a: V6): V6Kind {
  if (a === '::') return 'any';
  if (a.startsWith('::ffff:')) return 'mapped';
  return 'unicast';
}

// Returns the IPv4 address embedded in a v4-mapped IPv6 address.
function mappedPart(a: V6): V4 {
  return a.slice('::ffff:'.length) as V4;
}

// Returns the v4-mapped IPv6 form of an IPv4 address (ipv6_addr_set_v4mapped).
export function toMapped(a: V4): V6 {
  return a === '127.0.0.1' ? '::ffff:127.0.0.1' : '::ffff:0.0.0.0';
}

// inet6_rcv_saddr(): the IPv6 receive address, or null for AF_INET sockets.
function rcv6(sk: SkAddr): V6 | null {
  return sk.family === 'AF_INET6' ? sk.v6 : null;
}

// Models ipv6_rcv_saddr_equal(): do two bindings overlap (with wildcard matching per side)?
export function ipv6RcvSaddrEqual(
  a1: V6, a2: V6 | null, v4a: V4, v4b: V4,
  only1: boolean, only2: boolean, wild1: boolean, wild2: boolean,
): boolean {
  const k1 = v6Kind(a1);
  const k2: V6Kind = a2 === null ? 'mapped' : v6Kind(a2);
  if (k1 === 'mapped' && k2 === 'mapped') {
    if (only2) return false;
    if (v4a === v4b) return true;
    return (wild1 && v4a === '0.0.0.0') || (wild2 && v4b === '0.0.0.0');
  }
  if (k1 === 'any' && k2 === 'any') return true;
  if (k2 === 'any' && wild2 && !(only2 && k1 === 'mapped')) return true;
  if (k1 === 'any' && wild1 && !(only1 && k2 === 'mapped')) return true;
  return a2 !== null && a1 === a2;
}

// Models ipv4_rcv_saddr_equal(): IPv4 overlap, 0.0.0.0 matching everything on a wildcard side.
export function ipv4RcvSaddrEqual(a: V4, b: V4, only2: boolean, wild1: boolean, wild2: boolean): boolean {
  if (only2) return false;
  if (a === b) return true;
  return (wild1 && a === '0.0.0.0') || (wild2 && b === '0.0.0.0');
}

// Models inet_rcv_saddr_equal(sk, sk2, match_wildcard).
export function inetRcvSaddrEqual(sk: SkAddr, sk2: SkAddr, wild: boolean): boolean {
  if (sk.family === 'AF_INET6') {
    return ipv6RcvSaddrEqual(sk.v6, rcv6(sk2), sk.v4, sk2.v4, sk.ipv6only, sk2.ipv6only, wild, wild);
  }
  return ipv4RcvSaddrEqual(sk.v4, sk2.v4, sk2.ipv6only, wild, wild);
}

// Models inet_use_hash2_on_bind(): a socket bound to a specific address is checked via bhash2.
export function useHash2OnBind(sk: SkAddr): boolean {
  if (sk.family === 'AF_INET6') {
    const k = v6Kind(sk.v6);
    if (k === 'any') return false;
    if (k !== 'mapped') return true;
  }
  return sk.v4 !== '0.0.0.0';
}

// Models ipv6_addr_v4mapped(&sk->sk_v6_rcv_saddr) for AF_INET6 sockets.
export function isV4MappedSk(sk: SkAddr): boolean {
  return sk.family === 'AF_INET6' && v6Kind(sk.v6) === 'mapped';
}

// Models inet_bind2_bucket_addr_match(): does a bhash2 bucket (keyed by its creator) hold sk's address?
export function bind2AddrMatch(tb2: SkAddr, sk: SkAddr): boolean {
  if (sk.family !== tb2.family) {
    if (sk.family === 'AF_INET') return v6Kind(tb2.v6) === 'mapped' && mappedPart(tb2.v6) === sk.v4;
    return v6Kind(sk.v6) === 'mapped' && mappedPart(sk.v6) === tb2.v4;
  }
  return sk.family === 'AF_INET6' ? tb2.v6 === sk.v6 : tb2.v4 === sk.v4;
}

// Models inet_bind2_bucket_match_addr_any(): is the bucket a wildcard binding that covers sk?
export function bind2MatchAddrAny(tb2: SkAddr, sk: SkAddr): boolean {
  if (sk.family !== tb2.family) {
    if (sk.family === 'AF_INET') return tb2.v6 === '::' || tb2.v6 === '::ffff:0.0.0.0';
    return v6Kind(sk.v6) === 'mapped' && tb2.v4 === '0.0.0.0';
  }
  return sk.family === 'AF_INET6' ? tb2.v6 === '::' : tb2.v4 === '0.0.0.0';
}

// True when the socket's receive address is the wildcard (inet_rcv_saddr_any).
export function isAnyAddr(sk: SkAddr): boolean {
  return sk.family === 'AF_INET6' ? sk.v6 === '::' : sk.v4 === '0.0.0.0';
}

// The address a fresh, unbound socket of the family has (all zeroes).
export function unboundAddr(family: Family): SkAddr {
  const fam: SkFamily = family === 'inet' ? 'AF_INET' : 'AF_INET6';
  return { family: fam, v4: '0.0.0.0', v6: '::', ipv6only: false };
}

// The address bind() gives a test socket (__inet_bind / __inet6_bind): ::1 also sets ipv6only.
export function boundAddr(family: Family, addr: BindAddr, ipv6only: boolean): SkAddr {
  if (family === 'inet') {
    const v4: V4 = addr === 'any' ? '0.0.0.0' : '127.0.0.1';
    return { family: 'AF_INET', v4, v6: toMapped(v4), ipv6only };
  }
  if (addr === 'any') return { family: 'AF_INET6', v4: '0.0.0.0', v6: '::', ipv6only };
  if (family === 'v4mapped') return { family: 'AF_INET6', v4: '127.0.0.1', v6: '::ffff:127.0.0.1', ipv6only };
  return { family: 'AF_INET6', v4: '127.0.0.6', v6: '::1', ipv6only: true };
}

// The source address a connect() to the cell's loopback destination settles on (route lookup).
export function connectedAddr(sk: SkAddr, family: Family): SkAddr {
  if (family === 'inet6') return { ...sk, v6: sk.v6 === '::' ? '::1' : sk.v6, v4: '127.0.0.6' };
  const v4: V4 = '127.0.0.1';
  return { ...sk, v4, v6: toMapped(v4) };
}

// Short printable form of a socket's address.
export function showAddr(sk: SkAddr): string {
  if (sk.family === 'AF_INET') return sk.v4;
  return sk.v6 === '::' ? '[::]' : `[${sk.v6}]`;
}
