// Random scripts from a seed: fast-check arbitraries over the whole case language. The old
// dimensions keep most of the weight (so the known findings still come early); each wider key
// (per-socket family / address / IPV6_V6ONLY, explicit bind ports, destination listeners,
// autobind_reuse keep / try-N, tcp_tw_reuse, reserved ports) is drawn in a minority of scripts.
// A drawn script is then fitted to what the case loader accepts (fitScript). Script number k of
// seed S is drawn from its own derived seed, so the stream is the same whatever the batch size,
// and shard i/N (scripts k ≡ i mod N) never overlaps another shard.
import fc from 'fast-check';
import { DST_PORT_BASE, type AutobindReuse, type BindAddr, type DestSpec, type Family, type Op, type SocketSpec } from '../core/cell.js';
import { destFamilyFor, destList, sockFamily, type RangeName, type Script } from './script.js';

const EUIDS = [0, 1000, 1001] as const;

/** `arb` with probability 1/(1+rest), else undefined. */
const sometimes = <T>(arb: fc.Arbitrary<T>, rest: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: rest }, { arbitrary: arb, weight: 1 });

/** An explicit port: one of the ephemeral range's first ports, a destination's, or anywhere (privileged ones too). */
const portArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 32768, max: 32770 }), weight: 4 },
  { arbitrary: fc.integer({ min: DST_PORT_BASE, max: DST_PORT_BASE + 1 }), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 65535 }), weight: 1 },
);

/** One socket: each option on with probability 1/2, euid 0 half of the time; family, address, v6only overridden now and then. */
const socketArb: fc.Arbitrary<SocketSpec> = fc.record({
  reuseaddr: fc.boolean(),
  reuseport: fc.boolean(),
  bindAddressNoPort: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  euid: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.constantFrom(...EUIDS.slice(1)), weight: 1 }),
  family: sometimes(fc.constantFrom<Family>('inet', 'inet6', 'v4mapped'), 11),
  addr: sometimes(fc.constantFrom<BindAddr>('loopback', 'any'), 11),
  v6only: sometimes(fc.boolean(), 8),
}).map((k) => {
  const out: SocketSpec = { reuseaddr: k.reuseaddr, reuseport: k.reuseport, bindAddressNoPort: k.bindAddressNoPort, euid: k.euid };
  if (k.family !== undefined) out.family = k.family;
  if (k.addr !== undefined) out.addr = k.addr;
  if (k.v6only !== undefined) out.v6only = k.v6only;
  return out;
});

/** One op on one of n sockets; binds and listens are the interesting ones, so they come most often. */
function opArb(n: number): fc.Arbitrary<Op> {
  const sock = fc.integer({ min: 0, max: n - 1 });
  return fc.oneof(
    { arbitrary: sock.map((s): Op => ({ op: 'bind', sock: s })), weight: 10 },
    { arbitrary: fc.tuple(sock, portArb).map(([s, port]): Op => ({ op: 'bind', sock: s, port })), weight: 1 },
    { arbitrary: fc.tuple(sock, sock).map(([s, j]): Op => ({ op: 'bind', sock: s, portOf: j })), weight: 1 },
    { arbitrary: sock.map((s): Op => ({ op: 'listen', sock: s })), weight: 4 },
    { arbitrary: fc.tuple(sock, fc.integer({ min: 0, max: 1 })).map(([s, d]): Op => ({ op: 'connect', sock: s, dst: d })), weight: 4 },
    { arbitrary: sock.map((s): Op => ({ op: 'close', sock: s })), weight: 2 },
  );
}

/** 1–3 destination listeners with their own family, SO_REUSEADDR and port (ports made unique by fitScript). */
const destsArb: fc.Arbitrary<DestSpec[]> = fc.array(fc.record({
  family: fc.constantFrom<'inet' | 'inet6'>('inet', 'inet6'),
  reuseaddr: fc.boolean(),
  port: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: portArb, weight: 2 }),
}), { minLength: 1, maxLength: 3 });

/**
 * The script as the case loader accepts it: no IPV6_V6ONLY on inet sockets; each connect to a
 * destination of the socket's family (the drawn index taken among those that fit, else a fitting
 * listener added); explicit destinations on distinct ports (a drawn 0 means the default 10000 + j).
 */
export function fitScript(s: Script): Script {
  const sockets = s.sockets.map((k, i) => {
    if (k.v6only === undefined || sockFamily(s, i) !== 'inet') return k;
    const { v6only: _, ...rest } = k;
    return rest;
  });
  let dests: DestSpec[] | undefined = s.dests?.map((d, j) => ({ ...d, port: d.port || DST_PORT_BASE + j }));
  const fitted: Script = { ...s, sockets, ...(dests ? { dests } : {}) };
  const ops = s.ops.map((o): Op => {
    if (o.op !== 'connect') return o;
    const want = destFamilyFor(sockFamily(fitted, o.sock));
    const list = dests ?? destList({ ...fitted, ops: s.ops });
    const ok = list.map((d, j) => (d.family === want ? j : -1)).filter((j) => j >= 0);
    if (ok.length) return { ...o, dst: ok[o.dst % ok.length] };
    dests = [...list, { family: want, reuseaddr: false, port: 0 }];
    return { ...o, dst: dests.length - 1 };
  });
  if (dests) {
    const used = new Set<string>();
    dests = dests.map((d, j) => {
      let port = d.port || DST_PORT_BASE + j;
      while (used.has(`${d.family}:${port}`)) port = port >= 65535 ? 1 : port + 1;
      used.add(`${d.family}:${port}`);
      return { ...d, port };
    });
  }
  return { ...fitted, ops, ...(dests ? { dests } : {}) };
}

/** The arbitrary of whole scripts: 2–6 sockets, 1–14 ops, every dimension of the case language. */
export const scriptArb: fc.Arbitrary<Script> = fc.integer({ min: 2, max: 6 }).chain((n) => fc.record({
  reuse: fc.oneof(
    { arbitrary: fc.constantFrom<AutobindReuse>('absent', 0, 1), weight: 4 },
    { arbitrary: fc.constantFrom<AutobindReuse>('keep', 'try-0', 'try-1'), weight: 1 },
  ),
  range: fc.oneof(
    { arbitrary: fc.constantFrom<RangeName>('one-port', 'two-ports', 'three-ports'), weight: 3 },
    { arbitrary: fc.constant<RangeName>('roomy'), weight: 1 },
  ),
  family: fc.constantFrom<Family>('inet', 'inet6', 'v4mapped'),
  addr: fc.constantFrom<BindAddr>('loopback', 'any'),
  sockets: fc.array(socketArb, { minLength: n, maxLength: n }),
  ops: fc.array(opArb(n), { minLength: 1, maxLength: 14 }),
  dests: sometimes(destsArb, 5),
  twReuse: sometimes(fc.constantFrom<0 | 1 | 2>(0, 1, 2), 5),
  reservedPorts: sometimes(fc.oneof(
    fc.constant<'none'>('none'),
    fc.integer({ min: 32768, max: 32770 }).map((p): [number, number] => [p, p]),
    fc.tuple(fc.integer({ min: 32768, max: 32770 }), fc.integer({ min: 0, max: 2 })).map(([lo, w]): [number, number] => [lo, lo + w]),
  ), 5),
}).map((r) => {
  const s: Script = { reuse: r.reuse, range: r.range, family: r.family, addr: r.addr, sockets: r.sockets, ops: r.ops };
  if (r.dests) s.dests = r.dests;
  if (r.twReuse !== undefined) s.twReuse = r.twReuse;
  if (r.reservedPorts !== undefined) s.reservedPorts = r.reservedPorts;
  return fitScript(s);
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
