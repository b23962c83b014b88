// The namespace's socket tables as the oracle keeps them: sockets, bind buckets (bhash, keyed by
// port), bind2 buckets (bhash2, keyed by port + address) and the established hash (4-tuples).
// Mirrors struct inet_bind_bucket / inet_bind2_bucket and the helpers in inet_hashtables.c.
import type { BindAddr, Family } from '../core/cell.js';
import { bind2AddrMatch, type SkAddr } from './addr.js';

/** The TCP states the model distinguishes (SYN_SENT is transient: connects are blocking). */
export type TcpState = 'CLOSE' | 'LISTEN' | 'SYN_SENT' | 'ESTABLISHED' | 'FIN_WAIT1' | 'TIME_WAIT';

export const FASTREUSEPORT_ANY = 1;
export const FASTREUSEPORT_STRICT = 2;

/** A socket: a test socket (s<i>), a destination listener (d<j>) or a closed connection's orphan (orphan(s<i>)). */
export interface Sk extends SkAddr {
  name: string;
  reuse: boolean;
  reuseport: boolean;
  /** IP_BIND_ADDRESS_NO_PORT. */
  noPort: boolean;
  /** sock_i_uid(): the euid the socket was created with. */
  uid: number;
  state: TcpState;
  /** inet_num: the local port, 0 when none. */
  num: number;
  tb: BindBucket | null;
  tb2: Bind2Bucket | null;
  /** SOCK_BINDADDR_LOCK / SOCK_BINDPORT_LOCK from bind(). */
  bindAddrLock: boolean;
  bindPortLock: boolean;
  /** sk_reuseport_cb is set (a listening SO_REUSEPORT socket). */
  reuseportCb: boolean;
  /** Destination index of the 4-tuple when connected (or in TIME_WAIT). */
  dst: number | null;
  /** socket->state == SS_CONNECTED. */
  connected: boolean;
  /** The descriptor was closed by the script. */
  fdClosed: boolean;
  /** inet_sport: the port getsockname() shows; set with the port, never cleared by giving it back (__inet_put_port). */
  sport: number;
  /** A test socket's family and bind address in the case language (destinations and TIME_WAIT holders: unset). */
  fam?: Family;
  bindTo?: BindAddr;
}

/** struct inet_bind_bucket: one per port. */
export interface BindBucket {
  port: number;
  fastreuse: number;
  fastreuseport: number;
  fastuid: number;
  /** fast_rcv_saddr / fast_v6_rcv_saddr / fast_ipv6_only / fast_sk_family. */
  fast: SkAddr | null;
  owners: Sk[];
}

/** struct inet_bind2_bucket: one per (port, address of the socket that created it). */
export interface Bind2Bucket {
  port: number;
  key: SkAddr;
  owners: Sk[];
  deathrow: Sk[];
}

/** The namespace's tables. */
export interface Netns {
  tbs: Map<number, BindBucket>;
  tb2s: Bind2Bucket[];
  /** Established and TIME_WAIT sockets (the ehash). */
  ehash: Sk[];
}

// Creates empty tables for a fresh network namespace.
export function newNetns(): Netns {
  return { tbs: new Map(), tb2s: [], ehash: [] };
}

// Creates a socket record with the given identity and address.
export function newSk(name: string, addr: SkAddr, opts: { reuse: boolean; reuseport: boolean; noPort: boolean; uid: number }): Sk {
  // Every field spelled out (no object spread): one object shape for every socket, which V8 reads
  // fast; the spread version was the oracle's costliest function (~70 ms per prediction of the plan).
  return {
    family: addr.family, v4: addr.v4, v6: addr.v6, ipv6only: addr.ipv6only,
    reuse: opts.reuse, reuseport: opts.reuseport, noPort: opts.noPort, uid: opts.uid,
    name, state: 'CLOSE', num: 0, tb: null, tb2: null,
    bindAddrLock: false, bindPortLock: false, reuseportCb: false, dst: null, connected: false, fdClosed: false, sport: 0,
  };
}

// Models inet_bind_bucket_create(): a new port bucket with fastreuse = fastreuseport = 0.
export function createTb(ns: Netns, port: number): BindBucket {
  const tb: BindBucket = { port, fastreuse: 0, fastreuseport: 0, fastuid: 0, fast: null, owners: [] };
  ns.tbs.set(port, tb);
  return tb;
}

// Models inet_bind2_bucket_find(): the bhash2 bucket at port holding sk's address, if any.
export function findTb2(ns: Netns, port: number, sk: SkAddr): Bind2Bucket | null {
  return ns.tb2s.find((b) => b.port === port && bind2AddrMatch(b.key, sk)) ?? null;
}

// Models inet_bind2_bucket_create(): a bhash2 bucket keyed by sk's family and address.
export function createTb2(ns: Netns, port: number, sk: SkAddr): Bind2Bucket {
  const key: SkAddr = { family: sk.family, v4: sk.v4, v6: sk.v6, ipv6only: sk.ipv6only };
  const tb2: Bind2Bucket = { port, key, owners: [], deathrow: [] };
  ns.tb2s.push(tb2);
  return tb2;
}

// Models inet_bind_bucket_destroy() / inet_bind2_bucket_destroy(): drop buckets left empty.
export function destroyIfEmpty(ns: Netns, tb: BindBucket | null, tb2: Bind2Bucket | null): void {
  if (tb && tb.owners.length === 0 && ns.tbs.get(tb.port) === tb) ns.tbs.delete(tb.port);
  if (tb2 && tb2.owners.length === 0 && tb2.deathrow.length === 0) ns.tb2s = ns.tb2s.filter((b) => b !== tb2);
}

// Models inet_bind_hash(): sk now owns port through tb and tb2.
export function bindHash(sk: Sk, tb: BindBucket, tb2: Bind2Bucket, port: number): void {
  sk.num = port;
  sk.sport = port;
  sk.tb = tb;
  sk.tb2 = tb2;
  tb.owners.push(sk);
  tb2.owners.push(sk);
}

// Removes one element from an array in place.
function remove<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}

// Models __inet_put_port(): sk gives its port back (buckets go when empty).
export function putPort(ns: Netns, sk: Sk): void {
  const { tb, tb2 } = sk;
  if (tb) remove(tb.owners, sk);
  if (tb2) { remove(tb2.owners, sk); remove(tb2.deathrow, sk); }
  sk.tb = null;
  sk.tb2 = null;
  sk.num = 0;
  destroyIfEmpty(ns, tb, tb2);
}

// Models __inet_bhash2_update_saddr(): the socket's address changes and it moves bhash2 bucket.
export function moveAddr(ns: Netns, sk: Sk, addr: SkAddr): void {
  const old = sk.tb2;
  Object.assign(sk, { family: addr.family, v4: addr.v4, v6: addr.v6, ipv6only: addr.ipv6only });
  if (!old) return;
  remove(old.owners, sk);
  destroyIfEmpty(ns, null, old);
  const tb2 = findTb2(ns, sk.num, sk) ?? createTb2(ns, sk.num, sk);
  tb2.owners.push(sk);
  sk.tb2 = tb2;
}

// Removes a socket from the established hash.
export function unhashEstablished(ns: Netns, sk: Sk): void {
  remove(ns.ehash, sk);
}

// Models inet_twsk_kill(): a TIME_WAIT holder leaves the ehash and its bind buckets.
export function killTimeWait(ns: Netns, tw: Sk): void {
  unhashEstablished(ns, tw);
  putPort(ns, tw);
}
