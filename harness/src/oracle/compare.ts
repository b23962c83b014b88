// Compares what a kernel did with what the oracle predicted, up to a renaming of ephemeral ports.
// Ports inside the cell's range are compared by equality pattern (a bijection between observed
// and predicted port numbers); port 0 and ports outside the range compare literally; an observed
// port of null (unknown) matches anything; a predicted port of null (the oracle could not tell
// which port) matches any in-range port without joining the renaming. Errnos compare exactly.
// In a range of at most SMALL_RANGE ports the scans are deterministic (both walk one port per
// parity pass), so there a known port must be the exact number, not only in the same pattern.
// A failed op's port (what getsockname() still shows) is compared when both sides have one.
// Used to compare observations with a good kernel's (bisect); the oracle's verdict on a run is
// possible.ts, which also allows the less likely outcomes of the random port scans.
import type { OpResult } from '../core/cell.js';
import type { Comparison } from '../core/verdict.js';

/** Ranges of at most this many ports: the oracle is certain of the exact port. */
export const SMALL_RANGE = 3;

// Prints one result for mismatch messages.
function show(r: OpResult): string {
  return r.ok ? `ok(port ${r.port === null ? '?' : r.port})` : r.errno;
}

// Compares one pair of port numbers, extending the renaming; returns a reason on mismatch.
function comparePort(o: number, p: number, range: readonly [number, number], o2p: Map<number, number>, p2o: Map<number, number>): string | null {
  const inRange = (x: number): boolean => x >= range[0] && x <= range[1];
  if (range[1] - range[0] + 1 <= SMALL_RANGE) {
    return o === p ? null : `observed port ${o}, predicted exactly port ${p} (a range of ${range[1] - range[0] + 1} port${range[1] === range[0] ? '' : 's'} leaves the scan no choice)`;
  }
  if (!inRange(p)) return o === p ? null : `observed port ${o}, predicted the fixed port ${p}`;
  if (!inRange(o)) return `observed port ${o} lies outside the ephemeral range [${range[0]},${range[1]}]`;
  const seenP = o2p.get(o);
  if (seenP !== undefined && seenP !== p) return `observed port ${o} again, but predicted ${p} where earlier it predicted ${seenP} (equality differs)`;
  const seenO = p2o.get(p);
  if (seenO !== undefined && seenO !== o) return `predicted port ${p} again (same as an earlier op), but observed ${o} instead of ${seenO}`;
  o2p.set(o, p);
  p2o.set(p, o);
  return null;
}

// Compares a cell's observed results with the predicted ones; names the first difference.
export function compareResults(observed: OpResult[], predicted: OpResult[], range: readonly [number, number]): Comparison {
  const o2p = new Map<number, number>();
  const p2o = new Map<number, number>();
  const n = Math.min(observed.length, predicted.length);
  for (let i = 0; i < n; i++) {
    const o = observed[i];
    const p = predicted[i];
    let reason: string | null = null;
    if (o.ok !== p.ok) reason = `observed ${show(o)}, predicted ${show(p)}`;
    else if (!o.ok && !p.ok) {
      reason = o.errno === p.errno ? null : `observed ${o.errno}, predicted ${p.errno}`;
      if (!reason && typeof o.port === 'number' && typeof p.port === 'number') {
        const why = comparePort(o.port, p.port, range, o2p, p2o);
        if (why) reason = `after ${o.errno}, getsockname(): ${why}`;
      }
    }
    else if (o.ok && p.ok && o.port !== null) {
      if (p.port === null) {
        reason = o.port >= range[0] && o.port <= range[1] ? null
          : `observed port ${o.port} lies outside the ephemeral range [${range[0]},${range[1]}]`;
      } else reason = comparePort(o.port, p.port, range, o2p, p2o);
    }
    if (reason) return { match: false, firstMismatch: { index: i, reason } };
  }
  if (observed.length !== predicted.length) {
    return { match: false, firstMismatch: { index: n, reason: `observed ${observed.length} results, predicted ${predicted.length}` } };
  }
  return { match: true };
}
