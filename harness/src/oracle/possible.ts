// The verdict: is an observation something the kernel could do, not merely what it most likely
// does? A guided replay walks the cell's ops through the model; at each random scan it follows
// the branch the kernel actually took (failure, an earlier port again, or a new port, with the
// observed port numbers themselves, so no renaming is needed). A branch of probability 0 is
// impossible: the result names the op, the oracle rule and what was possible. Otherwise the
// observation is possible, with the probability of its path (the product of its branches); a
// path under 1 % is reported as unlikely, never as a failure. Pure, no I/O.
import type { Cell, Op, OpResult } from '../core/cell.js';
import type { Unlikely } from '../core/verdict.js';
import { choose, UNLIKELY, type Choice, type Guide } from './choice.js';
import type { Env } from './env.js';
import { possibleOutcomes, showProb, whyImpossible } from './explain.js';
import { cellEnv, inapplicable, step, type ProfileFlags } from './index.js';
import { ackOrphans } from './ops.js';
import { massOf, relaxedAt, type Draw } from './scan.js';

/**
 * Which results the guest sees: 'syscall' (the C guest, one result per call) or 'application'
 * (the TypeScript guest: Node does bind+connect and bind+listen as one call, so when the bind
 * fails the second step never runs and shows the bind's error; run/assemble.ts applicationView).
 */
export type View = 'syscall' | 'application';

export type Possibility =
  | { possible: true; probability: number; unlikely?: Unlikely }
  | { possible: false; index: number; reason: string; rule: string };

/** One random scan of the replay and the branch it followed. */
interface Branch { index: number; prob: number; text: string; impossible?: string }

// Prints one result for messages.
function show(r: OpResult): string {
  return r.ok ? `ok(port ${r.port === null ? '?' : r.port})` : r.errno;
}

// Names an op the way case files do: "bind s1", "connect s0 d1".
function opName(op: Op): string {
  return `${op.op} s${op.sock}${op.op === 'connect' ? ` d${op.dst}` : ''}`;
}

// Is op i of the application view hidden behind its failed bind (Node never makes the call)?
function maskedByBind(cell: Cell, i: number, results: OpResult[]): boolean {
  const op = cell.ops[i];
  const prev = cell.ops[i - 1];
  const prevResult = results[i - 1];
  return (op.op === 'connect' || op.op === 'listen') && prev?.op === 'bind' && prev.sock === op.sock && prevResult !== undefined && !prevResult.ok;
}

// The likeliest branch among those that return a port (for an observed success of unknown port).
function likeliestSuccess(draw: Draw): Choice | null {
  const ch = choose({ ...draw, fail: 0 });
  return ch.kind === 'port' ? { ...ch, prob: 1 - draw.fail, reported: ch.port } : null;
}

// A guide that follows the observed result of one op, recording each branch it takes.
// `firstOp` says which op first reported each port, for the notes.
function follow(env: Env, index: number, observed: OpResult, firstOp: ReadonlyMap<number, number>, branches: Branch[]): Guide {
  return (draw) => {
    const seen = new Set(env.used);
    const failText = 'no port (the op fails)';
    const impossible = (why: string): Choice => {
      branches.push({ index, prob: 0, text: '', impossible: `${why}; possible: ${possibleOutcomes(draw, seen, failText)}` });
      return choose(draw);
    };
    if (!observed.ok) {
      if (draw.fail === 0) return impossible(`observed ${observed.errno}, predicted ok: ${draw.walk.name} always finds a port here`);
      branches.push({ index, prob: draw.fail, text: `${observed.errno}: ${draw.walk.name} found no port` });
      return { kind: 'fail', prob: draw.fail };
    }
    if (observed.port === null) {
      const ch = likeliestSuccess(draw);
      if (!ch) return impossible(`observed ok, predicted failure: ${draw.walk.name} never finds a port here`);
      branches.push({ index, prob: ch.prob, text: 'some port (not reported)' });
      return ch;
    }
    const port = observed.port;
    const again = draw.used.get(port);
    if (again !== undefined && again > 0) {
      const k = firstOp.get(port);
      const whose = k === undefined ? 'a port the cell had before' : `the port op ${k + 1} (${opName(env.cell.ops[k])}) had`;
      branches.push({ index, prob: again, text: `port ${port} again, ${whose}` });
      return { kind: 'port', port, reported: port, prob: again, fresh: false, relaxed: relaxedAt(draw, port) };
    }
    if (!seen.has(port) && massOf(draw, port) > 0) {
      branches.push({ index, prob: draw.fresh, text: `a new port (${port})` });
      return { kind: 'port', port, reported: port, prob: draw.fresh, fresh: true, relaxed: relaxedAt(draw, port) };
    }
    return impossible(`observed port ${port}, which the model says cannot happen: ${whyImpossible(draw, port, seen, env.range)}`);
  };
}

// Compares one observed result with the replay's, literally (the replay uses the observed ports).
function differs(o: OpResult, e: OpResult): string | null {
  if (o.ok !== e.ok) return `observed ${show(o)}, predicted ${show(e)}`;
  if (!o.ok && !e.ok) {
    if (o.errno !== e.errno) return `observed ${o.errno}, predicted ${e.errno}`;
    // After a failure, the port getsockname() still shows (a released port stays in inet_sport).
    if (typeof o.port === 'number' && typeof e.port === 'number' && o.port !== e.port) return `observed ${o.errno} with getsockname() port ${o.port}, predicted ${e.errno} with port ${e.port}`;
    return null;
  }
  if (o.ok && e.ok && o.port !== null && e.port !== null && o.port !== e.port) return `observed port ${o.port}, predicted port ${e.port}`;
  return null;
}

// Replays a cell against an observation: possible (with the path's probability) or not (where and why).
// A closed connection is a FIN_WAIT1 orphan; an observation only the late ACK of a stalled guest
// explains is possible too: every closed connection a TIME_WAIT at once (env.ts lateAck), or the
// ACKs of the orphans so far arriving just before one later op (the guest stalled there: seen
// as a bind that still met the orphan, then a connect that recycled its TIME_WAIT).
export function checkPossible(cell: Cell, flags: ProfileFlags, observed: readonly OpResult[], view: View): Possibility {
  const first = replay(cell, flags, observed, view, 'never');
  const firstClose = cell.ops.findIndex((o) => o.op === 'close');
  if (first.possible || firstClose < 0 || inapplicable(cell, flags)) return first;
  const late = replay(cell, flags, observed, view, 'at-close');
  if (late.possible) return late;
  for (let i = firstClose + 1; i < cell.ops.length; i++) {
    const ackedBefore = replay(cell, flags, observed, view, i);
    if (ackedBefore.possible) return ackedBefore;
  }
  return first;
}

/** When the peers' delayed ACKs of closed connections arrive: never in the script, at each close, or just before op i. */
type AckTiming = 'never' | 'at-close' | number;

// One guided replay under one timing of the late ACKs.
function replay(cell: Cell, flags: ProfileFlags, observed: readonly OpResult[], view: View, ack: AckTiming): Possibility {
  const why = inapplicable(cell, flags);
  if (why) return { possible: false, index: 0, reason: `the oracle says not applicable (${why}), but the cell ran`, rule: '' };
  const env = cellEnv(cell, flags);
  env.lateAck = ack === 'at-close';
  const results: OpResult[] = [];
  const taken: Branch[] = [];
  const firstOp = new Map<number, number>();
  const n = Math.min(observed.length, cell.ops.length);
  for (let i = 0; i < n; i++) {
    if (ack === i) ackOrphans(env);
    const masked = view === 'application' && maskedByBind(cell, i, results);
    const branches: Branch[] = [];
    env.guide = masked ? choose : follow(env, i, observed[i], firstOp, branches);
    const p = step(env, cell.ops[i]);
    results.push(p.result);
    const bad = branches.find((b) => b.impossible !== undefined);
    if (bad?.impossible) return { possible: false, index: i, reason: bad.impossible, rule: p.rule };
    const mismatch = differs(observed[i], masked ? results[i - 1] : p.result);
    if (mismatch) return { possible: false, index: i, reason: mismatch, rule: p.rule };
    const o = observed[i];
    if (o.ok && o.port !== null && !firstOp.has(o.port)) firstOp.set(o.port, i);
    for (const b of branches) taken.push({ ...b, text: `${b.text} (rule ${p.rule.split(': ')[0]})` });
  }
  if (observed.length !== cell.ops.length) {
    return { possible: false, index: n, reason: `observed ${observed.length} results, predicted ${cell.ops.length}`, rule: '' };
  }
  const probability = taken.reduce((acc, b) => acc * b.prob, 1);
  if (probability >= UNLIKELY) return { possible: true, probability };
  const weakest = taken.reduce((a, b) => (b.prob < a.prob ? b : a));
  const detail = `${opName(cell.ops[weakest.index])}: ${weakest.text}, p=${showProb(weakest.prob)}`
    + (probability < weakest.prob * 0.999 ? `; whole observation p=${showProb(probability)}` : '');
  return { possible: true, probability, unlikely: { probability, op: weakest.index + 1, detail } };
}
