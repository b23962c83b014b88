// The two guests, run on the host against the host kernel (which has net.ipv4.ip_autobind_reuse,
// so it behaves like the "after" kernel). Every cell runs in a network namespace the harness
// made (fresh, or pooled: left clean by the cells before), which needs root: those tests are declared with needs(root(…)), skipped locally without it and
// failing under CI=true.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildCGuest } from '../../harness/src/guests/c-guest.js';
import { tsGuestPath, TS_GUEST_REMOTE_NAME } from '../../harness/src/guests/ts-guest.js';
import { EXHAUSTED_RANGE, ROOMY_RANGE, type Cell, type GuestCellReport, type OpResult, type SocketSpec } from '../../harness/src/core/cell.js';
import { encodeCell, parseGuestLine, parseReportLine } from '../../harness/src/core/wire.js';
import { needs, root } from '../helpers/needs.js';

const hostKernelHasReuse = fs.existsSync('/proc/sys/net/ipv4/ip_autobind_reuse');
/** Tests that enter network namespaces on the host. */
const rootTest = needs(root('each cell runs in a network namespace kph-cells makes')).test;

// Each test file runs in its own worker: point the cache at a private folder for this run.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-guests-test-'));
process.env.KPH_CACHE_DIR = path.join(tmp, 'cache');
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

let cGuest: Promise<{ path: string; cached: boolean }> | undefined;
const cGuestPath = async (): Promise<string> => (await (cGuest ??= buildCGuest({ logDir: path.join(tmp, 'logs') }))).path;

/** "RPN:euid" → SocketSpec, e.g. "100:0". */
function sock(spec: string): SocketSpec {
  const [bits, euid] = spec.split(':');
  return { reuseaddr: bits[0] === '1', reuseport: bits[1] === '1', bindAddressNoPort: bits[2] === '1', euid: Number(euid) };
}

function cell(over: Partial<Cell> & Pick<Cell, 'id'>): Cell {
  return {
    case: 'guests-test', autobindReuse: 0, portRange: EXHAUSTED_RANGE, family: 'inet', addr: 'loopback',
    sockets: [], ops: [], destinations: 0, ...over,
  };
}

/** The commit message's reproduction: one-port range, two SO_REUSEADDR sockets, both bind(localhost, 0). */
const commitRepro = (reuse: 0 | 1): Cell => cell({
  id: `repro-reuse${reuse}`, autobindReuse: reuse, sockets: [sock('100:0'), sock('100:0')],
  ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }],
});

/** The app cell: two clients bind(0)+connect to different destinations through a one-port range. */
const appCell = (reuse: 0 | 1): Cell => cell({
  id: `app-reuse${reuse}`, autobindReuse: reuse, destinations: 2, sockets: [sock('100:0'), sock('100:0')],
  ops: [{ op: 'bind', sock: 0 }, { op: 'connect', sock: 0, dst: 0 }, { op: 'bind', sock: 1 }, { op: 'connect', sock: 1, dst: 1 }],
});

interface GuestRun { reports: GuestCellReport[]; stdout: string; stderr: string; code: number | null }

/** Runs a guest with the given input lines; every non-empty stdout line must be a report. */
function runGuest(cmd: string, args: string[], lines: string[], env: NodeJS.ProcessEnv = {}): Promise<GuestRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const out = stdout.split('\n').filter((l) => l.trim());
      const reports = out.map(parseReportLine);
      const bad = out.find((_, i) => !reports[i]);
      if (bad !== undefined) reject(new Error(`guest printed a non-report line on stdout: ${bad}\nstderr: ${stderr}`));
      else resolve({ reports: reports as GuestCellReport[], stdout, stderr, code });
    });
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

const runC = async (lines: string[], args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<GuestRun> =>
  runGuest(await cGuestPath(), args, lines, env);
const runTs = (lines: string[], args: string[] = [], script = tsGuestPath()): Promise<GuestRun> =>
  runGuest(process.execPath, [script, ...args], lines);

/** The one report of a one-cell run, checked to be "done" for that cell; returns its results. */
function doneResults(run: GuestRun, id: string): OpResult[] {
  if (run.reports.length !== 1) throw new Error(`expected 1 report, got ${run.reports.length}: ${run.stdout} ${run.stderr}`);
  const r = run.reports[0];
  if (r.id !== id || r.status !== 'done') throw new Error(`expected a done report for ${id}, got ${JSON.stringify(r)}`);
  return r.results;
}

// ---------------------------------------------------------------- C guest

test('C guest: builds once, then comes from the cache', async (t) => {
  const first = await cGuestPath();
  const again = await buildCGuest({ logDir: path.join(tmp, 'logs') });
  t.is(again.path, first);
  t.true(again.cached);
  t.true(fs.statSync(first).isFile());
});

test('C guest: --version prints the protocol version', async (t) => {
  const { stdout } = await promisify(execFile)(await cGuestPath(), ['--version']);
  t.is(stdout, 'kph-cells protocol 1\n');
});

rootTest('C guest: commit reproduction, reuse=0: the second bind fails with EADDRINUSE', async (t) => {
  const c = commitRepro(0);
  t.deepEqual(doneResults(await runC([encodeCell(c)]), c.id), [{ ok: true, port: 32768 }, { ok: false, errno: 'EADDRINUSE', port: 0 }]);
});

rootTest('C guest: commit reproduction, reuse=1: both binds share port 32768', async (t) => {
  const c = commitRepro(1);
  t.deepEqual(doneResults(await runC([encodeCell(c)]), c.id), [{ ok: true, port: 32768 }, { ok: true, port: 32768 }]);
});

rootTest('C guest: IP_BIND_ADDRESS_NO_PORT binds report port 0, the connects then share 32768', async (t) => {
  const c = cell({
    id: 'noport', destinations: 2, sockets: [sock('101:0'), sock('101:0')],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }, { op: 'connect', sock: 0, dst: 0 }, { op: 'connect', sock: 1, dst: 1 }],
  });
  t.deepEqual(doneResults(await runC([encodeCell(c)]), c.id), [
    { ok: true, port: 0 }, { ok: true, port: 0 }, { ok: true, port: 32768 }, { ok: true, port: 32768 },
  ]);
});

rootTest('C guest: connect to a destination succeeds and reports the local port (IPv4, IPv6, v4-mapped)', async (t) => {
  for (const family of ['inet', 'inet6', 'v4mapped'] as const) {
    const c = cell({
      id: `connect-${family}`, family, portRange: ROOMY_RANGE, destinations: 2, sockets: [sock('000:0'), sock('100:0')],
      ops: [{ op: 'connect', sock: 0, dst: 1 }, { op: 'bind', sock: 1 }, { op: 'connect', sock: 1, dst: 0 }, { op: 'close', sock: 1 }],
    });
    const [lone, bind, conn, close] = doneResults(await runC([encodeCell(c)]), c.id);
    for (const r of [lone, bind, conn]) {
      t.true(r.ok && r.port !== null && r.port >= ROOMY_RANGE[0] && r.port <= ROOMY_RANGE[1], `${family}: ${JSON.stringify(r)}`);
    }
    t.deepEqual(conn, bind, `${family}: connect keeps the bound port`);
    t.deepEqual(close, { ok: true, port: null });
  }
});

rootTest('C guest: several cells in one stream answer in order, one line each', async (t) => {
  const cells = [commitRepro(0), commitRepro(1), cell({ id: 'empty', autobindReuse: 1 })];
  const run = await runC(cells.map(encodeCell));
  t.deepEqual(run.reports.map((r) => [r.id, r.status]), [['repro-reuse0', 'done'], ['repro-reuse1', 'done'], ['empty', 'done']]);
  t.is(run.code, 0);
});

rootTest('C guest: a cell the kernel cannot run answers unsupported', async (t) => {
  // The host kernel has the sysctl, so reuse=absent cannot be honoured (and vice versa without it).
  const c = cell({ id: 'unsup', autobindReuse: hostKernelHasReuse ? 'absent' : 1, sockets: [sock('100:0')], ops: [{ op: 'bind', sock: 0 }] });
  const [r] = (await runC([encodeCell(c)])).reports;
  t.like(r, { id: 'unsup', status: 'unsupported' });
  t.regex((r as { reason: string }).reason, /ip_autobind_reuse/);
});

rootTest('C guest: sockets carry their euid (SO_REUSEADDR+SO_REUSEPORT share only across uids)', async (t) => {
  const c = cell({
    id: 'euid', autobindReuse: 1, sockets: [sock('110:1000'), sock('110:1000'), sock('110:1001')],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }, { op: 'bind', sock: 2 }],
  });
  // The relaxed scan lets a SO_REUSEADDR+SO_REUSEPORT socket share only with other uids (the
  // follow-up commit, in the host kernel): if the euids were lost, socket 2 would fail like socket 1.
  t.deepEqual(doneResults(await runC([encodeCell(c)]), c.id), [
    { ok: true, port: 32768 }, { ok: false, errno: 'EADDRINUSE', port: 0 }, { ok: true, port: 32768 },
  ]);
});

rootTest('C guest: the wider case language (own family, address and IPV6_V6ONLY, explicit ports, destinations, tw=, resv=, reuse=keep)', async (t) => {
  // s0 0.0.0.0 takes the only port the reserved list leaves; s1 (::, IPV6_V6ONLY) binds s0's port; s0 connects to a
  // 127.0.0.1 listener on 20000 (SO_REUSEADDR) and keeps its port; a second bind is EINVAL and still shows it.
  const line = 'cell id=wide fam=4 addr=lo range=32768-32769 reuse=keep dst=1 tw=0 resv=32769-32769 d=41:20000 s=000:0:4a- s=000:0:6a1 op=b0 op=b1s0 op=c0.0 op=b0p40000';
  t.deepEqual(doneResults(await runC([line]), 'wide'), [
    { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: false, errno: 'EINVAL', port: 32768 },
  ]);
  const bad = await runC(['cell id=bad fam=4 addr=lo range=32768-32768 reuse=0 dst=1 d=47:20000 s=000:0 op=c0.0', 'cell id=bad2 fam=4 addr=lo range=32768-32768 reuse=0 dst=0 s=000:0:4a1 op=b0']);
  const reasons = bad.reports.map((r) => (r.status === 'error' ? r.reason : JSON.stringify(r)));
  t.regex(reasons[0], /'d=47:20000'.*d=<F><R>:<port>/);
  t.regex(reasons[1], /IPV6_V6ONLY on an AF_INET socket/);
});

rootTest('C guest: cells share one namespace while it stays clean, and find there what a fresh one has (reserved ports, ip_autobind_reuse)', async (t) => {
  // The first cell reserves 32768 and sets reuse=1 (the host has the sysctl) or keeps it; the
  // second sets neither. Had either stayed, its first bind would fail or its second succeed.
  const reuse = hostKernelHasReuse ? '1' : 'absent';
  const keep = hostKernelHasReuse ? 'keep' : 'absent';
  const lines = [
    `cell id=sets fam=4 addr=lo range=32768-32769 reuse=${reuse} dst=0 tw=0 resv=32768-32768 s=100:0 op=b0`,
    `cell id=leaves fam=4 addr=lo range=32768-32768 reuse=${keep} dst=0 s=100:0 s=100:0 op=b0 op=b1`,
  ];
  const expected = [[{ ok: true, port: 32769 }], [{ ok: true, port: 32768 }, { ok: false, errno: 'EADDRINUSE', port: 0 }]];
  const pooled = await runC(lines, ['--profile']);
  t.deepEqual(pooled.reports.map((r) => (r.status === 'done' ? r.results : r)), expected);
  t.regex(pooled.stderr, /netns: 1 created, 2 cells left the pooled one clean/);
  const fresh = await runC(lines, ['--profile', '--fresh-netns']);
  t.deepEqual(fresh.reports.map((r) => (r.status === 'done' ? r.results : r)), expected);
  t.regex(fresh.stderr, /netns: 2 created, 0 cells left/);
  // The same for a whole run: the word the harness's --append puts on every VM's command line.
  const cmdline = path.join(tmp, 'cmdline-fresh');
  fs.writeFileSync(cmdline, 'console=ttyS0 kph.fresh_netns=1 quiet\n');
  const word = await runC(lines, ['--profile'], { KPH_CELLS_CMDLINE: cmdline });
  t.deepEqual(word.reports.map((r) => (r.status === 'done' ? r.results : r)), expected);
  t.regex(word.stderr, /netns: 2 created, 0 cells left/);
});

rootTest('C guest: kph.cells_hold=ID holds that cell 2 s (the window an emulator fault timed on it strikes in), and no other', async (t) => {
  const cmdline = path.join(tmp, 'cmdline-hold');
  fs.writeFileSync(cmdline, 'kph.cells_mark=1 kph.cells_hold=repro-reuse1\n');
  const run = await runC([encodeCell(commitRepro(0)), encodeCell(commitRepro(1))], [], { KPH_CELLS_CMDLINE: cmdline, KPH_CELLS_KMSG: path.join(tmp, 'kmsg-hold') });
  const us = run.stdout.split('\n').filter(Boolean).map((l) => parseGuestLine(l)?.us ?? -1);
  t.deepEqual(run.reports.map((r) => [r.id, r.status]), [['repro-reuse0', 'done'], ['repro-reuse1', 'done']]);
  t.true(us[0] >= 0 && us[0] < 1_000_000, `${us[0]} us`);
  t.true(us[1] >= 2_000_000, `${us[1]} us`);
});

test('C guest: malformed lines answer error naming the bad token', async (t) => {
  const run = await runC([
    'cell id=bad1 fam=5 addr=lo range=32768-32768 reuse=0 dst=0',
    'cell fam=4 addr=lo oops',
    'cell id=bad3 fam=4 addr=lo range=32768-32768 reuse=0 dst=1 s=100:0 op=c0.3',
    `cell id=bad4 fam=4 addr=lo range=32768-32768 reuse=0 dst=0 ${'s=100:0 '.repeat(9)}`,
    'hello',
  ]);
  t.is(run.reports.length, 5);
  const reasons = run.reports.map((r) => (r.status === 'error' ? `${r.id}: ${r.reason}` : `not an error: ${JSON.stringify(r)}`));
  t.regex(reasons[0], /^bad1: .*'fam=5'/);
  t.regex(reasons[1], /^\?: .*'oops'/);
  t.regex(reasons[2], /^bad3: .*'op=c0\.3'.*destination 3/);
  t.regex(reasons[3], /^bad4: .*at most 8 sockets/);
  t.regex(reasons[4], /^\?: .*'hello'/);
});

test('C guest: a stuck child is killed at the deadline, a crash and a silent exit are reported', async (t) => {
  const line = encodeCell(commitRepro(1));
  const hang = await runC([line], ['--timeout', '0.5'], { KPH_FAULT: 'hang' });
  t.like(hang.reports[0], { id: 'repro-reuse1', status: 'error' });
  t.regex(JSON.stringify(hang.reports[0]), /timeout/);
  const crash = await runC([line], [], { KPH_FAULT: 'crash' });
  t.regex(JSON.stringify(crash.reports[0]), /"status":"error".*signal 11 \(SIGSEGV\)/);
  const silent = await runC([line], [], { KPH_FAULT: 'silent' });
  t.regex(JSON.stringify(silent.reports[0]), /"status":"error".*exited with status 3 without a report/);
});

// ---------------------------------------------------------------- TS guest

rootTest('TS guest: app cell, reuse=0: the second bind(0)+connect fails with EADDRINUSE at bind', async (t) => {
  const c = appCell(0);
  t.deepEqual(doneResults(await runTs([encodeCell(c)]), c.id), [
    { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: false, errno: 'EADDRINUSE' }, { ok: false, errno: 'EADDRINUSE' },
  ]);
});

rootTest('TS guest: app cell, reuse=1: both connect from the same local port (run as the VM runs it, .cjs alone)', async (t) => {
  const alone = path.join(fs.mkdtempSync(path.join(tmp, 'ts-')), TS_GUEST_REMOTE_NAME);
  fs.copyFileSync(tsGuestPath(), alone);
  const c = appCell(1);
  t.deepEqual(doneResults(await runTs([encodeCell(c)], [], alone), c.id), [
    { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: true, port: 32768 },
  ]);
});

rootTest('TS guest under the C guest (kph-cells --exec, how the VM runs it): each cell in a namespace as fresh, its report relayed, failures reported by the C guest', async (t) => {
  const alone = path.join(fs.mkdtempSync(path.join(tmp, 'ts-exec-')), TS_GUEST_REMOTE_NAME);
  fs.copyFileSync(tsGuestPath(), alone);
  const exec = ['--exec', `${process.execPath} ${alone}`];
  const c = appCell(1);
  const unsupported = cell({ id: 'ts-reuseport', sockets: [sock('110:0')], ops: [{ op: 'bind', sock: 0 }, { op: 'listen', sock: 0 }] });
  // Two cells in a row: the second finds port 32768 free again, so nothing of the first is left.
  const run = await runC([encodeCell(c), encodeCell(c), encodeCell(unsupported)], exec);
  t.deepEqual(run.reports.map((r) => [r.id, r.status]), [[c.id, 'done'], [c.id, 'done'], ['ts-reuseport', 'unsupported']]);
  for (const r of run.reports.slice(0, 2)) {
    t.deepEqual(r.status === 'done' ? r.results : r, [{ ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: true, port: 32768 }]);
  }
  const missing = await runC([encodeCell(c)], ['--exec', path.join(tmp, 'no-such-program')]);
  t.regex(JSON.stringify(missing.reports[0]), /"status":"error".*cannot run .*no-such-program: ENOENT/);
  const hang = await runC([encodeCell(c)], ['--timeout', '1', ...exec], { KPH_FAULT: 'hang' });
  t.regex(JSON.stringify(hang.reports[0]), /"status":"error".*timeout/);
  const quiet = await runC([encodeCell(c)], ['--exec', '/bin/true']);
  t.regex(JSON.stringify(quiet.reports[0]), /"status":"error".*exited with status 0 without a report/);
});

rootTest('kph-cells --exec: the program finds the pooled namespace as a fresh one; after a cell that leaves a socket behind, the next gets a new namespace', async (t) => {
  // The program reports what its namespace is and has; "sets" changes the four sysctls a cell
  // may write, "dirty" also leaves a TIME_WAIT behind.
  const prog = path.join(tmp, 'ns-report.cjs');
  fs.writeFileSync(prog, `
const fs = require('fs'), net = require('net');
const sys = (n) => '/proc/sys/net/ipv4/' + n;
const names = ['ip_local_port_range', 'ip_local_reserved_ports', 'tcp_tw_reuse', 'ip_autobind_reuse'].filter((n) => fs.existsSync(sys(n)));
const id = /id=(\\S+)/.exec(process.argv[process.argv.indexOf('--in-netns') + 1])[1];
const state = () => names.map((n) => n + '=' + fs.readFileSync(sys(n), 'utf8').trim().replace(/\\s+/g, '-')).join(' ');
// A namespace's mark: ip_default_ttl, which no cell writes. 64 (the default): a namespace no
// cell saw, which this one marks; else the mark an earlier cell left.
const ttl = '/proc/sys/net/ipv4/ip_default_ttl';
const mark = fs.readFileSync(ttl, 'utf8').trim();
const ns = mark === '64' ? 'new:' + (65 + (process.pid % 190)) : 'seen:' + mark;
if (mark === '64') fs.writeFileSync(ttl, ns.slice(4));
const report = () => console.log(JSON.stringify({ id, status: 'unsupported', reason: ns + ' ' + state() }));
if (id !== 'sets' && id !== 'dirty') report();
else {
  for (const [n, v] of [['ip_local_port_range', '40000 40009'], ['ip_local_reserved_ports', '40000'], ['tcp_tw_reuse', '0'], ['ip_autobind_reuse', '1']]) {
    if (names.includes(n)) fs.writeFileSync(sys(n), v);
  }
  if (id === 'sets') report();
  else {
    // The server closes first, so its side of the connection stays in TIME_WAIT.
    const server = net.createServer((s) => s.end()).listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1');
      c.resume();
      c.on('close', () => server.close(() => setTimeout(report, 50)));
    });
  }
}
`);
  const lines = ['first', 'sets', 'after-sets', 'dirty', 'after-dirty', 'again'].map((id) => `cell id=${id}`);
  const exec = ['--exec', `${process.execPath} ${prog}`];
  const seen = async (extra: string[]): Promise<Array<{ ns: string; state: string }>> => {
    const run = await runC(lines, [...exec, ...extra]);
    t.deepEqual(run.reports.map((r) => [r.id, r.status]), lines.map((l) => [l.slice(8), 'unsupported']), run.stderr);
    return run.reports.map((r) => {
      const [ns, ...state] = (r.status === 'unsupported' ? r.reason : '').split(' ');
      return { ns, state: state.join(' ') };
    });
  };
  const [first, sets, afterSets, dirty, afterDirty, again] = await seen([]);
  const m = first.ns.slice(4);
  t.regex(first.ns, /^new:\d+$/);
  t.regex(first.state, /ip_local_port_range=\d+-\d+ ip_local_reserved_ports= tcp_tw_reuse=\d/);
  t.deepEqual([sets.ns, afterSets.ns, dirty.ns], [`seen:${m}`, `seen:${m}`, `seen:${m}`], 'clean cells share the namespace');
  t.not(sets.state, first.state, 'the program did change the sysctls');
  t.is(afterSets.state, first.state, 'a cell after one that wrote sysctls finds the fresh values');
  t.regex(afterDirty.ns, /^new:/, 'a TIME_WAIT left behind: the next cell gets a new namespace');
  t.is(afterDirty.state, first.state);
  t.is(again.ns, `seen:${afterDirty.ns.slice(4)}`, 'and the new one is pooled in turn');
  const fresh = await seen(['--fresh-netns']);
  t.deepEqual(fresh.map((x) => x.ns.slice(0, 4)), lines.map(() => 'new:'), '--fresh-netns: a namespace per cell');
});

test('TS guest: cells Node cannot express answer unsupported with the reason', async (t) => {
  const cells = [
    cell({ id: 'ts-reuseport', sockets: [sock('110:0')], ops: [{ op: 'bind', sock: 0 }, { op: 'listen', sock: 0 }] }),
    commitRepro(1), // bind without connect/listen right after it
    cell({ id: 'ts-lone-reuseaddr', destinations: 1, sockets: [sock('100:0')], ops: [{ op: 'connect', sock: 0, dst: 0 }] }),
  ];
  // The wider case language (issue 10): explicit ports, own family, tw=/resv=, keep (the loader refuses ts for these cases).
  const wider = 'cell id=ts-wider fam=4 addr=lo range=32768-32768 reuse=keep dst=1 tw=0 resv=none d=40:20000 s=100:0:6a1 op=b0p40000 op=c0.0';
  const run = await runTs([...cells.map(encodeCell), wider]);
  t.deepEqual(run.reports.map((r) => [r.id, r.status]), [...cells.map((c) => [c.id, 'unsupported']), ['ts-wider', 'unsupported']]);
  const reasons = run.reports.map((r) => (r.status === 'unsupported' ? r.reason : ''));
  t.regex(reasons[0], /SO_REUSEPORT/);
  t.regex(reasons[1], /not immediately followed/);
  t.regex(reasons[2], /s=000:0/);
  t.regex(reasons[3], /^reuse=keep tw=0 resv=none d=40:20000 s=100:0:6a1 op=b0p40000: Node's net API cannot express/);
});

test('TS guest: a stuck cell is killed at the deadline; a malformed line names its token', async (t) => {
  const fake = path.join(tmp, 'fake-unshare');
  fs.writeFileSync(fake, '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 });
  const run = await runTs([encodeCell(appCell(1)), 'cell id=m fam=4 addr=lo range=1-x reuse=0 dst=0'], ['--timeout', '0.5', '--unshare', fake]);
  t.is(run.reports.length, 2);
  t.like(run.reports[0], { id: 'app-reuse1', status: 'error' });
  t.regex(JSON.stringify(run.reports[0]), /timeout/);
  t.like(run.reports[1], { id: 'm', status: 'error' });
  t.regex(JSON.stringify(run.reports[1]), /'range=1-x'/);
});
