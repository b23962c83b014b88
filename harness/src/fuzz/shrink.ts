// Delta debugging over a script: drop sockets, chunks of ops and single ops, then simplify
// options, range, family, address and destinations, then the wider keys toward the simplest value
// (socket family / address / v6only overrides gone, explicit bind ports back to bind(0),
// destinations back to the defaults, sysctls back to keep), and last renumber sockets in order of
// first use (canonical form, so equal findings read alike), always keeping a candidate for which
// the divergence still holds; a candidate the case loader would refuse is never tried. Candidates are tested in batches (one VM round trip tests many), and
// within a batch the first that holds, in the order below (biggest reduction first), is taken.
import { DST_PORT_BASE, type Op, type SocketSpec } from '../core/cell.js';
import { canonicalScript, FUZZ_RANGES, scriptKey, scriptProblem, type RangeName, type Script } from './script.js';

export interface Candidate { script: Script; step: string }

/** Asks whether the divergence still holds for each candidate (same order, one answer each). */
export type HoldsFn = (scripts: Script[]) => Promise<boolean[]>;

export interface ShrinkResult {
  script: Script;
  /** The reductions taken, in order. */
  steps: string[];
  /** Candidates tested (each one cell per kernel involved). */
  tested: number;
  rounds: number;
  /** Set when the shrink stopped early (interrupted or out of rounds): `script` is the smallest found so far. */
  stopped?: string;
}

const RANGE_ORDER = Object.keys(FUZZ_RANGES) as RangeName[];

/** The script without socket i (its ops dropped, later sockets renumbered; "bind port si" becomes bind(0)). */
function withoutSocket(s: Script, i: number): Script {
  const ops = s.ops.filter((o) => o.sock !== i).map((o): Op => {
    const x: Op = o.sock > i ? { ...o, sock: o.sock - 1 } : o;
    if (x.op !== 'bind' || x.portOf === undefined) return x;
    if (x.portOf === i) return { op: 'bind', sock: x.sock };
    return x.portOf > i ? { ...x, portOf: x.portOf - 1 } : x;
  });
  return { ...s, sockets: s.sockets.filter((_, j) => j !== i), ops };
}

/** The socket without one of its optional keys. */
function without(k: SocketSpec, key: 'family' | 'addr' | 'v6only'): SocketSpec {
  const out = { ...k };
  delete out[key];
  return out;
}

/** The script without one of its optional keys (back to the default / keep). */
function drop(s: Script, key: 'dests' | 'twReuse' | 'reservedPorts'): Script {
  const out = { ...s };
  delete out[key];
  return out;
}

/** Simplifications of the wider keys, simplest first within each key. */
function widerCandidates(s: Script, add: (script: Script, step: string) => void): void {
  const setSock = (i: number, k: SocketSpec, step: string): void => add({ ...s, sockets: s.sockets.map((x, j) => (j === i ? k : x)) }, step);
  // Every socket inet at once (the families, v6only and the destinations' families together).
  if (s.family !== 'inet' || s.sockets.some((k) => k.family !== undefined || k.v6only !== undefined) || s.dests?.some((d) => d.family !== 'inet')) {
    add({ ...s, family: 'inet', sockets: s.sockets.map((k) => without(without(k, 'family'), 'v6only')), ...(s.dests ? { dests: s.dests.map((d) => ({ ...d, family: 'inet' as const })) } : {}) }, 'every socket and destination inet');
  }
  s.sockets.forEach((k, i) => {
    if (k.family !== undefined) {
      setSock(i, without(k, 'family'), `s${i}: the script's family`);
      setSock(i, without(without(k, 'family'), 'v6only'), `s${i}: the script's family, no IPV6_V6ONLY`);
    }
    if (k.addr !== undefined) setSock(i, without(k, 'addr'), `s${i}: the script's address`);
    if (k.v6only !== undefined) setSock(i, without(k, 'v6only'), `s${i}: IPV6_V6ONLY unset`);
  });
  s.ops.forEach((o, j) => {
    if (o.op === 'bind' && (o.port !== undefined || o.portOf !== undefined)) add({ ...s, ops: s.ops.map((x, m) => (m === j ? { op: 'bind', sock: o.sock } : x)) }, `op ${j}: bind port 0`);
  });
  if (s.dests) {
    add(drop(s, 'dests'), 'default destinations');
    const used = new Set(s.ops.flatMap((o) => (o.op === 'connect' ? [o.dst] : [])));
    for (let j = s.dests.length - 1; j >= 0; j--) {
      if (!used.has(j) && s.dests.length > 1) {
        add({ ...s, dests: s.dests.filter((_, m) => m !== j), ops: s.ops.map((o) => (o.op === 'connect' && o.dst > j ? { ...o, dst: o.dst - 1 } : o)) }, `drop destination d${j}`);
      }
    }
    s.dests.forEach((d, j) => {
      const set = (patch: Partial<typeof d>, step: string): void => add({ ...s, dests: s.dests!.map((x, m) => (m === j ? { ...x, ...patch } : x)) }, step);
      if (d.reuseaddr) set({ reuseaddr: false }, `d${j}: SO_REUSEADDR off`);
      if (d.port !== DST_PORT_BASE + j) set({ port: DST_PORT_BASE + j }, `d${j}: port ${DST_PORT_BASE + j}`);
    });
  }
  if (s.twReuse !== undefined) add(drop(s, 'twReuse'), 'tcp_tw_reuse keep');
  if (s.reservedPorts !== undefined) {
    add(drop(s, 'reservedPorts'), 'ip_local_reserved_ports keep');
    const r = s.reservedPorts;
    if (r !== 'none' && r[1] > r[0]) {
      add({ ...s, reservedPorts: [r[0], r[0]] }, `ip_local_reserved_ports ${r[0]}`);
      add({ ...s, reservedPorts: [r[1], r[1]] }, `ip_local_reserved_ports ${r[1]}`);
    }
  }
  if (s.reuse === 'try-1') add({ ...s, reuse: 1 }, 'ip_autobind_reuse 1 (not try-1)');
  if (s.reuse === 'try-0') add({ ...s, reuse: 0 }, 'ip_autobind_reuse 0 (not try-0)');
  if (s.reuse === 'keep') add({ ...s, reuse: 'absent' }, 'ip_autobind_reuse absent (not keep)');
}

/** The script without ops [from, from+len). */
function withoutOps(s: Script, from: number, len: number): Script {
  return { ...s, ops: s.ops.filter((_, j) => j < from || j >= from + len) };
}

/** Every one-step reduction of a script, most reducing first; never an empty script. */
export function candidates(s: Script): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set([scriptKey(s)]);
  const add = (script: Script, step: string): void => {
    const key = scriptKey(script);
    if (script.ops.length > 0 && script.sockets.length > 0 && !seen.has(key) && !scriptProblem(script)) out.push({ script, step });
    seen.add(key);
  };
  for (let i = s.sockets.length - 1; i >= 0; i--) if (s.sockets.length > 1) add(withoutSocket(s, i), `drop socket s${i} and its ops`);
  for (let len = s.ops.length >> 1; len >= 2; len >>= 1) {
    for (let from = 0; from + len <= s.ops.length; from += len) add(withoutOps(s, from, len), `drop ops ${from}..${from + len - 1}`);
  }
  for (let j = s.ops.length - 1; j >= 0; j--) if (s.ops.length > 1) add(withoutOps(s, j, 1), `drop op ${j}`);
  s.sockets.forEach((k, i) => {
    const set = (patch: Partial<typeof k>, step: string): void => add({ ...s, sockets: s.sockets.map((x, j) => (j === i ? { ...x, ...patch } : x)) }, step);
    if (k.reuseaddr) set({ reuseaddr: false }, `s${i}: SO_REUSEADDR off`);
    if (k.reuseport) set({ reuseport: false }, `s${i}: SO_REUSEPORT off`);
    if (k.bindAddressNoPort) set({ bindAddressNoPort: false }, `s${i}: IP_BIND_ADDRESS_NO_PORT off`);
    if (k.euid !== 0) set({ euid: 0 }, `s${i}: euid 0`);
    if (k.euid > 1000) set({ euid: 1000 }, `s${i}: euid 1000`);
  });
  const r = RANGE_ORDER.indexOf(s.range);
  for (let j = 0; j < r; j++) add({ ...s, range: RANGE_ORDER[j] }, `range ${RANGE_ORDER[j]}`);
  if (s.family !== 'inet') add({ ...s, family: 'inet' }, 'family inet');
  if (s.addr !== 'loopback') add({ ...s, addr: 'loopback' }, 'address loopback');
  s.ops.forEach((o, j) => { if (o.op === 'connect' && o.dst > 0) add({ ...s, ops: s.ops.map((x, m) => (m === j ? { ...o, dst: 0 } : x)) }, `op ${j}: destination d0`); });
  // A bind needs no listener: where the divergence does not need the connect, the script reads simpler.
  s.ops.forEach((o, j) => { if (o.op === 'connect') add({ ...s, ops: s.ops.map((x, m) => (m === j ? { op: 'bind', sock: o.sock } : x)) }, `op ${j}: bind instead of connect`); });
  widerCandidates(s, add);
  if (s.reuse === 1) add({ ...s, reuse: 0 }, 'ip_autobind_reuse 0');
  if (s.reuse === 0) add({ ...s, reuse: 'absent' }, 'ip_autobind_reuse absent');
  // Last, no smaller but easier to compare: sockets and destinations numbered in order of first use.
  const canon = canonicalScript(s);
  if (scriptKey(canon) !== scriptKey(s)) add(canon, 'sockets and destinations renumbered in order of first use');
  return out;
}

/**
 * Greedy delta debugging: each round tests the candidates in chunks of `chunk` (one `holds`
 * call each) and moves to the first that holds; stops when none does.
 */
export async function shrink(start: Script, holds: HoldsFn, opts: { chunk?: number; maxRounds?: number; signal?: AbortSignal } = {}): Promise<ShrinkResult> {
  const chunk = opts.chunk ?? 24;
  const maxRounds = opts.maxRounds ?? 60;
  let s = start;
  const steps: string[] = [];
  let tested = 0;
  let rounds = 0;
  for (;;) {
    if (opts.signal?.aborted) return { script: s, steps, tested, rounds, stopped: 'interrupted' };
    if (rounds >= maxRounds) return { script: s, steps, tested, rounds, stopped: `stopped after ${maxRounds} rounds` };
    rounds++;
    const cands = candidates(s);
    let next: Candidate | undefined;
    for (let i = 0; i < cands.length && !next; i += chunk) {
      const part = cands.slice(i, i + chunk);
      const answers = await holds(part.map((c) => c.script));
      tested += part.length;
      next = part.find((_, j) => answers[j]);
      if (opts.signal?.aborted) break;
    }
    if (next) {
      s = next.script;
      steps.push(next.step);
    }
    // An interrupted round proves nothing: the script is the smallest so far, not a fixpoint.
    if (opts.signal?.aborted) return { script: s, steps, tested, rounds, stopped: 'interrupted' };
    if (!next) return { script: s, steps, tested, rounds };
  }
}
