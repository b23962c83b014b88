// A fuzz script: one socket scenario in the case language (sockets, options, ops, range,
// family, address, ip_autobind_reuse), and how it becomes a cell on a given kernel.
import { ROOMY_RANGE, describeOp, type AutobindReuse, type BindAddr, type Cell, type Family, type Op, type SocketSpec } from '../core/cell.js';

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
}

/** Destination listeners a script needs: one past the highest connect target. */
export function destinationsOf(s: Script): number {
  return Math.max(0, ...s.ops.map((o) => (o.op === 'connect' ? o.dst + 1 : 0)));
}

/**
 * The ip_autobind_reuse value a script runs at on a kernel: its own value where the kernel has
 * the sysctl (absent → 0), else absent. So before(absent) is compared with after(0) and after(1).
 */
export function reuseOn(s: Script, hasSysctl: boolean): AutobindReuse {
  if (!hasSysctl) return 'absent';
  return s.reuse === 'absent' ? 0 : s.reuse;
}

/** The cell a kernel runs for a script (its own id, its mapped reuse value). */
export function cellOf(s: Script, id: string, hasSysctl: boolean): Cell {
  return {
    id, case: 'fuzz', autobindReuse: reuseOn(s, hasSysctl), portRange: FUZZ_RANGES[s.range], family: s.family, addr: s.addr,
    sockets: s.sockets.map((k) => ({ ...k })), ops: s.ops.map((o) => ({ ...o })), destinations: destinationsOf(s),
  };
}

/** Case-file spelling of an op: "bind s0", "connect s1 d0". */
export function opText(op: Op): string {
  return op.op === 'connect' ? `connect s${op.sock} d${op.dst}` : `${op.op} s${op.sock}`;
}

/** Short one-line form of a socket's options, e.g. "s0{addr,port,euid=1000}". */
export function socketText(k: SocketSpec, i: number): string {
  const o = [k.reuseaddr && 'addr', k.reuseport && 'port', k.bindAddressNoPort && 'noport', k.euid !== 0 && `euid=${k.euid}`].filter(Boolean);
  return `s${i}{${o.join(',')}}`;
}

/** One line describing the whole script, for logs and summaries. */
export function scriptText(s: Script): string {
  return `reuse=${s.reuse} range=${s.range} fam=${s.family} addr=${s.addr} ${s.sockets.map(socketText).join(' ')} : ${s.ops.map(describeOp).join(' ')}`;
}

/** A canonical key: equal scripts have equal keys. */
export function scriptKey(s: Script): string {
  return JSON.stringify([s.reuse, s.range, s.family, s.addr, s.sockets.map((k) => [k.reuseaddr, k.reuseport, k.bindAddressNoPort, k.euid]), s.ops.map(opText)]);
}

/**
 * The same script with its sockets renumbered in order of first use by an op (unused ones after,
 * in their order) and its destinations likewise: scripts equal up to renaming have equal forms.
 */
export function canonicalScript(s: Script): Script {
  const order: number[] = [];
  for (const o of s.ops) if (!order.includes(o.sock)) order.push(o.sock);
  s.sockets.forEach((_, i) => { if (!order.includes(i)) order.push(i); });
  const sock = new Map(order.map((old, n) => [old, n]));
  const dsts: number[] = [];
  for (const o of s.ops) if (o.op === 'connect' && !dsts.includes(o.dst)) dsts.push(o.dst);
  const dst = new Map(dsts.map((old, n) => [old, n]));
  return {
    ...s,
    sockets: order.map((i) => ({ ...s.sockets[i] })),
    ops: s.ops.map((o): Op => (o.op === 'connect' ? { ...o, sock: sock.get(o.sock)!, dst: dst.get(o.dst)! } : { ...o, sock: sock.get(o.sock)! })),
  };
}

/** The key of a script's canonical form: what "the same minimal script" means for deduplication. */
export const canonicalKey = (s: Script): string => scriptKey(canonicalScript(s));
