// Words for the outcomes of a random scan: what the kernel could have returned (with the
// probability of each class), and why an observed port is not among them (the port's parity,
// the half of the range, a port still held, or a port outside the range). Pure; used by
// possible.ts for FAIL reasons and "unlikely" notes.
import type { Alternative } from '../core/verdict.js';
import { massOf, type Draw, type Pass } from './scan.js';

// Formats a probability: two significant digits, and "about 1 in N" below 1 %.
export function showProb(p: number): string {
  if (p >= 1) return '1';
  if (p <= 0) return '0';
  const short = Number(p.toPrecision(p >= 0.01 ? 3 : 2)).toString();
  return p >= 0.01 ? short : `${short}, about 1 in ${Math.round(1 / p)}`;
}

// The ports a set of passes can return that the cell has not seen, as "odd ports of [a, b]".
function freshSupport(passes: Pass[], seen: ReadonlySet<number>): string {
  let min = Infinity;
  let max = -Infinity;
  let odd = 0;
  let even = 0;
  for (const { phase, reach, hits } of passes) {
    if (reach === 0) continue;
    for (let port = phase.low; port < phase.high; port++) {
      if (hits(port) === 0 || seen.has(port)) continue;
      min = Math.min(min, port);
      max = Math.max(max, port);
      if (port % 2) odd++; else even++;
    }
  }
  if (min === Infinity) return 'none';
  if (min === max) return `port ${min}`;
  const parity = even === 0 ? 'odd ports' : odd === 0 ? 'even ports' : 'ports';
  return `${parity} of [${min}, ${max}]`;
}

// Lists what a draw can return: failure, each earlier port again, a new port (each with p).
export function possibleOutcomes(draw: Draw, seen: ReadonlySet<number>, failText: string): string {
  const items: string[] = [];
  if (draw.fail > 0) items.push(`${failText} (p=${showProb(draw.fail)})`);
  for (const [port, p] of [...draw.used].sort((a, b) => a[0] - b[0])) items.push(`port ${port} again (p=${showProb(p)})`);
  if (draw.fresh > 0) items.push(`a new port: ${freshSupport(draw.passes, seen)} (p=${showProb(draw.fresh)})`);
  return items.join('; ');
}

// A pass's span as the kernel's inclusive range.
function span(pass: Pass): string {
  return `[${pass.phase.low}, ${pass.phase.high - 1}]`;
}

// Says why a draw can never return `port` (the caller checked that it cannot).
export function whyImpossible(draw: Draw, port: number, seen: ReadonlySet<number>, range: readonly [number, number]): string {
  if (port < range[0] || port > range[1]) return `port ${port} lies outside the ephemeral range [${range[0]}, ${range[1]}]`;
  if (seen.has(port)) return `port ${port} was reported earlier in the cell and ${draw.walk.name} cannot return it again here (still held, or in conflict)`;
  const holders = draw.passes.filter((p) => port >= p.phase.low && port < p.phase.high);
  if (holders.length > 0 && holders.every((p) => p.reach === 0)) {
    const ran = draw.passes.filter((p) => p.reach > 0 && !holders.includes(p)).map(span);
    return `port ${port} lies in ${span(holders[0])}, which ${draw.walk.name} scans only when ${ran.join(' and ') || 'an earlier pass'} has no usable port, and here it always has one (SO_REUSEADDR sockets scan the lower half of the range first)`;
  }
  const reached = holders.find((p) => p.reach > 0);
  if (reached) {
    const parity = (port - reached.phase.low) % 2 ? 'odd' : 'even';
    const first = draw.walk.firstParity;
    if (parity !== first && massOf(draw, port) === 0) {
      const how = first === 'odd' ? 'bind(0) sets offset |= 1' : 'connect() clears offset & ~1';
      return `port ${port} is an ${parity} offset from ${reached.phase.low}: ${draw.walk.name} tries ${first} offsets first (${how}) and goes to the other parity only when all of them are taken, which never happens here`;
    }
  }
  return `${draw.walk.name} never stops at port ${port} here (an earlier port of its walk is always usable)`;
}

/** One possible outcome of an op's random scan, for the prediction (renaming-invariant words). */
export type { Alternative } from '../core/verdict.js';

// Every outcome class of a draw with its probability, or null when only one class is possible.
export function alternativesOf(draw: Draw, seen: ReadonlySet<number>, firstOp: ReadonlyMap<number, number>, errno: string): Alternative[] | null {
  const used = [...draw.used].filter(([, p]) => p > 0).sort((a, b) => a[0] - b[0]);
  if ((draw.fail > 0 ? 1 : 0) + used.length + (draw.fresh > 0 ? 1 : 0) < 2) return null;
  const list: Alternative[] = [];
  if (draw.fail > 0) list.push({ outcome: errno, probability: draw.fail });
  for (const [port, p] of used) {
    const k = firstOp.get(port);
    list.push({ outcome: k === undefined ? `port ${port} again` : `the port of op ${k + 1} again`, probability: p });
  }
  if (draw.fresh > 0) list.push({ outcome: `a new port (${freshSupport(draw.passes, seen)})`, probability: draw.fresh });
  return list;
}
