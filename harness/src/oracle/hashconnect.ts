// connect()'s local port: a bound socket keeps its port if the 4-tuple is unique; an unbound
// (or IP_BIND_ADDRESS_NO_PORT) socket scans the range, skipping ports whose bucket bind() made
// and sharing connect()-made buckets when the 4-tuple is unique. Models __inet_hash_connect(),
// __inet_check_established() and tcp_twsk_unique() (net/ipv4/inet_hashtables.c, tcp_ipv4.c).
import { certainty } from './choice.js';
import { isReserved, reservedIn, type Env } from './env.js';
import type { PortResult } from './getport.js';
import { drawPhases, makePhase, walkHashConnect } from './scan.js';
import { bindHash, createTb, createTb2, findTb2, killTimeWait, type Sk } from './state.js';

type Established = { unique: true; tw: Sk | null } | { unique: false; holder: Sk };

// The local address as the established hash compares it (IPv4 for AF_INET and v4-mapped).
function localKey(sk: Sk): string {
  return sk.family === 'AF_INET6' && !sk.v6.startsWith('::ffff:') ? sk.v6 : sk.v4;
}

// Models __inet_check_established() + tcp_twsk_unique(): is (local addr, lport, destination)
// free in the ehash? A TIME_WAIT match (with timestamps: loopback TCP) is recycled only for
// bind()+connect() (twp == NULL): the destinations never close, so every TIME_WAIT here has
// substate FIN_WAIT2 and tcp_twsk_unique() forces tcp_tw_reuse to 0 for the connect() scan.
// A TIME_WAIT exists only after a late ACK (env.lateAck); a FIN_WAIT1 orphan is a full socket: never unique.
function checkEstablished(env: Env, sk: Sk, lport: number, twp: boolean): Established {
  for (const e of env.ns.ehash) {
    if (e === sk || e.num !== lport || e.dst !== sk.dst || localKey(e) !== localKey(sk)) continue;
    if (e.state === 'TIME_WAIT' && !twp) return { unique: true, tw: e };
    return { unique: false, holder: e };
  }
  return { unique: true, tw: null };
}

// Connect of a socket that already has a port: only the 4-tuple is checked.
function connectBound(env: Env, sk: Sk): PortResult {
  const port = sk.num;
  const r = checkEstablished(env, sk, port, false);
  if (!r.unique) {
    return { ok: false, rule: `connect.duplicate-4tuple: ${r.holder.name} already uses port ${port} to d${sk.dst}` };
  }
  if (r.tw) killTimeWait(env.ns, r.tw);
  env.ns.ehash.push(sk);
  const rule = r.tw ? `connect.recycle-time-wait: bound port ${port}; the 4-tuple's ${r.tw.name} is recycled (timestamps, bind+connect)`
    : `connect.bound-port: keeps bound port ${port}; 4-tuple to d${sk.dst} is unique`;
  return { ok: true, port, reported: port, rule };
}

// Decides whether the connect scan may use `port` for sk.
function acceptForConnect(env: Env, sk: Sk, refusals: string[]): (port: number) => boolean {
  return (port) => {
    if (isReserved(env, port)) {
      if (refusals.length < 1) refusals.push(`port ${port}: in ip_local_reserved_ports`);
      return false;
    }
    const tb = env.ns.tbs.get(port);
    if (!tb) return true;
    let why: string | null = null;
    if (tb.fastreuse >= 0 || tb.fastreuseport >= 0) why = `bucket made by bind()/listen() (owners ${tb.owners.map((o) => o.name).join(', ')})`;
    else {
      const r = checkEstablished(env, sk, port, true);
      if (!r.unique) why = `${r.holder.name} already uses it to d${sk.dst}${r.holder.state === 'TIME_WAIT' ? ` (substate FIN_WAIT2: tcp_twsk_unique() ignores tcp_tw_reuse=${env.twReuse})` : ''}`;
    }
    if (why && refusals.length < 1) refusals.push(`port ${port}: ${why}`);
    return why === null;
  };
}

// Models __inet_hash_connect(): pick (or share) a local port for a connecting socket.
export function hashConnect(env: Env, sk: Sk): PortResult {
  if (sk.num) return connectBound(env, sk);
  const refusals: string[] = [];
  const accept = acceptForConnect(env, sk, refusals);
  const phase = makePhase(env.range[0], env.range[1] + 1, false);
  const ch = env.guide(drawPhases([phase], walkHashConnect, (_p, port) => accept(port), env.used, [...env.ns.tbs.keys(), ...reservedIn(env, env.range[0], env.range[1])]));
  if (ch.kind === 'fail') {
    return { ok: false, rule: `connect.scan-exhausted: no port in [${env.range[0]},${env.range[1]}] usable; ${refusals[0] ?? ''}${certainty(ch.prob)}` };
  }
  const existing = env.ns.tbs.get(ch.port);
  const sharers = existing ? existing.owners.map((o) => o.name) : [];
  const tb = existing ?? createTb(env.ns, ch.port);
  if (!existing) { tb.fastreuse = -1; tb.fastreuseport = -1; }
  const tb2 = findTb2(env.ns, ch.port, sk) ?? createTb2(env.ns, ch.port, sk);
  bindHash(sk, tb, tb2, ch.port);
  env.ns.ehash.push(sk);
  const rule = sharers.length
    ? `connect.scan-shared: shares connect()-made port with ${sharers.join(', ')}; 4-tuple to d${sk.dst} is unique`
    : `connect.scan-free: a port of [${env.range[0]},${env.range[1]}] with no bucket${ch.fresh ? '' : ' (free again)'}`;
  return { ok: true, port: ch.port, reported: ch.reported, rule: rule + certainty(ch.prob) };
}
