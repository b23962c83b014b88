// Delta debugging over a script: drop sockets, chunks of ops and single ops, then simplify
// options, range, family, address and destinations, and last renumber sockets in order of first
// use (canonical form, so equal findings read alike), always keeping a candidate for which the
// divergence still holds. Candidates are tested in batches (one VM round trip tests many), and
// within a batch the first that holds, in the order below (biggest reduction first), is taken.
import type { Op } from '../core/cell.js';
import { canonicalScript, FUZZ_RANGES, scriptKey, type RangeName, type Script } from './script.js';

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

/** The script without socket i (its ops dropped, later sockets renumbered). */
function withoutSocket(s: Script, i: number): Script {
  const ops = s.ops.filter((o) => o.sock !== i).map((o): Op => (o.sock > i ? { ...o, sock: o.sock - 1 } : o));
  return { ...s, sockets: s.sockets.filter((_, j) => j !== i), ops };
}

/** The script without ops [from, from+len). */
function withoutOps(s: Script, from: number, len: number): Script {
  return { ...s, ops: s.ops.filter((_, j) => j < from || j >= from + len) };
}

/** Every one-step reduction of a script, most reducing first; never an empty script. */
export function candidates(s: Script): Candidate[] {
  const out: Candidate[] = [];
  const add = (script: Script, step: string): void => { if (script.ops.length > 0 && script.sockets.length > 0) out.push({ script, step }); };
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
