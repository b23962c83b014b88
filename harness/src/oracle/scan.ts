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
  /** How many draws (of `phase.remaining`) stop at `port` (0 for ports outside the pass). */
  hits: (port: number) => number;
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
// `mayRefuse` lists the ports accept() can refuse (those with a bind bucket); every other port is
// usable, so a draw whose first port is one of them stops there, and only draws that start on a
// refused port are walked. Both walks start pair k of draws (2k, 2k+1) at first(p, 0) + 2k.
export function drawPhases(phases: Phase[], walk: Walk, accept: (p: Phase, port: number) => boolean, seen: ReadonlySet<number>, mayRefuse: Iterable<number>): Draw {
  const out: Draw = { used: new Map(), fresh: 0, freshPort: null, fail: 1, relaxed: new Map(), passes: [], walk };
  const candidates = [...mayRefuse];
  let freshBest = 0;
  for (const p of phases) {
    if (out.fail === 0) {
      // A pass after one that always succeeds never runs: kept (reach 0) to explain why.
      out.passes.push({ phase: p, reach: 0, hits: () => 0 });
      continue;
    }
    const pass = enumeratePass(p, walk, candidates.filter((port) => port >= p.low && port < p.high), (port) => accept(p, port));
    out.passes.push({ phase: p, reach: out.fail, hits: pass.hits });
    for (const port of [...seen].sort((a, b) => a - b)) {
      const h = pass.hits(port);
      if (h === 0) continue;
      out.used.set(port, (out.used.get(port) ?? 0) + (out.fail * h) / p.remaining);
      if (!out.relaxed.has(port)) out.relaxed.set(port, p.relax);
    }
    let freshHits = p.remaining - pass.misses;
    for (const port of seen) freshHits -= pass.hits(port);
    out.fresh += (out.fail * freshHits) / p.remaining;
    const best = pass.likeliest(seen);
    if (best) {
      const mass = (out.fail * best.hits) / p.remaining;
      if (mass > freshBest) { freshBest = mass; out.freshPort = best.port; out.relaxed.set(best.port, p.relax); }
    }
    out.fail *= pass.misses / p.remaining;
  }
  return out;
}

/** One pass enumerated over all its draws: how many stop at each port, and how many find none. */
interface Enumerated {
  hits: (port: number) => number;
  misses: number;
  /** The unseen port most draws stop at (the lowest among equals), if any. */
  likeliest(seen: ReadonlySet<number>): { port: number; hits: number } | null;
}

// Enumerates one pass; only the `candidates` (ports of the pass) can be refused by `accept`.
function enumeratePass(p: Phase, walk: Walk, candidates: number[], accept: Accept): Enumerated {
  const f0 = walk.first(p, 0);
  const pairs = p.remaining > 1 ? p.remaining / 2 : 1;
  const twins = p.remaining > 1 ? 2 : 1;
  const isFirst = (port: number): boolean => port >= f0 && (port - f0) % 2 === 0 && (port - f0) / 2 < pairs;
  // Asked in the kernel's order (first ports upwards from draw 0, then the rest), so the first
  // refusal accept() records is the one the kernel's loop meets first when every port is refused.
  const order = (a: number, b: number): number => Number(!isFirst(a)) - Number(!isFirst(b)) || a - b;
  const refused = new Set(candidates.sort(order).filter((port) => !accept(port)));
  const ok: Accept = (port) => !refused.has(port);
  // Draws starting on a refused port walk on: they add to the port they stop at, or miss.
  const extra = new Map<number, number>();
  let misses = 0;
  for (const f of [...refused].filter(isFirst).sort((a, b) => a - b)) {
    const port = walk.walk(p, f - f0, ok);
    if (port === null) misses += twins;
    else extra.set(port, (extra.get(port) ?? 0) + twins);
  }
  const hits = (port: number): number => (isFirst(port) && !refused.has(port) ? twins : 0) + (extra.get(port) ?? 0);
  const likeliest = (seen: ReadonlySet<number>): { port: number; hits: number } | null => {
    let best: { port: number; hits: number } | null = null;
    const consider = (port: number): void => {
      const h = hits(port);
      if (h > 0 && !seen.has(port) && (!best || h > best.hits || (h === best.hits && port < best.port))) best = { port, hits: h };
    };
    for (const port of extra.keys()) consider(port);
    for (let k = 0; k < pairs; k++) {
      const port = f0 + 2 * k;
      if (seen.has(port) || refused.has(port) || extra.has(port)) continue;
      consider(port);
      break;
    }
    return best;
  };
  return { hits, misses, likeliest };
}

// The probability that a draw returns exactly `port` (0 when no random offset leads there).
export function massOf(draw: Draw, port: number): number {
  let mass = 0;
  for (const { phase, reach, hits } of draw.passes) {
    if (port >= phase.low && port < phase.high) mass += (reach * hits(port)) / phase.remaining;
  }
  return mass;
}

// Did the first pass that can return `port` belong to the relaxed scan?
export function relaxedAt(draw: Draw, port: number): boolean {
  for (const { phase, hits } of draw.passes) {
    if (port >= phase.low && port < phase.high && hits(port) > 0) return phase.relax;
  }
  return false;
}
