// app-guest: what an *application* sees of a cell through Node's own `net` API.
// A CommonJS module (.cts → .cjs): under TCG Node starts it ~0.05–0.1 s sooner than an ES module,
// and the VM starts one Node process per TS cell.
//
// Speaks the same line protocol as guest/c/kph-cells.c (see harness/src/core/wire.ts): one
// cell line in on stdin, one JSON report line out on stdout, in input order. This file is
// pushed into the guest alone, so it imports only node: builtins and copies the types it needs.
//
// Node cannot set socket options, but libuv sets SO_REUSEADDR whenever it binds, so the cells
// it can express have only uid-0 sockets without SO_REUSEPORT / IP_BIND_ADDRESS_NO_PORT, and
// per-socket scripts (each b<i> immediately followed by its c/l) of the forms
//   b<i> c<i>.<j>  → net.connect({ host, port, localAddress })   socket s=100:0 (bind port 0, connect)
//   b<i> l<i>      → server.listen({ host, port: 0 })            socket s=100:0 (bind port 0, listen)
//   c<i>.<j>       → net.connect({ host, port })                 socket s=000:0 (libuv binds nothing,
//                                                                 so it sets no SO_REUSEADDR either)
//   x<i>           → socket.destroy() / server.close()           (last op of its socket)
// Every other cell is answered "unsupported", with the reason.
//
// Each cell needs its own network namespace: the outer process re-executes this file per cell
// as `unshare -n node app-guest.cjs --in-netns '<cell line>'`; the inner process sets lo up (unless
// it is up), writes the sysctls, starts the destination listeners, runs the cell and prints the
// report. In the VM the harness skips the outer Node process (a second Node start under TCG):
// the C guest runs each cell as `kph-cells --exec 'node app-guest.cjs'`, which makes the
// namespace (or reuses one the cells before left with no socket, its sysctls put back), brings
// lo up and starts the inner process itself.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import readline from 'node:readline';

const PROTOCOL_VERSION = 1;
const DST_PORT_BASE = 10000;
const BACKLOG = 64;
const MAX_SOCKS = 8;
const MAX_OPS = 32;
const MAX_DSTS = 8;
const DEFAULT_TIMEOUT_S = 30;
const SYSCTL_RANGE = '/proc/sys/net/ipv4/ip_local_port_range';
const SYSCTL_REUSE = '/proc/sys/net/ipv4/ip_autobind_reuse';

// ---------------------------------------------------------------- types (copied from harness/src/core/cell.ts)

type OpResult = { ok: true; port: number | null } | { ok: false; errno: string };
type Report =
  | { id: string; status: 'done'; results: OpResult[] }
  | { id: string; status: 'unsupported'; reason: string }
  | { id: string; status: 'error'; reason: string };

type Op =
  | { op: 'bind'; sock: number }
  | { op: 'connect'; sock: number; dst: number }
  | { op: 'listen'; sock: number }
  | { op: 'close'; sock: number };

interface WireCell {
  id: string;
  fam: '4' | '6' | 'm';
  addrAny: boolean;
  range: [number, number];
  reuse: 'absent' | 0 | 1;
  dst: number;
  /** The s= values as written, e.g. "100:0". */
  sockets: string[];
  ops: Op[];
  /** Tokens of the wider case language this guest cannot run (the cell is answered unsupported). */
  wider?: string[];
}

/** One Node call: a bind+connect / bind+listen pair, a lone connect, or a close. */
type Step =
  | { kind: 'connect'; sock: number; dst: number; bind: boolean }
  | { kind: 'listen'; sock: number }
  | { kind: 'close'; sock: number };

// ---------------------------------------------------------------- parsing the cell line

class LineError extends Error {}

const num = (s: string, min: number, max: number): number | undefined =>
  /^[0-9]{1,10}$/.test(s) && Number(s) >= min && Number(s) <= max ? Number(s) : undefined;

function parseOp(v: string): Op | undefined {
  let m = /^([blx])([0-9]{1,4})$/.exec(v);
  if (m) {
    const sock = Number(m[2]);
    return m[1] === 'b' ? { op: 'bind', sock } : m[1] === 'l' ? { op: 'listen', sock } : { op: 'close', sock };
  }
  m = /^c([0-9]{1,4})\.([0-9]{1,4})$/.exec(v);
  return m ? { op: 'connect', sock: Number(m[1]), dst: Number(m[2]) } : undefined;
}

/** The id= value of a line, if any, so that even a malformed line's report names its cell. */
function findId(line: string): string {
  for (const t of line.trim().split(/[ \t]+/)) if (t.startsWith('id=') && t.length > 3) return t.slice(3);
  return '?';
}

/** Parses a cell line strictly; throws LineError naming the bad token. */
function parseCell(line: string): WireCell {
  const tokens = line.trim().split(/[ \t]+/);
  if (tokens[0] !== 'cell') throw new LineError(`bad token '${tokens[0] ?? ''}': a cell line starts with 'cell'`);
  const single = new Map<string, string>();
  const sockets: string[] = [];
  const ops: Array<{ op: Op; token: string }> = [];
  /** Tokens of the wider case language that Node's net API cannot express (answered unsupported). */
  const wider: string[] = [];
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq < 0) throw new LineError(`bad token '${t}': expected key=value`);
    const key = t.slice(0, eq);
    const v = t.slice(eq + 1);
    if (key === 'tw' || key === 'resv' || key === 'd' || (key === 'reuse' && ['keep', 'try-0', 'try-1'].includes(v))
      || (key === 's' && /^[01]{3}:[0-9]{1,10}:[46m-][la-][01-]$/.test(v)) || (key === 'op' && /^b[0-9]{1,4}[ps][0-9]{1,5}$/.test(v))) {
      wider.push(t);
      if (key !== 'reuse' && key !== 's') continue;
      if (key === 's') { sockets.push(v.slice(0, v.lastIndexOf(':'))); continue; }
    }
    if (key === 's') {
      if (sockets.length === MAX_SOCKS) throw new LineError(`bad token '${t}': at most ${MAX_SOCKS} sockets are supported`);
      if (!/^[01]{3}:[0-9]{1,10}$/.test(v) || num(v.slice(4), 0, 4294967294) === undefined) {
        throw new LineError(`bad token '${t}': socket must be s=<R><P><N>:<euid> with R, P, N each 0 or 1`);
      }
      sockets.push(v);
    } else if (key === 'op') {
      if (ops.length === MAX_OPS) throw new LineError(`bad token '${t}': at most ${MAX_OPS} ops are supported`);
      const op = parseOp(v);
      if (!op) throw new LineError(`bad token '${t}': op must be b<i>, c<i>.<j>, l<i> or x<i>`);
      ops.push({ op, token: t });
    } else if (['id', 'fam', 'addr', 'range', 'reuse', 'dst'].includes(key)) {
      if (single.has(key)) throw new LineError(`bad token '${t}': key given twice`);
      single.set(key, v);
    } else {
      throw new LineError(`bad token '${t}': unknown key '${key}'`);
    }
  }
  for (const key of ['id', 'fam', 'addr', 'range', 'reuse', 'dst']) {
    if (!single.has(key)) throw new LineError(`missing token '${key}=': required keys are id, fam, addr, range, reuse, dst`);
  }
  const get = (k: string): string => single.get(k) as string;
  const bad = (k: string, why: string): never => { throw new LineError(`bad token '${k}=${get(k)}': ${why}`); };

  const id = get('id');
  if (!id) bad('id', 'empty id');
  const fam = get('fam');
  if (fam !== '4' && fam !== '6' && fam !== 'm') bad('fam', 'fam must be 4, 6 or m');
  const addr = get('addr');
  if (addr !== 'lo' && addr !== 'any') bad('addr', 'addr must be lo or any');
  const rm = /^([0-9]+)-([0-9]+)$/.exec(get('range'));
  const lo = rm ? num(rm[1], 1, 65535) : undefined;
  const hi = rm ? num(rm[2], 1, 65535) : undefined;
  if (lo === undefined || hi === undefined || lo > hi) bad('range', 'range must be <lo>-<hi> with 1 <= lo <= hi <= 65535');
  const reuseText = get('reuse');
  if (!['absent', '0', '1', 'keep', 'try-0', 'try-1'].includes(reuseText)) bad('reuse', 'reuse must be absent, 0, 1, keep, try-0 or try-1');
  const dst = num(get('dst'), 0, 1_000_000);
  if (dst === undefined) bad('dst', 'dst must be a number');
  if ((dst as number) > MAX_DSTS) bad('dst', `at most ${MAX_DSTS} destinations are supported`);
  for (const { op, token } of ops) {
    if (op.sock >= sockets.length) throw new LineError(`bad token '${token}': socket ${op.sock} does not exist (${sockets.length} sockets)`);
    if (op.op === 'connect' && op.dst >= (dst as number)) {
      throw new LineError(`bad token '${token}': destination ${op.dst} does not exist (dst=${dst})`);
    }
  }
  return {
    id,
    fam: fam as WireCell['fam'],
    addrAny: addr === 'any',
    range: [lo as number, hi as number],
    reuse: reuseText === 'absent' ? 'absent' : reuseText === '1' ? 1 : 0,
    dst: dst as number,
    sockets,
    ops: ops.map((o) => o.op),
    ...(wider.length ? { wider } : {}),
  };
}

// ---------------------------------------------------------------- what Node can express

const opText = (op: Op): string =>
  op.op === 'connect' ? `c${op.sock}.${op.dst}` : `${op.op === 'bind' ? 'b' : op.op === 'listen' ? 'l' : 'x'}${op.sock}`;

/** Maps the cell to Node calls, or returns why Node's net API cannot express it. */
function planSteps(cell: WireCell): { steps: Step[] } | { unsupported: string } {
  if (cell.wider) return { unsupported: `${cell.wider.join(' ')}: Node's net API cannot express this part of the case language (sysctl modes, explicit ports, per-socket family/address/IPV6_V6ONLY, destination options)` };
  const cannot = (i: number, what: string): { unsupported: string } =>
    ({ unsupported: `socket ${i} is s=${cell.sockets[i]}: Node's net API cannot ${what}` });
  for (const [i, s] of cell.sockets.entries()) {
    const why: string[] = [];
    if (s[1] === '1') why.push('set SO_REUSEPORT');
    if (s[2] === '1') why.push('set IP_BIND_ADDRESS_NO_PORT');
    if (s.slice(4) !== '0') why.push('create a socket under another euid');
    if (why.length) return cannot(i, why.join(', '));
  }
  const state = cell.sockets.map((): 'fresh' | 'bound' | 'connected' | 'closed' => 'fresh');
  const steps: Step[] = [];
  for (let k = 0; k < cell.ops.length; k++) {
    const op = cell.ops[k];
    const at = `op ${k} (${opText(op)})`;
    const before = state[op.sock];
    if (before === 'closed') return { unsupported: `${at} uses socket ${op.sock} after its close: Node has no handle left to call` };
    if (op.op === 'close') {
      state[op.sock] = 'closed';
      steps.push({ kind: 'close', sock: op.sock });
      continue;
    }
    if (before !== 'fresh') {
      return { unsupported: `${at}: Node's net API cannot run another operation on socket ${op.sock} after its connect or listen` };
    }
    if (op.op === 'listen') {
      return { unsupported: `${at} listens without a bind just before it: Node's server.listen() always binds first` };
    }
    if (op.op === 'connect') {
      state[op.sock] = 'connected';
      steps.push({ kind: 'connect', sock: op.sock, dst: op.dst, bind: false });
      continue;
    }
    const next = cell.ops[k + 1];
    if (next?.op === 'connect' && next.sock === op.sock) {
      steps.push({ kind: 'connect', sock: op.sock, dst: next.dst, bind: true });
    } else if (next?.op === 'listen' && next.sock === op.sock) {
      steps.push({ kind: 'listen', sock: op.sock });
    } else {
      return {
        unsupported: `${at} is not immediately followed by c${op.sock}.<j> or l${op.sock}: Node binds only inside net.connect({ localAddress }) or server.listen()`,
      };
    }
    state[op.sock] = 'bound';
    k++;
  }
  // SO_REUSEADDR: libuv sets it exactly when it binds (net.connect with localAddress, listen),
  // never on a net.connect() without localAddress (checked with strace on Node 20).
  for (const [i, s] of cell.sockets.entries()) {
    if (state[i] === 'bound' && s[0] !== '1') return cannot(i, 'clear SO_REUSEADDR (libuv always sets it before bind)');
    if (state[i] === 'connected' && s[0] !== '0') {
      return cannot(i, 'set SO_REUSEADDR on a socket it does not bind (net.connect() without localAddress leaves it unset: that socket is s=000:0)');
    }
  }
  return { steps };
}

// ---------------------------------------------------------------- inside the cell's namespace

const loopback = (fam: WireCell['fam']): string => (fam === '4' ? '127.0.0.1' : fam === '6' ? '::1' : '::ffff:127.0.0.1');
const wildcard = (fam: WireCell['fam']): string => (fam === '4' ? '0.0.0.0' : '::');

function errnoOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? e.code : `EUNKNOWN(${e?.message ?? String(err)})`;
}

/** Whether lo is up already (kph-cells --exec brings it up before starting this process): it then has 127.0.0.1. */
function loopbackIsUp(): boolean {
  return (os.networkInterfaces().lo ?? []).some((a) => a.address === '127.0.0.1');
}

function setLoopbackUp(): void {
  if (loopbackIsUp()) return;
  const attempts: Array<[string, string[]]> = [['ip', ['link', 'set', 'lo', 'up']], ['ifconfig', ['lo', 'up']]];
  const failures: string[] = [];
  for (const [cmd, args] of attempts) {
    try {
      execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      return;
    } catch (e) {
      failures.push(`${cmd} ${args.join(' ')}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`bringing lo up failed (${failures.join('; ')})`);
}

function listenOn(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closed(handle: net.Socket | net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (handle instanceof net.Socket) {
      if (handle.destroyed && handle.closed) return resolve();
      handle.once('close', () => resolve());
      handle.destroy();
    } else {
      if (!handle.listening) return resolve();
      handle.close(() => resolve());
    }
  });
}

/** Runs the steps; returns one result per op of the cell, in order. */
async function runSteps(cell: WireCell, steps: Step[]): Promise<OpResult[]> {
  const results: OpResult[] = [];
  const handles = new Map<number, net.Socket | net.Server>();
  const bindHost = cell.addrAny ? wildcard(cell.fam) : loopback(cell.fam);
  for (const step of steps) {
    if (step.kind === 'close') {
      const h = handles.get(step.sock);
      if (h) await closed(h);
      results.push({ ok: true, port: null });
    } else if (step.kind === 'connect') {
      const sock = net.connect({
        host: loopback(cell.fam),
        port: DST_PORT_BASE + step.dst,
        ...(step.bind ? { localAddress: bindHost } : {}),
      });
      handles.set(step.sock, sock);
      const outcome = await new Promise<{ port: number } | { err: NodeJS.ErrnoException }>((resolve) => {
        sock.once('connect', () => resolve({ port: sock.localPort ?? -1 }));
        sock.once('error', (err) => resolve({ err }));
      });
      if ('port' in outcome) {
        const port = outcome.port >= 0 ? outcome.port : null;
        if (step.bind) results.push({ ok: true, port });
        results.push({ ok: true, port });
      } else if (!step.bind) {
        results.push({ ok: false, errno: errnoOf(outcome.err) });
      } else {
        // libuv defers bind()'s EADDRINUSE to the next call, so it arrives as syscall 'connect'
        // (a TCP connect() never fails with EADDRINUSE on Linux): it is the bind that failed.
        // When the bind failed the application's one net.connect() call failed with the same code.
        const errno = errnoOf(outcome.err);
        const bindFailed = outcome.err.syscall === 'bind' || errno === 'EADDRINUSE';
        results.push(bindFailed ? { ok: false, errno } : { ok: true, port: null });
        results.push({ ok: false, errno });
      }
    } else {
      const server = net.createServer((s) => s.on('error', () => {}));
      handles.set(step.sock, server);
      try {
        await listenOn(server, { host: bindHost, port: 0, backlog: BACKLOG });
        const a = server.address();
        const port = a && typeof a === 'object' ? a.port : null;
        results.push({ ok: true, port }, { ok: true, port });
      } catch (e) {
        // Node reports bind and listen failures alike as syscall 'listen'; libuv defers bind()'s
        // EADDRINUSE to listen(). In a cell Node can express, bind+listen happen back to back,
        // so an EADDRINUSE here is the bind's (nothing can start listening in between).
        const err = e as NodeJS.ErrnoException;
        const errno = errnoOf(err);
        const bindFailed = err.syscall === 'bind' || errno === 'EADDRINUSE';
        results.push(bindFailed ? { ok: false, errno } : { ok: true, port: null }, { ok: false, errno });
      }
    }
  }
  return results;
}

/** The inner process: already in a network namespace as fresh (no socket, sysctls at their start values); returns the cell's report. */
async function runCellHere(line: string): Promise<Report> {
  let cell: WireCell;
  try {
    cell = parseCell(line);
  } catch (e) {
    return { id: findId(line), status: 'error', reason: (e as Error).message };
  }
  const { id } = cell;
  const plan = planSteps(cell);
  if ('unsupported' in plan) return { id, status: 'unsupported', reason: plan.unsupported };
  try {
    setLoopbackUp();
  } catch (e) {
    return { id, status: 'error', reason: (e as Error).message };
  }
  if (!fs.existsSync(SYSCTL_RANGE)) return { id, status: 'error', reason: `${SYSCTL_RANGE} is missing (is /proc mounted?)` };
  const hasReuse = fs.existsSync(SYSCTL_REUSE);
  if (cell.reuse === 'absent' && hasReuse) {
    return { id, status: 'unsupported', reason: 'reuse=absent needs a kernel without net.ipv4.ip_autobind_reuse, but this kernel has it' };
  }
  if (cell.reuse !== 'absent' && !hasReuse) {
    return { id, status: 'unsupported', reason: `reuse=${cell.reuse} needs net.ipv4.ip_autobind_reuse, which this kernel does not have` };
  }
  try {
    fs.writeFileSync(SYSCTL_RANGE, `${cell.range[0]} ${cell.range[1]}\n`);
  } catch (e) {
    return { id, status: 'error', reason: `writing '${cell.range[0]} ${cell.range[1]}' to ${SYSCTL_RANGE} failed: ${errnoOf(e)}` };
  }
  if (cell.reuse !== 'absent') {
    try {
      fs.writeFileSync(SYSCTL_REUSE, `${cell.reuse}\n`);
    } catch (e) {
      return { id, status: 'error', reason: `writing ${cell.reuse} to ${SYSCTL_REUSE} failed: ${errnoOf(e)}` };
    }
  }
  const dstHost = cell.fam === '6' ? '::1' : '127.0.0.1';
  for (let j = 0; j < cell.dst; j++) {
    const server = net.createServer((s) => s.on('error', () => {}));
    try {
      await listenOn(server, { host: dstHost, port: DST_PORT_BASE + j, backlog: BACKLOG });
    } catch (e) {
      if (errnoOf(e) === 'EAFNOSUPPORT') return { id, status: 'unsupported', reason: 'this kernel has no IPv6 (EAFNOSUPPORT)' };
      return { id, status: 'error', reason: `destination ${j}: listen on ${dstHost}:${DST_PORT_BASE + j} failed: ${errnoOf(e)}` };
    }
  }
  return { id, status: 'done', results: await runSteps(cell, plan.steps) };
}

// ---------------------------------------------------------------- the outer process

interface Options {
  timeoutS: number;
  unshare: string;
}

/** Runs one cell line in a fresh network namespace through a re-executed copy of this file. */
function runCellInNetns(line: string, id: string, opts: Options): Promise<Report> {
  const script = __filename;
  return new Promise((resolve) => {
    const child = spawn(opts.unshare, ['-n', process.execPath, script, '--in-netns', line], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, killed whole on timeout
    });
    let out = '';
    let errTail = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, opts.timeoutS * 1000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { if (out.length < 1_000_000) out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      process.stderr.write(d);
      errTail = (errTail + d).slice(-400);
    });
    const fail = (reason: string): void => resolve({ id, status: 'error', reason });
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(`cannot run ${opts.unshare} -n (${errnoOf(e)}); the guest needs an unshare command (busybox or util-linux)`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const report = out.split('\n').map(parseReport).find((r) => r?.id === id);
      const tail = errTail.trim() ? `; stderr: ${errTail.trim().split('\n').slice(-3).join(' | ')}` : '';
      if (report) resolve(report);
      else if (timedOut) fail(`timeout: the cell ran longer than ${opts.timeoutS}s and was killed`);
      else if (signal) fail(`the cell's process was killed by ${signal} before reporting${tail}`);
      else fail(`the cell's process exited with status ${code} without a report${tail}`);
    });
  });
}

function parseReport(line: string): Report | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as Report;
    return typeof v.id === 'string' && ['done', 'unsupported', 'error'].includes(v.status) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Answers one input line: parse and plan here, run in a namespace only when Node can express it. */
async function answer(line: string, opts: Options): Promise<Report> {
  let cell: WireCell;
  try {
    cell = parseCell(line);
  } catch (e) {
    return { id: findId(line), status: 'error', reason: (e as Error).message };
  }
  const plan = planSteps(cell);
  if ('unsupported' in plan) return { id: cell.id, status: 'unsupported', reason: plan.unsupported };
  return runCellInNetns(line, cell.id, opts);
}

const USAGE = `usage: node app-guest.cjs [--timeout SECONDS] [--unshare PATH] [--version]
Reads cell lines on stdin, writes one JSON report line per cell on stdout.
  --timeout S     per-cell deadline in seconds (default ${DEFAULT_TIMEOUT_S})
  --unshare PATH  unshare command used to enter a fresh network namespace (default: unshare on PATH)
  --version       print the protocol version and exit`;

function parseArgs(argv: string[]): Options | string {
  const opts: Options = { timeoutS: DEFAULT_TIMEOUT_S, unshare: process.env.KPH_UNSHARE || 'unshare' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--timeout') {
      const v = value();
      const t = Number(v);
      if (!(t > 0 && t <= 86400)) throw new Error(`--timeout wants seconds in (0, 86400], got '${v}'`);
      opts.timeoutS = t;
    } else if (a === '--unshare') {
      opts.unshare = value();
    } else if (a === '--version') {
      return `app-guest protocol ${PROTOCOL_VERSION}`;
    } else if (a === '--help' || a === '-h') {
      return USAGE;
    } else {
      throw new Error(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  return opts;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--in-netns') {
    const report = await runCellHere(argv[1] ?? '');
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
    return;
  }
  let opts: Options | string;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`app-guest: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (typeof opts === 'string') {
    process.stdout.write(`${opts}\n`);
    return;
  }
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const raw of rl) {
    const line = raw.trim();
    if (!line) continue; // blank lines are not cells
    const report = await answer(line, opts);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`app-guest: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 70;
});
