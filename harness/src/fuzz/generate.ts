// Random scripts from a seed: fast-check arbitraries over the case language. Script number k
// of seed S is drawn from its own derived seed, so the stream is the same whatever the batch
// size, and shard i/N (scripts k ≡ i mod N) never overlaps another shard.
import fc from 'fast-check';
import type { AutobindReuse, BindAddr, Family, Op, SocketSpec } from '../core/cell.js';
import type { RangeName, Script } from './script.js';

const EUIDS = [0, 1000, 1001] as const;

/** One socket: each option on with probability 1/2, euid 0 half of the time. */
const socketArb: fc.Arbitrary<SocketSpec> = fc.record({
  reuseaddr: fc.boolean(),
  reuseport: fc.boolean(),
  bindAddressNoPort: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  euid: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.constantFrom(...EUIDS.slice(1)), weight: 1 }),
});

/** One op on one of n sockets; binds and listens are the interesting ones, so they come most often. */
function opArb(n: number): fc.Arbitrary<Op> {
  const sock = fc.integer({ min: 0, max: n - 1 });
  return fc.oneof(
    { arbitrary: sock.map((s): Op => ({ op: 'bind', sock: s })), weight: 5 },
    { arbitrary: sock.map((s): Op => ({ op: 'listen', sock: s })), weight: 2 },
    { arbitrary: fc.tuple(sock, fc.integer({ min: 0, max: 1 })).map(([s, d]): Op => ({ op: 'connect', sock: s, dst: d })), weight: 2 },
    { arbitrary: sock.map((s): Op => ({ op: 'close', sock: s })), weight: 1 },
  );
}

/** The arbitrary of whole scripts: 2–6 sockets, 1–14 ops, every base dimension. */
export const scriptArb: fc.Arbitrary<Script> = fc.integer({ min: 2, max: 6 }).chain((n) => fc.record({
  reuse: fc.constantFrom<AutobindReuse>('absent', 0, 1),
  range: fc.oneof(
    { arbitrary: fc.constantFrom<RangeName>('one-port', 'two-ports', 'three-ports'), weight: 3 },
    { arbitrary: fc.constant<RangeName>('roomy'), weight: 1 },
  ),
  family: fc.constantFrom<Family>('inet', 'inet6', 'v4mapped'),
  addr: fc.constantFrom<BindAddr>('loopback', 'any'),
  sockets: fc.array(socketArb, { minLength: n, maxLength: n }),
  ops: fc.array(opArb(n), { minLength: 1, maxLength: 14 }),
}));

/** A 31-bit seed for script k of a seed (splitmix-style mixing; fast-check wants an int). */
export function scriptSeed(seed: number, k: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) & 0x7fffffff;
}

/** Script number k of a seed (deterministic). */
export function scriptAt(seed: number, k: number): Script {
  return fc.sample(scriptArb, { seed: scriptSeed(seed, k), numRuns: 1 })[0];
}

/** The script numbers of shard i/N, from position `from` of that shard's stream, `count` of them. */
export function shardIndices(shard: { index: number; count: number }, from: number, count: number): number[] {
  return Array.from({ length: count }, (_, j) => (from + j) * shard.count + (shard.index - 1));
}
