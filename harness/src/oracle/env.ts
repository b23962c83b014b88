// One cell's simulated namespace: the sysctls, the destination listeners started before the
// script, and the test sockets (created with their options and euid, not yet bound).
import { destSpecs, socketAddr, socketFamily, type Cell, type DestSpec } from '../core/cell.js';
import { unboundAddr, type SkAddr } from './addr.js';
import { choose, type Guide } from './choice.js';
import { updateFastreuse } from './fastreuse.js';
import { bindHash, createTb, createTb2, newNetns, newSk, type Netns, type Sk } from './state.js';

/** Everything a rule needs to know about the cell being simulated. */
export interface Env {
  cell: Cell;
  ns: Netns;
  range: readonly [number, number];
  /** ip_autobind_reuse exists and is 1: bind(0) may do the relaxed second scan. */
  relaxScan: boolean;
  /** The follow-up's same-euid rule is in force. */
  followup: boolean;
  /** Every port an op has reported so far (for equality classes). */
  used: Set<number>;
  socks: Sk[];
  /** Which outcome each random scan follows: the likeliest (predict) or the observed one (replay). */
  guide: Guide;
  /** The destination listeners' specs (family, SO_REUSEADDR, port). */
  dests: DestSpec[];
  /** net.ipv4.tcp_tw_reuse in force (the namespace default is 2). */
  twReuse: 0 | 1 | 2;
  /** net.ipv4.ip_local_reserved_ports in force: [lo, hi], or null for none. */
  reserved: readonly [number, number] | null;
  /**
   * The late ACK: a closed connection is normally an orphan in FIN_WAIT1 for the rest of the
   * script (the peer delays its ACK of the FIN by at least 40 ms), but a guest stalled that long
   * sees the ACK arrive and the orphan become a TIME_WAIT of substate FIN_WAIT2 (seen in 3 of 16
   * runs of cases/wide-tw-reuse.yaml on 6.1 under TCG). False in predict; the replay tries true
   * (every close() late) when the observation needs it.
   */
  lateAck: boolean;
}

// Models inet_is_local_reserved_port(): is the port in ip_local_reserved_ports?
export function isReserved(env: Env, port: number): boolean {
  return env.reserved !== null && port >= env.reserved[0] && port <= env.reserved[1];
}

// The reserved ports of [lo, hi] (the scans refuse them; listed so the enumeration walks past them).
export function reservedIn(env: Env, lo: number, hi: number): number[] {
  if (!env.reserved) return [];
  const out: number[] = [];
  for (let p = Math.max(lo, env.reserved[0]); p <= Math.min(hi, env.reserved[1]); p++) out.push(p);
  return out;
}

// The address a destination listener binds: ::1 for inet6, else AF_INET 127.0.0.1.
function listenerAddr(d: DestSpec): SkAddr {
  if (d.family === 'inet6') return { family: 'AF_INET6', v4: '127.0.0.6', v6: '::1', ipv6only: true };
  return { family: 'AF_INET', v4: '127.0.0.1', v6: '::ffff:127.0.0.1', ipv6only: false };
}

// Starts destination listener j (root, its SO_REUSEADDR) on its explicit port.
function addListener(env: Env, j: number): void {
  const spec = env.dests[j];
  const port = spec.port;
  const d = newSk(`d${j}`, listenerAddr(spec), { reuse: spec.reuseaddr, reuseport: false, noPort: false, uid: 0 });
  const tb = env.ns.tbs.get(port) ?? createTb(env.ns, port);
  const tb2 = createTb2(env.ns, port, d);
  updateFastreuse(tb, d);
  bindHash(d, tb, tb2, port);
  d.bindAddrLock = true;
  d.bindPortLock = true;
  d.state = 'LISTEN';
  updateFastreuse(tb, d);
}

// Builds the namespace a cell starts with.
export function makeEnv(cell: Cell, relaxScan: boolean, followup: boolean, guide: Guide = choose): Env {
  const tw = cell.twReuse === undefined || cell.twReuse === 'keep' ? 2 : cell.twReuse;
  const r = cell.reservedPorts;
  const reserved = r === undefined || r === 'keep' || r === 'none' ? null : r;
  const env: Env = {
    cell, ns: newNetns(), range: cell.portRange, relaxScan, followup, used: new Set(), socks: [], guide,
    dests: destSpecs(cell), twReuse: tw, reserved, lateAck: false,
  };
  for (let j = 0; j < env.dests.length; j++) addListener(env, j);
  env.socks = cell.sockets.map((s, i) => {
    const fam = socketFamily(cell, i);
    const sk = newSk(`s${i}`, unboundAddr(fam), { reuse: s.reuseaddr, reuseport: s.reuseport, noPort: s.bindAddressNoPort, uid: s.euid });
    // IPV6_V6ONLY set explicitly before bind (an AF_INET socket cannot have it: the case loader refuses that).
    if (fam !== 'inet' && s.v6only !== undefined) sk.ipv6only = s.v6only;
    return Object.assign(sk, { fam, bindTo: socketAddr(cell, i) });
  });
  return env;
}
