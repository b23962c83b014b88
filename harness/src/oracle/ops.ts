// The socket calls of a cell's script, at the af_inet / af_inet6 layer: state checks and errno
// choices, address bookkeeping, then the port rules in getport.ts / hashconnect.ts. Models
// __inet_bind(), __inet6_bind(), inet_listen() + inet_csk_listen_start(), __inet_stream_connect()
// + tcp_v4_connect() / tcp_v6_connect(), and __tcp_close() (a connection is orphaned in FIN_WAIT1).
import type { Family, OpResult } from '../core/cell.js';
import type { PredictedOp } from '../core/verdict.js';
import { boundAddr, connectedAddr, isAnyAddr, showAddr, unboundAddr } from './addr.js';
import type { Env } from './env.js';
import { autobind, explicitPort, recheckPort, type PortResult } from './getport.js';
import { hashConnect } from './hashconnect.js';
import { moveAddr, putPort, type Sk } from './state.js';

// Builds a prediction record.
function pred(result: OpResult, rule: string, models: string): PredictedOp {
  return { result, rule, models };
}

// Predicts an error return (the port getsockname() still shows is filled in by predict()).
function fail(errno: string, rule: string, models: string): PredictedOp {
  return pred({ ok: false, errno }, rule, models);
}

// The socket's family in the case language (test sockets carry it; the cell's otherwise).
function famOf(env: Env, sk: Sk): Family {
  return sk.fam ?? env.cell.family;
}

// Predicts success with the port getsockname() shows afterwards.
function okPort(env: Env, r: PortResult & { ok: true }, models: string): PredictedOp {
  env.used.add(r.port);
  return pred({ ok: true, port: r.reported }, r.rule, models);
}

// Errno for any call on a descriptor the script already closed.
function closedFd(sk: Sk): PredictedOp {
  return fail('EBADF', `fd.closed: ${sk.name} was closed earlier in the script`, 'close(2) / fdget()');
}

// Models bind(sock, loopback-or-any, port): port 0 autobinds, any other is taken if no conflict.
export function opBind(env: Env, sk: Sk, port = 0): PredictedOp {
  const fam = famOf(env, sk);
  const fn = fam === 'inet' ? '__inet_bind()' : '__inet6_bind()';
  const models = port ? `${fn} → inet_csk_get_port(${port})` : `${fn} → inet_csk_get_port() → inet_csk_find_open_port()`;
  if (sk.fdClosed) return closedFd(sk);
  const bindTo = sk.bindTo ?? env.cell.addr;
  if (fam === 'v4mapped' && bindTo === 'loopback' && sk.ipv6only) {
    return fail('EINVAL', `bind.v6only-mapped: ${sk.name} has IPV6_V6ONLY and cannot bind the v4-mapped ::ffff:127.0.0.1`, '__inet6_bind()');
  }
  if (sk.state !== 'CLOSE' || sk.num) {
    const what = sk.state === 'LISTEN' ? 'is listening' : sk.state === 'ESTABLISHED' ? 'is connected' : `already has port ${sk.num}`;
    return fail('EINVAL', `bind.already-bound: ${sk.name} ${what}`, fn);
  }
  const savedOnly = sk.ipv6only;
  Object.assign(sk, boundAddr(fam, bindTo, sk.ipv6only));
  if (sk.noPort && !port) {
    sk.bindAddrLock = !isAnyAddr(sk);
    sk.sport = 0;
    return pred({ ok: true, port: 0 }, `bind.no-port: IP_BIND_ADDRESS_NO_PORT records ${showAddr(sk)} and defers the port to connect()`,
      `${fn} (bind_address_no_port)`);
  }
  const r = port ? explicitPort(env, sk, port) : autobind(env, sk);
  if (!r.ok) {
    Object.assign(sk, unboundAddr(fam), { ipv6only: savedOnly });
    return fail('EADDRINUSE', r.rule, models);
  }
  sk.bindAddrLock = !isAnyAddr(sk);
  if (port) sk.bindPortLock = true;
  return okPort(env, r, models);
}

// Models listen(sock, backlog).
export function opListen(env: Env, sk: Sk): PredictedOp {
  const models = 'inet_listen() → inet_csk_listen_start() → inet_csk_get_port()';
  if (sk.fdClosed) return closedFd(sk);
  if (sk.connected) return fail('EINVAL', `listen.connected: ${sk.name} is connected (socket state is not SS_UNCONNECTED)`, 'inet_listen()');
  if (sk.state === 'LISTEN') return pred({ ok: true, port: sk.num }, `listen.again: ${sk.name} already listens; only the backlog changes`, 'inet_listen()');
  sk.state = 'LISTEN';
  const auto = sk.num === 0;
  const r = auto ? autobind(env, sk) : recheckPort(env, sk, sk.num);
  if (!r.ok) {
    sk.state = 'CLOSE';
    return fail('EADDRINUSE', auto ? `listen.autobind → ${r.rule}` : r.rule, auto ? `${models}(0) → inet_csk_find_open_port()` : models);
  }
  sk.reuseportCb = sk.reuseport;
  if (auto) return okPort(env, { ...r, rule: `listen.autobind → ${r.rule}` }, `${models}(0) → inet_csk_find_open_port()`);
  return okPort(env, r, models);
}

// Models connect(sock, destination j) (blocking; the destination always listens).
export function opConnect(env: Env, sk: Sk, dst: number): PredictedOp {
  const fam = famOf(env, sk);
  const dstFam = env.dests[dst]?.family ?? (env.cell.family === 'inet6' ? 'inet6' : 'inet');
  const v4path = dstFam === 'inet';
  const models = `${fam === 'inet' ? 'tcp_v4_connect()' : 'tcp_v6_connect()'} → ${v4path ? 'inet_hash_connect()' : 'inet6_hash_connect()'} → __inet_hash_connect()`;
  if (sk.fdClosed) return closedFd(sk);
  if (sk.connected) return fail('EISCONN', `connect.already-connected: ${sk.name} is connected`, '__inet_stream_connect()');
  if (sk.state !== 'CLOSE') return fail('EISCONN', `connect.not-closed: ${sk.name} is ${sk.state === 'LISTEN' ? 'listening' : sk.state}`, '__inet_stream_connect()');
  if (fam !== 'inet' && v4path && sk.ipv6only) {
    return fail('ENETUNREACH', `connect.v6only-mapped: ${sk.name} has IPV6_V6ONLY and cannot reach the v4-mapped ::ffff:127.0.0.1`, 'tcp_v6_connect()');
  }
  if (isAnyAddr(sk)) moveAddr(env.ns, sk, connectedAddr(sk, v4path ? 'inet' : 'inet6'));
  sk.dst = dst;
  sk.state = 'SYN_SENT';
  const r = hashConnect(env, sk);
  if (!r.ok) {
    sk.state = 'CLOSE';
    const lost = sk.tb && !sk.bindPortLock ? `; ${sk.name} also gives up its port ${sk.num} (tcp_set_state(TCP_CLOSE))` : '';
    if (sk.tb && !sk.bindPortLock) putPort(env.ns, sk);
    if (!sk.bindAddrLock) Object.assign(sk, unboundAddr(fam), { ipv6only: sk.ipv6only });
    sk.dst = null;
    return fail('EADDRNOTAVAIL', r.rule + lost, models);
  }
  sk.state = 'ESTABLISHED';
  sk.connected = true;
  return okPort(env, r, models);
}

// Models __tcp_close() of a connected socket over loopback: it sends its FIN and is orphaned
// (sock_orphan()) in FIN_WAIT1. The peer, a never-accepted child of a destination listener, takes
// the FIN in tcp_fin(), which enters pingpong mode, so __tcp_ack_snd_check() delays its ACK
// (tcp_send_delayed_ack(), at least TCP_DELACK_MIN = 40 ms): the orphan moves on to FIN_WAIT2 and
// tcp_time_wait() only after the script's next ops (they take microseconds). Until then it is a
// full socket, not a TIME_WAIT sock: it keeps its bind buckets and 4-tuple, its sk_state is not
// TCP_TIME_WAIT, and sock_i_uid() reads GLOBAL_ROOT_UID (an orphan has no sk_socket).
function orphanOnClose(env: Env, sk: Sk): Sk {
  const o: Sk = { ...sk, name: `orphan(${sk.name})`, state: 'FIN_WAIT1', uid: 0, reuseportCb: false, connected: false, fdClosed: true };
  const { tb, tb2 } = sk;
  if (tb) tb.owners[tb.owners.indexOf(sk)] = o;
  if (tb2) tb2.owners[tb2.owners.indexOf(sk)] = o;
  env.ns.ehash[env.ns.ehash.indexOf(sk)] = o;
  sk.tb = null;
  sk.tb2 = null;
  sk.num = 0;
  return o;
}

// Models tcp_time_wait() after a late ACK (env.lateAck): the closed connection's TIME_WAIT sock
// (substate FIN_WAIT2) takes over sk's place in the tables.
function enterTimeWait(env: Env, sk: Sk, name = `tw(${sk.name})`): Sk {
  const tw: Sk = { ...sk, name, state: 'TIME_WAIT', reuseportCb: false, connected: false, fdClosed: true };
  if (sk.family === 'AF_INET') tw.ipv6only = false;
  const { tb, tb2 } = sk;
  if (tb) tb.owners[tb.owners.indexOf(sk)] = tw;
  if (tb2) { tb2.owners.splice(tb2.owners.indexOf(sk), 1); tb2.deathrow.push(tw); }
  env.ns.ehash[env.ns.ehash.indexOf(sk)] = tw;
  sk.tb = null;
  sk.tb2 = null;
  sk.num = 0;
  return tw;
}

// Models the peers' delayed ACKs arriving between two ops of a stalled guest: every FIN_WAIT1
// orphan moves on to FIN_WAIT2 and tcp_time_wait() (tcp_rcv_state_process()), so its TIME_WAIT
// sock takes its place in the tables. Returns how many orphans were ACKed.
export function ackOrphans(env: Env): number {
  const orphans = env.ns.ehash.filter((e) => e.state === 'FIN_WAIT1');
  for (const o of orphans) enterTimeWait(env, o, o.name.replace(/^orphan\((.*)\)$/, 'tw($1)'));
  return orphans.length;
}

// Models close(sock).
export function opClose(env: Env, sk: Sk): PredictedOp {
  if (sk.fdClosed) return closedFd(sk);
  sk.fdClosed = true;
  const done = { ok: true as const, port: null };
  if (sk.state === 'ESTABLISHED') {
    const port = sk.num;
    if (env.lateAck) {
      const tw = enterTimeWait(env, sk);
      sk.state = 'CLOSE';
      return pred(done, `close.time-wait: ${sk.name} sent FIN and the peer's delayed ACK came (a stalled guest); ${tw.name} keeps port ${port} and the 4-tuple (SO_REUSEADDR=${tw.reuse ? 1 : 0})`,
        '__tcp_close() → tcp_rcv_state_process() (FIN_WAIT1 → FIN_WAIT2) → tcp_time_wait()');
    }
    const o = orphanOnClose(env, sk);
    sk.state = 'CLOSE';
    return pred(done, `close.fin-wait1: ${sk.name} sent FIN; ${o.name} stays in FIN_WAIT1 (the peer delays its ACK), keeps port ${port} and the 4-tuple (SO_REUSEADDR=${o.reuse ? 1 : 0}, euid reads 0)`,
      '__tcp_close() → sock_orphan() (peer: tcp_fin() → pingpong → tcp_send_delayed_ack())');
  }
  const port = sk.num;
  const wasListening = sk.state === 'LISTEN';
  sk.state = 'CLOSE';
  sk.reuseportCb = false;
  if (sk.tb) {
    putPort(env.ns, sk);
    return pred(done, `close.release: ${sk.name} ${wasListening ? 'stops listening and ' : ''}frees port ${port}`, 'tcp_close() → inet_csk_destroy_sock() → inet_put_port()');
  }
  return pred(done, `close.unbound: ${sk.name} held no port`, 'tcp_close()');
}
