// Turns a scan's outcome probabilities into one deterministic prediction. Only equalities are
// observable (the harness renames ephemeral ports), so outcomes are grouped into classes: failure,
// "the same port as earlier port P", or "a port not used before in this cell". The most likely
// class wins; when it is not near-certain the port is reported as null (unknown).
import type { Draw } from './scan.js';

/** A class must be at least this likely for its port to be reported. */
export const CERTAIN = 0.99;
/** An observed path less likely than this is still possible (PASS) but listed as unlikely. */
export const UNLIKELY = 0.01;

export type Choice =
  | { kind: 'port'; port: number; reported: number | null; prob: number; fresh: boolean; relaxed: boolean }
  | { kind: 'fail'; prob: number };

/** Resolves each random scan of a simulation to one outcome: the likeliest (predict) or the observed one (replay). */
export type Guide = (draw: Draw) => Choice;

// Picks the most likely outcome class of a draw (failure, an earlier port, or a fresh port).
export function choose(draw: Draw): Choice {
  let best: Choice = { kind: 'fail', prob: draw.fail };
  for (const [port, p] of [...draw.used].sort((a, b) => a[0] - b[0])) {
    if (p > best.prob) best = pick(port, p, false, draw);
  }
  if (draw.freshPort !== null && draw.fresh > best.prob) best = pick(draw.freshPort, draw.fresh, true, draw);
  return best;
}

// Builds a port choice, reporting the port only when its class is near-certain.
function pick(port: number, prob: number, fresh: boolean, draw: Draw): Choice {
  return { kind: 'port', port, prob, fresh, reported: prob >= CERTAIN ? port : null, relaxed: draw.relaxed.get(port) ?? false };
}

// Says how sure a choice is, for rule texts ('' when near-certain).
export function certainty(prob: number): string {
  return prob >= CERTAIN ? '' : ` [ambiguous: kernel's random offset gives this only with p=${prob.toFixed(2)}]`;
}
