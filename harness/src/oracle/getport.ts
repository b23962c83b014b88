// Port reservation for bind() and listen(): the autobind scan for port 0 (first scan, then the
// relaxed scan of 4b01a967) and the explicit-port re-check listen() does. Models
// inet_csk_find_open_port() and inet_csk_get_port() in net/ipv4/inet_connection_sock.c.
import { useHash2OnBind } from './addr.js';
import { certainty } from './choice.js';
import { addrAnyConflict, cskBindConflict, type ConflictCtx } from './conflict.js';
import { isReserved, reservedIn, type Env } from './env.js';
import { reuseportMatch, updateFastreuse } from './fastreuse.js';
import { drawPhases, makePhase, walkFindOpenPort, type Phase } from './scan.js';
import { bindHash, createTb, createTb2, destroyIfEmpty, findTb2, type Sk } from './state.js';

/** Outcome of a port reservation, with the rule that decided it. */
export type PortResult =
  | { ok: true; port: number; reported: number | null; rule: string }
  | { ok: false; rule: string };

// The passes find_open_port makes: per relax value, the lower then upper half for SO_REUSEADDR sockets.
function autobindPhases(env: Env, sk: Sk): Phase[] {
  const phases: Phase[] = [];
  for (const relax of env.relaxScan ? [false, true] : [false]) {
    const lo = env.range[0];
    const hi = env.range[1] + 1;
    if (!sk.reuse || hi - lo < 4) { phases.push(makePhase(lo, hi, relax)); continue; }
    const half = lo + (((hi - lo) >> 2) << 1);
    phases.push(makePhase(lo, half, relax), makePhase(half, hi, relax));
  }
  return phases;
}

// Decides whether find_open_port accepts `port` for sk in a pass; remembers the first refusal.
function acceptForAutobind(env: Env, sk: Sk, relax: boolean, refusals: Map<boolean, string>): (port: number) => boolean {
  const c: ConflictCtx = { relax, reuseportOk: false, followup: env.followup };
  return (port) => {
    if (isReserved(env, port)) {
      if (!refusals.has(relax)) refusals.set(relax, `${relax ? 'relaxed scan' : 'first scan'}: port ${port}: in ip_local_reserved_ports`);
      return false;
    }
    const tb = env.ns.tbs.get(port);
    if (!tb) return true; // no bucket: no owner at all (bhash2 buckets only exist beside one)
    let why = useHash2OnBind(sk) ? addrAnyConflict(env.ns, sk, port, c) : null;
    if (!why) why = cskBindConflict(sk, tb, findTb2(env.ns, port, sk), c);
    if (why && !refusals.has(relax)) refusals.set(relax, `${relax ? 'relaxed scan' : 'first scan'}: port ${port}: ${why}`);
    return why === null;
  };
}

// Takes `port` for sk the way inet_csk_get_port()'s success path does after the scan.
function takePort(env: Env, sk: Sk, port: number): string[] {
  const tb = env.ns.tbs.get(port) ?? createTb(env.ns, port);
  const tb2 = findTb2(env.ns, port, sk) ?? createTb2(env.ns, port, sk);
  const sharers = tb.owners.map((o) => `${o.name}${o.reuse ? '(SO_REUSEADDR)' : ''}`);
  updateFastreuse(tb, sk);
  bindHash(sk, tb, tb2, port);
  return sharers;
}

// Models inet_csk_get_port(sk, 0): scan the ephemeral range and take the port found.
export function autobind(env: Env, sk: Sk): PortResult {
  const refusals = new Map<boolean, string>();
  const accepts = new Map<Phase, (port: number) => boolean>();
  const draw = drawPhases(autobindPhases(env, sk), walkFindOpenPort, (p, port) => {
    let f = accepts.get(p);
    if (!f) { f = acceptForAutobind(env, sk, p.relax, refusals); accepts.set(p, f); }
    return f(port);
  }, env.used, [...env.ns.tbs.keys(), ...reservedIn(env, env.range[0], env.range[1])]);
  const ch = env.guide(draw);
  const range = `[${env.range[0]},${env.range[1]}]`;
  const sysctl = env.relaxScan ? 'ip_autobind_reuse=1' : 'no relaxed scan (ip_autobind_reuse absent or 0)';
  if (ch.kind === 'fail') {
    return { ok: false, rule: `autobind.exhausted: no port in ${range} passes the conflict check, ${sysctl}; ${[...refusals.values()].join('; ')}${certainty(ch.prob)}` };
  }
  const sharers = takePort(env, sk, ch.port);
  const rule = ch.relaxed
    ? `autobind.relaxed-scan: first scan exhausted, ip_autobind_reuse=1, shared port with ${sharers.join(', ')}`
    : ch.fresh ? `autobind.first-scan: free port in ${range}${sk.reuse && env.range[1] - env.range[0] >= 3 ? ' (SO_REUSEADDR: lower half first)' : ''}`
      : `autobind.first-scan: port ${ch.port} is free again and the scan takes it`;
  return { ok: true, port: ch.port, reported: ch.reported, rule: rule + certainty(ch.prob) };
}

// Models inet_csk_get_port(sk, port) for a bound socket (listen's re-check with state LISTEN).
export function recheckPort(env: Env, sk: Sk, port: number): PortResult {
  return getPort(env, sk, port, 'listen');
}

// Models inet_csk_get_port(sk, port) for bind() to an explicit port (state CLOSE: SO_REUSEADDR counts).
export function explicitPort(env: Env, sk: Sk, port: number): PortResult {
  return getPort(env, sk, port, 'bind');
}

// Rule ids of the explicit-port path, per caller.
const RULES = {
  listen: { conflict: 'listen.bind-conflict', fast: 'listen.fast-path', sole: 'listen.sole-owner', shared: 'listen.no-conflict', how: 're-checked as LISTEN' },
  bind: { conflict: 'bind.port-conflict', fast: 'bind.port-fast-path', sole: 'bind.port-free', shared: 'bind.port-shared', how: 'asked for by bind()' },
} as const;

// inet_csk_get_port() with snum != 0: fast paths, then the bhash2 wildcard check and inet_csk_bind_conflict(relax, reuseport_ok).
function getPort(env: Env, sk: Sk, port: number, caller: keyof typeof RULES): PortResult {
  const R = RULES[caller];
  const ns = env.ns;
  const tb = ns.tbs.get(port) ?? createTb(ns, port);
  const others = tb.owners.filter((o) => o !== sk).map((o) => o.name);
  const reuse = sk.reuse && sk.state !== 'LISTEN';
  let fast = '';
  if (tb.owners.length > 0) {
    if (tb.fastreuse > 0 && reuse) fast = 'tb->fastreuse';
    else if (reuseportMatch(tb, sk)) fast = 'tb->fastreuseport (same euid, SO_REUSEPORT)';
  }
  const c: ConflictCtx = { relax: true, reuseportOk: true, followup: env.followup };
  let why = !fast && useHash2OnBind(sk) ? addrAnyConflict(ns, sk, port, c) : null;
  const tb2 = findTb2(ns, port, sk) ?? createTb2(ns, port, sk);
  if (!why && !fast) why = cskBindConflict(sk, tb, tb2, c);
  if (why) {
    destroyIfEmpty(ns, tb, tb2);
    return { ok: false, rule: `${R.conflict}: port ${port} ${R.how}: ${why}` };
  }
  updateFastreuse(tb, sk);
  if (!sk.tb) bindHash(sk, tb, tb2, port);
  const rule = fast ? `${R.fast}: ${fast} lets ${sk.name} ${caller === 'bind' ? 'take' : 'keep'} port ${port}`
    : others.length === 0 ? `${R.sole}: ${sk.name} is the only owner of port ${port}`
      : `${R.shared}: port ${port} shared with ${others.join(', ')}, each compatible (SO_REUSEADDR pair with a non-listener, or SO_REUSEPORT with the same euid / TIME_WAIT)`;
  return { ok: true, port, reported: port, rule };
}
