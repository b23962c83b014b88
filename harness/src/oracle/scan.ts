// The kernel's randomised port scans, enumerated exhaustively: every random start offset the
// kernel could draw is walked in the kernel's visiting order, which yields the probability of each
// possible outcome (a port, or failure). Models the loops of inet_csk_find_open_port() and
// __inet_hash_connect().

/** One scan pass over [low, high) with its own random draw (a "half" in find_open_port). */
export interface Phase {
  low: number;
  /** Exclusive upper end. */
  high: number;
  remaining: number;
  relax: boolean;
}

/** Probability of each outcome class of a scan: ports seen earlier in the cell, fresh ports, failure. */
export interface Draw {
  /** Probability per port that the cell has already seen. */
  used: Map<number, number>;
  /** Total probability of ports not seen before, and the likeliest of them. */
  fresh: number;
  freshPort: number | null;
  fail: number;
  /** For each reported port: did it come (first) from a relaxed phase? */
  relaxed: Map<number, boolean>;
  /** Every pass of the scan: how likely it runs at all, and how often each of its ports is returned. */
  passes: Pass[];
  /** The walk (kernel function) that made the draw. */
  walk: Walk;
}

/** One pass of a scan as enumerated: `reach` is the probability that the pass runs. */
export interface Pass {
  phase: Phase;
  reach: number;
  /** Draws (of `phase.remaining`) that stop at each port of [low, high). */
  hits: Int32Array;
}

export type Accept = (port: number) => boolean;
/** A scan's visiting order: `first` is the port a draw tries first, `walk` the full search. */
export interface Walk {
  /** The kernel function whose loop this is. */
  name: string;
  /** Offset parity (from low) of the first parity pass: odd for bind(0), even for connect(). */
  firstParity: 'odd' | 'even';
  first(p: Phase, draw: number): number;
  walk(p: Phase, draw: number, ok: Accept): number | null;
}

// Builds a phase over [low, high) the way both scans size it (remaining rounded down to even).
export function makePhase(low: number, high: number, relax: boolean): Phase {
  let remaining = high - low;
  if (remaining > 1) remaining &= ~1;
  return { low, high, remaining, relax };
}

// Walks ports in two parity passes from `offset`, stepping by 2 with the kernel's wrap-around.
function parityWalk(p: Phase, first: number, second: number | null, ok: Accept): number | null {
  for (let pass = 0; pass < 2; pass++) {
    const offset = pass === 0 ? first : second;
    if (offset === null) break;
    let port = p.low + offset;
    for (let i = 0; i < p.remaining; i += 2, port += 2) {
      if (port >= p.high) port -= p.remaining;
      if (ok(port)) return port;
    }
  }
  return null;
}

// The kernel's first port for an offset: low + offset, wrapped back by `remaining` past the end.
function firstPort(p: Phase, offset: number): number {
  const port = p.low + offset;
  return port >= p.high ? port - p.remaining : port;
}

// inet_csk_find_open_port(): odd offset first (offset = rand | 1), then offset - 1.
export const walkFindOpenPort: Walk = {
  name: 'inet_csk_find_open_port()',
  firstParity: 'odd',
  first: (p, draw) => firstPort(p, draw | 1),
  walk: (p, draw, ok) => parityWalk(p, draw | 1, (draw | 1) - 1, ok),
};

// __inet_hash_connect(): even offset first (offset &= ~1), then offset + 1 when remaining > 1.
export const walkHashConnect: Walk = {
  name: '__inet_hash_connect()',
  firstParity: 'even',
  first: (p, draw) => firstPort(p, draw & ~1),
  walk: (p, draw, ok) => parityWalk(p, draw & ~1, p.remaining > 1 ? (draw & ~1) + 1 : null, ok),
};

// Runs phases in order (each later phase only when the earlier failed) over every possible draw.
export function drawPhases(phases: Phase[], walk: Walk, accept: (p: Phase, port: number) => boolean, seen: ReadonlySet<number>): Draw {
  const out: Draw = { used: new Map(), fresh: 0, freshPort: null, fail: 1, relaxed: new Map(), passes: [], walk };
  let freshBest = 0;
  for (const p of phases) {
    const span = p.high - p.low;
    // A pass after one that always succeeds never runs: kept (reach 0) to explain why.
    if (out.fail === 0) { out.passes.push({ phase: p, reach: 0, hits: new Int32Array(span) }); continue; }
    const memo = new Int8Array(span);
    const ok: Accept = (port) => {
      const i = port - p.low;
      if (memo[i] === 0) memo[i] = accept(p, port) ? 1 : 2;
      return memo[i] === 1;
    };
    const hits = new Int32Array(span);
    let misses = 0;
    // Both walks see a draw only through draw | 1 or draw & ~1: draws 2k and 2k+1 behave alike.
    for (let d = 0; d < p.remaining; d += 2) {
      const twins = Math.min(2, p.remaining - d);
      const f = walk.first(p, d);
      const port = ok(f) ? f : walk.walk(p, d, ok);
      if (port === null) misses += twins;
      else hits[port - p.low] += twins;
    }
    out.passes.push({ phase: p, reach: out.fail, hits });
    for (let i = 0; i < span; i++) {
      if (hits[i] === 0) continue;
      const port = p.low + i;
      const mass = (out.fail * hits[i]) / p.remaining;
      if (seen.has(port)) {
        out.used.set(port, (out.used.get(port) ?? 0) + mass);
        if (!out.relaxed.has(port)) out.relaxed.set(port, p.relax);
      } else {
        out.fresh += mass;
        if (mass > freshBest) { freshBest = mass; out.freshPort = port; out.relaxed.set(port, p.relax); }
      }
    }
    out.fail *= misses / p.remaining;
  }
  return out;
}

// The probability that a draw returns exactly `port` (0 when no random offset leads there).
export function massOf(draw: Draw, port: number): number {
  let mass = 0;
  for (const { phase, reach, hits } of draw.passes) {
    if (port >= phase.low && port < phase.high) mass += (reach * hits[port - phase.low]) / phase.remaining;
  }
  return mass;
}

// Did the first pass that can return `port` belong to the relaxed scan?
export function relaxedAt(draw: Draw, port: number): boolean {
  for (const { phase, hits } of draw.passes) {
    if (port >= phase.low && port < phase.high && hits[port - phase.low] > 0) return phase.relax;
  }
  return false;
}
