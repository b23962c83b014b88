// The oracle: a pure model of Linux's TCP local-port allocation and bind-conflict rules
// (Linux 6.1 code paths, switched by behaviour profiles for commit 4b01a967 and its follow-up).
// predict() replays a cell's script against a simulated namespace and says, for every op, what
// it returns, which rule decided it and which kernel function that rule models.
//
// Files: addr.ts (address overlap), state.ts (bind/bind2/established tables), conflict.ts
// (bind-conflict rules), fastreuse.ts (bucket fast paths), scan.ts + choice.ts (the randomised
// scans, enumerated, and the deterministic pick), getport.ts (bind/listen ports), hashconnect.ts
// (connect ports), ops.ts (the socket calls), env.ts (the cell's namespace), possible.ts +
// explain.ts (the verdict: is an observation possible, and why not), compare.ts (equality-pattern
// comparison of two result lists, for observations against a good kernel's).
//
// Rule ids: bind.already-bound, bind.no-port, autobind.first-scan, autobind.relaxed-scan,
// autobind.exhausted, listen.connected, listen.again, listen.autobind → autobind.*,
// listen.fast-path, listen.sole-owner, listen.no-conflict, listen.bind-conflict,
// connect.already-connected, connect.not-closed, connect.bound-port, connect.recycle-time-wait,
// connect.duplicate-4tuple, connect.scan-free, connect.scan-shared, connect.scan-exhausted,
// connect.v6only-mapped, bind.v6only-mapped,
// bind.port-free, bind.port-shared, bind.port-fast-path, bind.port-conflict (explicit ports),
// close.fin-wait1 (close.time-wait and connect.recycle-time-wait only where the replay allows a
// late ACK), close.release, close.unbound, fd.closed. Reserved ports
// (ip_local_reserved_ports) are refused by both scans (inet_is_local_reserved_port()).
// A failed op also says which port getsockname() still shows (inet_sport: a released port stays).
//
// Two uses: predict() follows the likeliest outcome of every random scan (what expected.json,
// the matrix and report.html show); possible.ts replays an observation, following at each scan
// the outcome the kernel actually took, and says whether the model allows it (and how likely).
//
// Limitations: every profile runs the Linux 6.1 code paths (bhash2); 'pre-4b01a967' is 6.1
// without the sysctl and the relaxed scan, like the project's "before" kernel. A connection closed
// over loopback is an orphan in FIN_WAIT1 (ops.ts orphanOnClose: the peer delays its ACK of the
// FIN by at least 40 ms); the replay also allows the late ACK of a stalled guest, where every
// closed connection is a TIME_WAIT of substate FIN_WAIT2 instead (env.ts lateAck). Accepted
// children of the destination listeners, SO_BINDTODEVICE and per-socket port ranges are not
// modelled. tcp_tw_reuse is a dimension but cannot matter here: a TIME_WAIT has substate
// FIN_WAIT2 (the destinations never close), for which tcp_twsk_unique() forces it to 0. When the
// kernel's random offset makes an outcome less than 99% likely, the port is reported as null and
// the likeliest outcome is followed; the verdict (possible.ts) does not depend on that choice.
import type { Cell } from '../core/cell.js';
import { choose, type Guide } from './choice.js';
import { makeEnv, type Env } from './env.js';
import { alternativesOf, type Alternative } from './explain.js';
import type { PredictedOp } from '../core/verdict.js';
import { opBind, opClose, opConnect, opListen } from './ops.js';

export type { PredictedOp } from '../core/verdict.js';
export { compareResults } from './compare.js';

export interface ProfileFlags {
  /** 4b01a967: the sysctl exists and, at 1, bind(0) does a relaxed second scan when the first finds nothing. */
  autobindReuseSysctl: boolean;
  /** Follow-up: under relax, two SO_REUSEADDR+SO_REUSEPORT sockets of the same euid (or sk2 TIME_WAIT) still conflict. */
  followupSameEuidConflict: boolean;
}

export type ProfileName = 'pre-4b01a967' | '4b01a967' | '4b01a967+followup';

export const PROFILES: Record<ProfileName, ProfileFlags> = {
  'pre-4b01a967': { autobindReuseSysctl: false, followupSameEuidConflict: false },
  '4b01a967': { autobindReuseSysctl: true, followupSameEuidConflict: false },
  '4b01a967+followup': { autobindReuseSysctl: true, followupSameEuidConflict: true },
};

export type Verdict =
  | { kind: 'predicted'; profile: string; ops: PredictedOp[]; enoent?: string[] }
  | { kind: 'not-applicable'; reason: string };

// Says why a cell cannot be predicted under a profile, or null when it can (cheap: no simulation).
export function inapplicable(cell: Cell, profile: ProfileFlags): string | null {
  if (cell.autobindReuse === 'absent' && profile.autobindReuseSysctl) {
    return 'the cell needs a kernel without net.ipv4.ip_autobind_reuse, but this profile has the sysctl';
  }
  if ((cell.autobindReuse === 0 || cell.autobindReuse === 1) && !profile.autobindReuseSysctl) {
    return `the cell sets net.ipv4.ip_autobind_reuse=${cell.autobindReuse}, which this profile's kernel does not have`;
  }
  const [lo, hi] = cell.portRange;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
    return `port range [${lo},${hi}] is not a valid ip_local_port_range`;
  }
  for (const [k, op] of cell.ops.entries()) {
    if (op.sock < 0 || op.sock >= cell.sockets.length) return `op ${k} names socket ${op.sock}, but the cell has ${cell.sockets.length}`;
    if (op.op === 'connect' && (op.dst < 0 || op.dst >= cell.destinations)) {
      return `op ${k} connects to destination ${op.dst}, but the cell starts ${cell.destinations} (connecting to a port without a listener is out of scope)`;
    }
  }
  return null;
}

/** The sysctl a try-N value of ip_autobind_reuse writes when it exists. */
export const AUTOBIND_REUSE = 'net.ipv4.ip_autobind_reuse';

// The sysctls the guest finds missing (ENOENT) for the cell's try-N values under a profile.
export function expectedEnoent(cell: Cell, profile: ProfileFlags): string[] {
  return (cell.autobindReuse === 'try-0' || cell.autobindReuse === 'try-1') && !profile.autobindReuseSysctl ? [AUTOBIND_REUSE] : [];
}

// The port an explicit bind asks for: its number, or what getsockname() shows for socket J (0 once closed).
function bindPort(env: Env, op: Extract<Cell['ops'][number], { op: 'bind' }>): number {
  if (op.port !== undefined) return op.port;
  if (op.portOf === undefined) return 0;
  const other = env.socks[op.portOf];
  return other.fdClosed ? 0 : other.sport;
}

// Applies one op of the script to the simulated namespace; a failed op also carries the port getsockname() shows.
export function step(env: Env, op: Cell['ops'][number]): PredictedOp {
  const p = stepOp(env, op);
  const sk = env.socks[op.sock];
  if (p.result.ok) return p;
  return { ...p, result: { ...p.result, port: sk.fdClosed ? null : sk.sport } };
}

function stepOp(env: Env, op: Cell['ops'][number]): PredictedOp {
  const sk = env.socks[op.sock];
  switch (op.op) {
    case 'bind': return opBind(env, sk, bindPort(env, op));
    case 'listen': return opListen(env, sk);
    case 'connect': return opConnect(env, sk, op.dst);
    case 'close': return opClose(env, sk);
  }
}

// The namespace a cell starts with under a profile; `guide` resolves its random scans.
export function cellEnv(cell: Cell, profile: ProfileFlags, guide?: Guide): Env {
  const relax = cell.autobindReuse === 1 || cell.autobindReuse === 'try-1';
  return makeEnv(cell, profile.autobindReuseSysctl && relax, profile.followupSameEuidConflict, guide);
}

// Predicts every op of a cell under a behaviour profile (pure and deterministic).
export function predict(cell: Cell, profile: ProfileFlags, profileName = 'custom'): Verdict {
  const why = inapplicable(cell, profile);
  if (why) return { kind: 'not-applicable', reason: why };
  const env = cellEnv(cell, profile);
  const firstOp = new Map<number, number>();
  /** Ports the prediction could not name (ambiguous scans). */
  const unsure = new Set<number>();
  const ops = cell.ops.map((op, i): PredictedOp => {
    // The likeliest branch of each scan, noting what else the scan could have done.
    const seen: { alternatives: Alternative[] | null; port: number | null } = { alternatives: null, port: null };
    env.guide = (draw) => {
      const ch = choose(draw);
      seen.alternatives = alternativesOf(draw, env.used, firstOp, op.op === 'connect' ? 'EADDRNOTAVAIL' : 'EADDRINUSE');
      if (ch.kind === 'port') seen.port = ch.port;
      return ch;
    };
    let p = step(env, op);
    if (seen.port !== null && !firstOp.has(seen.port)) firstOp.set(seen.port, i);
    if (seen.port !== null && p.result.ok && p.result.port === null) unsure.add(seen.port);
    // A failed op shows a port the oracle could not name (from an ambiguous scan): unknown.
    if (!p.result.ok && typeof p.result.port === 'number' && unsure.has(p.result.port)) p = { ...p, result: { ...p.result, port: null } };
    return seen.alternatives ? { ...p, alternatives: seen.alternatives } : p;
  });
  const enoent = expectedEnoent(cell, profile);
  return { kind: 'predicted', profile: profileName, ops, ...(enoent.length ? { enoent } : {}) };
}
