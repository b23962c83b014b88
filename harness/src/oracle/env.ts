// One cell's simulated namespace: the sysctls, the destination listeners started before the
// script, and the test sockets (created with their options and euid, not yet bound).
import { DST_PORT_BASE, type Cell } from '../core/cell.js';
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
}

// The address a destination listener binds: ::1 for inet6, else AF_INET 127.0.0.1.
function listenerAddr(cell: Cell): SkAddr {
  if (cell.family === 'inet6') return { family: 'AF_INET6', v4: '127.0.0.6', v6: '::1', ipv6only: true };
  return { family: 'AF_INET', v4: '127.0.0.1', v6: '::ffff:127.0.0.1', ipv6only: false };
}

// Starts destination listener j (root, no socket options) on its explicit port.
function addListener(env: Env, j: number): void {
  const port = DST_PORT_BASE + j;
  const d = newSk(`d${j}`, listenerAddr(env.cell), { reuse: false, reuseport: false, noPort: false, uid: 0 });
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
  const env: Env = { cell, ns: newNetns(), range: cell.portRange, relaxScan, followup, used: new Set(), socks: [], guide };
  for (let j = 0; j < cell.destinations; j++) addListener(env, j);
  env.socks = cell.sockets.map((s, i) => newSk(`s${i}`, unboundAddr(cell.family),
    { reuse: s.reuseaddr, reuseport: s.reuseport, noPort: s.bindAddressNoPort, uid: s.euid }));
  return env;
}
