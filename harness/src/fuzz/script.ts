// A fuzz script: one socket scenario in the case language (sockets with their options, families,
// addresses and IPV6_V6ONLY; ops with explicit ports; destination listeners; range, family,
// address, ip_autobind_reuse, tcp_tw_reuse, ip_local_reserved_ports), how it becomes a cell on a
// given kernel, whether the case loader accepts it, and its text and canonical forms.
import { DST_PORT_BASE, ROOMY_RANGE, describeOp, type AutobindReuse, type BindAddr, type Cell, type DestSpec, type Family, type Op, type ReservedPorts, type SocketSpec, type TwReuse } from '../core/cell.js';

/** The port ranges the fuzzer draws from: exhausted by one, two or three sockets, or roomy. */
export const FUZZ_RANGES = {
  'one-port': [32768, 32768],
  'two-ports': [32768, 32769],
  'three-ports': [32768, 32770],
  roomy: ROOMY_RANGE,
} as const satisfies Record<string, readonly [number, number]>;

export type RangeName = keyof typeof FUZZ_RANGES;

export interface Script {
  reuse: AutobindReuse;
  range: RangeName;
  family: Family;
  addr: BindAddr;
  sockets: SocketSpec[];
  ops: Op[];
  /** Explicit destination listeners (absent: the defaults, one per connect target, the cell's family). */
  dests?: DestSpec[];
  /** net.ipv4.tcp_tw_reuse (absent: keep). */
  twReuse?: Exclude<TwReuse, 'keep'>;
  /** net.ipv4.ip_local_reserved_ports (absent: keep). */
  reservedPorts?: Exclude<ReservedPorts, 'keep'>;
}

/** Destination listeners a script needs: its explicit list, else one past the highest connect target. */
export function destinationsOf(s: Script): number {
  if (s.dests) return s.dests.length;
  return Math.max(0, ...s.ops.map((o) => (o.op === 'connect' ? o.dst + 1 : 0)));
}

/** The family socket i has: its own or the script's. */
export const sockFamily = (s: Script, i: number): Family => s.sockets[i]?.family ?? s.family;

/** Every destination listener of a script: explicit, or the defaults (the script's family, port 10000 + j). */
export function destList(s: Script): DestSpec[] {
  if (s.dests) return s.dests;
  const family = s.family === 'inet6' ? 'inet6' : 'inet';
  return Array.from({ length: destinationsOf(s) }, (_, j) => ({ family, reuseaddr: false, port: DST_PORT_BASE + j }));
}

/** The destination family a socket of family f connects to. */
export const destFamilyFor = (f: Family): 'inet' | 'inet6' => (f === 'inet6' ? 'inet6' : 'inet');

/** Why the case loader would refuse a script (its checks that depend on values), or undefined. */
export function scriptProblem(s: Script): string | undefined {
  const n = s.sockets.length;
  if (n < 1 || n > 8 || s.ops.length < 1 || s.ops.length > 32) return 'sockets 1-8, ops 1-32';
  const bad = s.sockets.findIndex((k, i) => k.v6only !== undefined && sockFamily(s, i) === 'inet');
  if (bad >= 0) return `s${bad}: IPV6_V6ONLY on an inet socket`;
  const dests = destList(s);
  if (dests.length > 8) return 'more than 8 destinations';
  const ports = new Set(dests.map((d) => `${d.family}:${d.port}`));
  if (ports.size !== dests.length) return 'two destinations on one port';
  for (const [j, o] of s.ops.entries()) {
    if (o.sock >= n) return `op ${j}: no socket s${o.sock}`;
    if (o.op === 'bind' && o.portOf !== undefined && o.portOf >= n) return `op ${j}: no socket s${o.portOf}`;
    if (o.op === 'bind' && o.port !== undefined && (o.port < 1 || o.port > 65535)) return `op ${j}: port ${o.port}`;
    if (o.op === 'connect') {
      if (o.dst >= dests.length) return `op ${j}: no destination d${o.dst}`;
      if (dests[o.dst].family !== destFamilyFor(sockFamily(s, o.sock))) return `op ${j}: d${o.dst} of the wrong family`;
    }
  }
  const r = s.reservedPorts;
  if (r !== undefined && r !== 'none' && !(r[0] >= 1 && r[0] <= r[1] && r[1] <= 65535)) return 'reserved ports';
  return undefined;
}

/**
 * The ip_autobind_reuse value a script runs at on a kernel: its own value where the kernel has
 * the sysctl (absent → 0), else absent. So before(absent) is compared with after(0) and after(1).
 * `keep` and `try-N` run as they are on every kernel (the guest writes where the sysctl exists).
 */
export function reuseOn(s: Script, hasSysctl: boolean): AutobindReuse {
  if (s.reuse === 'keep' || s.reuse === 'try-0' || s.reuse === 'try-1') return s.reuse;
  if (!hasSysctl) return 'absent';
  return s.reuse === 'absent' ? 0 : s.reuse;
}

/** The cell a kernel runs for a script (its own id, its mapped reuse value). */
export function cellOf(s: Script, id: string, hasSysctl: boolean): Cell {
  return {
    id, case: 'fuzz', autobindReuse: reuseOn(s, hasSysctl), portRange: FUZZ_RANGES[s.range], family: s.family, addr: s.addr,
    sockets: s.sockets.map((k) => ({ ...k })), ops: s.ops.map((o) => ({ ...o })), destinations: destinationsOf(s),
    ...(s.dests ? { dests: s.dests.map((d) => ({ ...d })) } : {}),
    ...(s.twReuse !== undefined ? { twReuse: s.twReuse } : {}),
    ...(s.reservedPorts !== undefined ? { reservedPorts: s.reservedPorts } : {}),
  };
}

/** Case-file spelling of an op: "bind s0", "bind s1 port 32768", "bind s1 port s0", "connect s1 d0". */
export function opText(op: Op): string {
  if (op.op === 'connect') return `connect s${op.sock} d${op.dst}`;
  if (op.op === 'bind' && op.port !== undefined) return `bind s${op.sock} port ${op.port}`;
  if (op.op === 'bind' && op.portOf !== undefined) return `bind s${op.sock} port s${op.portOf}`;
  return `${op.op} s${op.sock}`;
}

/** Short one-line form of a socket's options, e.g. "s0{addr,port,euid=1000,fam=inet6,v6only}". */
export function socketText(k: SocketSpec, i: number): string {
  const o = [
    k.reuseaddr && 'addr', k.reuseport && 'port', k.bindAddressNoPort && 'noport', k.euid !== 0 && `euid=${k.euid}`,
    k.family !== undefined && `fam=${k.family}`, k.addr !== undefined && `bind=${k.addr}`, k.v6only !== undefined && `v6only=${+k.v6only}`,
  ].filter(Boolean);
  return `s${i}{${o.join(',')}}`;
}

/** "d0{inet,addr,:10000}" */
const destText = (d: DestSpec, j: number): string => `d${j}{${d.family}${d.reuseaddr ? ',addr' : ''},:${d.port}}`;

/** The reserved_ports value as the case language spells it: none, PORT or LO-HI. */
export const reservedText = (r: Exclude<ReservedPorts, 'keep'>): string => (r === 'none' ? 'none' : r[0] === r[1] ? String(r[0]) : `${r[0]}-${r[1]}`);

/** One line describing the whole script, for logs and summaries. */
export function scriptText(s: Script): string {
  const extra = [
    s.twReuse !== undefined && `tw=${s.twReuse}`, s.reservedPorts !== undefined && `resv=${reservedText(s.reservedPorts)}`,
    s.dests && `dests=${s.dests.map(destText).join(' ')}`,
  ].filter(Boolean).map((x) => ` ${x}`).join('');
  return `reuse=${s.reuse} range=${s.range} fam=${s.family} addr=${s.addr}${extra} ${s.sockets.map(socketText).join(' ')} : ${s.ops.map(describeOp).join(' ')}`;
}

/** A canonical key: equal scripts have equal keys. */
export function scriptKey(s: Script): string {
  return JSON.stringify([
    s.reuse, s.range, s.family, s.addr, s.sockets.map((k) => [k.reuseaddr, k.reuseport, k.bindAddressNoPort, k.euid, k.family ?? null, k.addr ?? null, k.v6only ?? null]),
    s.ops.map(opText), s.dests?.map((d) => [d.family, d.reuseaddr, d.port]) ?? null, s.twReuse ?? null, s.reservedPorts ?? null,
  ]);
}

/**
 * The same script with its sockets renumbered in order of first use by an op (unused ones after,
 * in their order) and its destinations likewise (unused explicit ones after, they still hold
 * their ports): scripts equal up to renaming have equal forms.
 */
export function canonicalScript(s: Script): Script {
  const order: number[] = [];
  for (const o of s.ops) {
    if (!order.includes(o.sock)) order.push(o.sock);
    if (o.op === 'bind' && o.portOf !== undefined && !order.includes(o.portOf)) order.push(o.portOf);
  }
  s.sockets.forEach((_, i) => { if (!order.includes(i)) order.push(i); });
  const sock = new Map(order.map((old, n) => [old, n]));
  const dsts: number[] = [];
  for (const o of s.ops) if (o.op === 'connect' && !dsts.includes(o.dst)) dsts.push(o.dst);
  if (s.dests) s.dests.forEach((_, j) => { if (!dsts.includes(j)) dsts.push(j); });
  const dst = new Map(dsts.map((old, n) => [old, n]));
  const ops = s.ops.map((o): Op => {
    if (o.op === 'connect') return { ...o, sock: sock.get(o.sock)!, dst: dst.get(o.dst)! };
    if (o.op === 'bind' && o.portOf !== undefined) return { ...o, sock: sock.get(o.sock)!, portOf: sock.get(o.portOf)! };
    return { ...o, sock: sock.get(o.sock)! };
  });
  return { ...s, sockets: order.map((i) => ({ ...s.sockets[i] })), ops, ...(s.dests ? { dests: dsts.map((j) => ({ ...s.dests![j] })) } : {}) };
}

/** The key of a script's canonical form: what "the same minimal script" means for deduplication. */
export const canonicalKey = (s: Script): string => scriptKey(canonicalScript(s));
