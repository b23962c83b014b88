// The fast cell loop (issue 8): the C guest writes nothing to the console per cell, yet a crash
// is still charged to its cell (harness/src/run/attribution.ts): by the splat's "Comm: kc-<mark>",
// by the "warned" mark the guest writes after a cell during which the kernel's WARNING/oops
// counters moved, by start marks when asked for, or (fatal crash) by the first unanswered cell.
// Pure attribution tests first, then the guest on the host (root), then a real VM with the
// floor program beside the guest.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCGuest, buildFloor } from '../../harness/src/guests/c-guest.js';
import { authorizedKeyCmdline, buildGuestImage } from '../../harness/src/image/build.js';
import { kernelSelection } from '../../harness/src/kernel/select.js';
import { EXHAUSTED_RANGE, type Cell, type GuestCellReport } from '../../harness/src/core/cell.js';
import { encodeCell, markOf, parseGuestLine } from '../../harness/src/core/wire.js';
import type { PlannedCell } from '../../harness/src/core/planned.js';
import { defaultPlan } from '../../harness/src/plan/default.js';
import { attributeCrashes, chargeWarnedCells, recordLabFailure } from '../../harness/src/run/attribution.js';
import type { KernelJobResult } from '../../harness/src/run/kernel-job.js';
import { newClientKey } from '../../harness/src/ssh/keys.js';
import { chooseAccel } from '../../harness/src/vm/accel.js';
import { bootGuest } from '../../harness/src/vm/boot.js';
import { needs, root } from '../helpers/needs.js';

/** Tests that run cells on the host: they enter network namespaces (skipped without root, failing under CI=true). */
const rootTest = needs(root('cells enter network namespaces')).test;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-speed-test-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------- attribution, pure

const planned = (id: string): PlannedCell => ({
  id, case: 'speed', autobindReuse: 0, portRange: EXHAUSTED_RANGE, family: 'inet', addr: 'loopback',
  sockets: [], ops: [], destinations: 0, guests: ['c'], title: id,
  dims: { reuse: 0, range: 'one-port', fam: 'inet', addr: 'loopback', extra: [] },
});
const BATCH = ['speed/a', 'speed/b', 'speed/c'].map(planned);
const [A, B, C] = BATCH.map((c) => c.id);
const done = (id: string): GuestCellReport => ({ id, status: 'done', results: [] });

function emptyResult(): KernelJobResult {
  return {
    kernel: { name: 'after', release: 'r', bzImage: '', profile: 'p' }, attempts: [], reports: { c: new Map(), ts: new Map() },
    cellCrashes: [], timings: {}, cellCrash: { c: new Map(), ts: new Map() }, errors: { c: new Map(), ts: new Map() }, answeredOn: { c: new Map(), ts: new Map() },
  };
}
const answered = (r: KernelJobResult, ...ids: string[]): KernelJobResult => { for (const id of ids) r.reports.c.set(id, done(id)); return r; };

const stamp = (s: string): string => s.split('\n').map((l) => `[   12.345678] ${l}`).join('\n');
const warningSplat = (comm: string): string => stamp([
  '------------[ cut here ]------------',
  'WARNING: CPU: 0 PID: 211 at net/ipv4/inet_connection_sock.c:512 inet_csk_get_port+0x1ab/0x5c0',
  'Modules linked in:',
  `CPU: 0 PID: 211 Comm: ${comm} Not tainted 6.1.192-kph #1`,
  'RIP: 0010:inet_csk_get_port+0x1ab/0x5c0',
  '---[ end trace 0000000000000000 ]---',
].join('\n'));
const panicSplat = (comm: string): string => stamp([
  'Kernel panic - not syncing: something broke',
  `CPU: 0 PID: 7 Comm: ${comm} Not tainted 6.1.192-kph #1`,
  '---[ end Kernel panic - not syncing: something broke ]---',
].join('\n'));

test('attribution: a splat naming a cell\'s child (Comm: kc-<mark>) is charged to that cell, without any console mark', (t) => {
  const r = answered(emptyResult(), A, B, C);
  const text = `boot noise\n${warningSplat(`kc-${markOf(B)}`)}\nmore\n`;
  attributeCrashes('c', BATCH, text, 1, r, { vmAlive: true });
  t.deepEqual([...r.cellCrash!.c.keys()], [B]);
  t.is(r.cellCrash!.c.get(B)?.kind, 'warning');
  t.deepEqual(r.cellCrashes, []);
});

test('attribution: a splat in another context is charged to the cell whose "warned" mark follows it', (t) => {
  const r = answered(emptyResult(), A, B, C);
  const text = `${warningSplat('kworker/u2:1')}\n[   12.400000] kph: cell ${markOf(C)} warned 1\n`;
  attributeCrashes('c', BATCH, text, 1, r, { vmAlive: true });
  t.deepEqual([...r.cellCrash!.c.keys()], [C]);
});

test('attribution: start marks (--mark) still charge the last cell started before the crash', (t) => {
  const r = answered(emptyResult(), A);
  const text = `kph: cell ${markOf(A)} start\nkph: cell ${markOf(B)} start\n${warningSplat('kph-cells')}\n`;
  attributeCrashes('c', BATCH, text, 1, r, { vmAlive: true });
  t.deepEqual([...r.cellCrash!.c.keys()], [B]);
});

test('attribution: a fatal crash nothing names is charged to the first cell without a report (cells run in order)', (t) => {
  const r = answered(emptyResult(), A);
  attributeCrashes('c', BATCH, `${panicSplat('swapper')}\n`, 1, r, { vmAlive: false });
  t.deepEqual([...r.cellCrash!.c.keys()], [B]);
  t.is(r.answeredOn!.c.get(B), 1);
  t.deepEqual(r.cellCrashes, []);
});

test('attribution: a panic in a cell\'s context names that cell even if an earlier report is missing', (t) => {
  // A's report was written but lost with the VM: the splat still names C.
  const r = emptyResult();
  attributeCrashes('c', BATCH, `${panicSplat(`kc-${markOf(C)}`)}\n`, 1, r, { vmAlive: false });
  t.deepEqual([...r.cellCrash!.c.keys()], [C]);
});

test('attribution: an oops in a cell\'s context and the panic it leads to both go to that cell, not to an earlier unanswered one', (t) => {
  const r = emptyResult();
  const oops = stamp(['BUG: kernel NULL pointer dereference, address: 0000000000000010', 'Oops: 0000 [#1] NOPTI', `CPU: 0 PID: 211 Comm: kc-${markOf(C)} Not tainted 6.1.192-kph #1`, 'RIP: 0010:inet_bind_bucket_match+0x9/0x30'].join('\n'));
  attributeCrashes('c', BATCH, `${oops}\n${panicSplat('kworker')}\n`, 1, r, { vmAlive: false });
  t.deepEqual([...r.cellCrash!.c.keys()], [C]);
  t.deepEqual(r.cellCrashes, []);
});

test('attribution: a non-fatal crash nothing explains is charged to the whole batch', (t) => {
  const r = answered(emptyResult(), A, B, C);
  attributeCrashes('c', BATCH, `${warningSplat('kworker/0:1')}\n`, 1, r, { vmAlive: true });
  t.is(r.cellCrash!.c.size, 0);
  t.deepEqual(r.cellCrashes.map((x) => x.cells), [[A, B, C]]);
});

test('attribution: a report with kernel_warned and no splat on the console still makes the cell FAIL with a crash saying why', (t) => {
  const r = answered(emptyResult(), A, B);
  chargeWarnedCells('c', new Map([[B, 2]]), 1, r);
  t.deepEqual([...r.cellCrash!.c.keys()], [B]);
  t.regex(r.cellCrash!.c.get(B)!.title, /counted 2 WARNING\/oops/);
});

test('attribution: a lab failure without marks costs a try to the first unanswered cell only', (t) => {
  const r = answered(emptyResult(), A);
  recordLabFailure('c', BATCH, '', 1, 'connection lost', r);
  t.deepEqual([...r.errors!.c.entries()], [[B, [{ attempt: 1, reason: 'connection lost' }]]]);
});

test('attribution: a lab failure whose last console mark names an answered cell costs a try to the next cell (its mark was still on the way)', (t) => {
  const r = answered(emptyResult(), A);
  recordLabFailure('c', BATCH, `kph: cell ${markOf(A)} start\n`, 1, 'connection lost', r);
  t.deepEqual([...r.errors!.c.entries()], [[B, [{ attempt: 1, reason: 'connection lost' }]]]);
  const s = answered(emptyResult(), A);
  recordLabFailure('c', BATCH, `kph: cell ${markOf(A)} start\nkph: cell ${markOf(B)} start\nkph: cell ${markOf(C)} start\n`, 1, 'connection lost', s);
  t.deepEqual([...s.errors!.c.keys()], [C], 'a mark on an unanswered cell names it');
});

test('wire: kernel_warned is read beside the report, and absent means 0', (t) => {
  t.deepEqual(parseGuestLine('{"id":"x","status":"done","results":[],"kernel_warned":3}'), { report: { id: 'x', status: 'done', results: [] }, kernelWarned: 3 });
  t.deepEqual(parseGuestLine('{"id":"x","status":"error","reason":"r"}'), { report: { id: 'x', status: 'error', reason: 'r' }, kernelWarned: 0 });
  t.is(parseGuestLine('{"id":"x","status":"done","results":[],"kernel_warned":"lots"}')?.kernelWarned, 0);
});

// ---------------------------------------------------------------- the C guest on the host

const cell = (id: string, reuse: 0 | 1 = 1): Cell => ({
  id, case: 'speed', autobindReuse: reuse, portRange: EXHAUSTED_RANGE, family: 'inet', addr: 'loopback', destinations: 0,
  sockets: [{ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }], ops: [{ op: 'bind', sock: 0 }],
});
let cGuest: Promise<{ path: string }> | undefined;
const cGuestPath = async (): Promise<string> => (await (cGuest ??= buildCGuest({ logDir: path.join(tmp, 'logs') }))).path;

interface Run { lines: string[]; stderr: string; code: number | null }
/** Runs kph-cells with the lines on stdin; `during(pid)` runs while it works. */
async function runCells(lines: string[], args: string[], env: NodeJS.ProcessEnv, during?: () => Promise<void>): Promise<Run> {
  const child = spawn(await cGuestPath(), args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const closed = new Promise<number | null>((r) => child.on('close', r));
  child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  if (during) await during();
  const code = await closed;
  return { lines: out.split('\n').filter(Boolean), stderr: err, code };
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** PIDs whose name is `comm`. */
function pidsNamed(comm: string): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try { return fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim() === comm; } catch { return false; }
  }).map(Number);
}

rootTest('C guest: each cell runs in a child named kc-<mark>, so a splat in its context names the cell', async (t) => {
  const id = 'speed/comm';
  let seen: number[] = [];
  const run = await runCells([encodeCell(cell(id))], ['--timeout', '3'], { KPH_FAULT: `hang@${id}`, KPH_CELLS_KMSG: path.join(tmp, 'kmsg-comm') }, async () => {
    for (let i = 0; i < 40 && seen.length === 0; i++) { await sleep(50); seen = pidsNamed(`kc-${markOf(id)}`); }
  });
  t.is(seen.length, 1, `no process named kc-${markOf(id)} while the cell hung`);
  t.regex(run.lines[0], /"status":"error".*timeout/);
});

rootTest('C guest: no console line per cell; when the WARNING/oops counters move during a cell, a "warned" mark and kernel_warned for that cell only', async (t) => {
  const counter = path.join(tmp, 'warn_count');
  const kmsg = path.join(tmp, 'kmsg-warned');
  fs.writeFileSync(counter, '0\n');
  fs.writeFileSync(kmsg, '');
  const [x, y, z] = ['speed/x', 'speed/y', 'speed/z'];
  // y hangs until its deadline; meanwhile "the kernel" counts a WARNING.
  const run = await runCells([x, y, z].map((id) => encodeCell(cell(id))), ['--timeout', '1.5'], { KPH_FAULT: `hang@${y}`, KPH_CELLS_COUNTERS: counter, KPH_CELLS_KMSG: kmsg }, async () => {
    await sleep(700);
    fs.writeFileSync(counter, '1\n');
  });
  const got = run.lines.map((l) => parseGuestLine(l));
  t.deepEqual(got.map((g) => [g?.report.id, g?.kernelWarned]), [[x, 0], [y, 1], [z, 0]], run.lines.join('\n'));
  t.is(fs.readFileSync(kmsg, 'utf8'), `<4>kph: cell ${markOf(y)} warned 1\n`);
});

rootTest('C guest: --mark writes a start mark per cell; --profile prints the phase totals on stderr', async (t) => {
  const kmsg = path.join(tmp, 'kmsg-mark');
  fs.writeFileSync(kmsg, '');
  const ids = ['speed/m1', 'speed/m2'];
  const run = await runCells(ids.map((id) => encodeCell(cell(id))), ['--mark', '--profile'], { KPH_CELLS_KMSG: kmsg, KPH_CELLS_COUNTERS: path.join(tmp, 'no-such-counter') });
  t.is(run.code, 0);
  t.is(fs.readFileSync(kmsg, 'utf8'), ids.map((id) => `<4>kph: cell ${markOf(id)} start\n`).join(''));
  t.regex(run.stderr, /kph-cells profile: 2 cells in [\d.]+ s/);
  for (const phase of ['unshare', 'lo_up', 'sysctl_write', 'child_wait', 'emit']) t.regex(run.stderr, new RegExp(`\\n  ${phase} +[\\d.]+ ms`));
});

rootTest('floor program: forks, enters a fresh netns and binds two sockets per iteration; prints one JSON line', async (t) => {
  const floor = await buildFloor({ logDir: path.join(tmp, 'logs') });
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(floor.path, ['--count', '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { s += d; });
    c.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`kph-floor exited ${code}`))));
  });
  const j = JSON.parse(out) as { iterations: number; seconds: number; per_s: number; failures: number };
  t.is(j.iterations, 20);
  t.is(j.failures, 0);
  t.true(j.per_s > 0 && j.seconds > 0);
});

// ---------------------------------------------------------------- a real VM

test('real VM: the C loop writes no console bytes per cell, the kernel has the WARNING/oops counters, and the floor runs beside it', async (t) => {
  const logDir = fs.mkdtempSync(path.join(tmp, 'vm-'));
  const [kernels, image, cg, fl] = await Promise.all([kernelSelection().build({ logDir }), buildGuestImage({ logDir }), buildCGuest({ logDir }), buildFloor({ logDir })]);
  const kernel = kernels.find((k) => k.name === 'after')!;
  const key = newClientKey();
  const boot = await bootGuest({
    spec: { name: 'speed-1', runId: 'speed', runDir: logDir, kernel: kernel.bzImage, initramfs: image.initramfs, disk: image.nodeDisk, cmdline: authorizedKeyCmdline(key.publicKey), memoryMiB: 512, accel: chooseAccel('tcg') },
    hostKey: image.hostKey, privateKey: key.privateKey, deadlineMs: 180_000, keepaliveMs: 30_000,
  });
  if (boot.kind !== 'ready') return t.fail(`boot ${boot.kind}`);
  const { session, vm } = boot;
  try {
    await session.push(cg.path, '/tmp/kph/kph-cells', '0755', 60_000);
    await session.push(fl.path, '/tmp/kph/kph-floor', '0755', 60_000);
    const counters = await session.exec('cat /sys/kernel/warn_count /sys/kernel/oops_count', { deadlineMs: 30_000 });
    t.is(counters.kind === 'exited' && counters.code, 0, 'the sysfs counters exist');
    const cells = defaultPlan().filter((c) => c.guests.includes('c') && c.autobindReuse !== 'absent').slice(0, 60);
    const before = vm.consoleText.length;
    const started = Date.now();
    const r = await session.exec('/tmp/kph/kph-cells --timeout 30 --profile', { stdin: cells.map(encodeCell).join('\n') + '\n', deadlineMs: 300_000 });
    const cellsMs = Date.now() - started;
    const grown = vm.consoleText.slice(before);
    const reports = r.stdout.split('\n').filter(Boolean).map((l) => parseGuestLine(l));
    t.is(reports.length, cells.length);
    t.true(reports.every((g) => g?.report.status === 'done' && g.kernelWarned === 0), r.stdout.slice(0, 2000));
    t.false(/kph: cell/.test(grown), `no per-cell console line: ${grown.slice(0, 500)}`);
    // The namespace pool: far fewer namespaces than cells, and the same outcomes as a fresh one per cell.
    const netns = /netns: (\d+) created/.exec(r.stderr);
    t.truthy(netns, r.stderr);
    t.true(Number(netns?.[1]) < cells.length / 2, r.stderr);
    const fresh = await session.exec('/tmp/kph/kph-cells --timeout 30 --fresh-netns', { stdin: cells.map(encodeCell).join('\n') + '\n', deadlineMs: 300_000 });
    const outcomes = (stdout: string): string[][] => stdout.split('\n').filter(Boolean).map((l) => {
      const g = parseGuestLine(l)?.report;
      return g?.status === 'done' ? g.results.map((x) => (x.ok ? 'ok' : x.errno)) : [String(g?.status)];
    });
    t.deepEqual(outcomes(fresh.stdout), outcomes(r.stdout), 'pooled and fresh namespaces: the same outcomes');
    const floorStarted = Date.now();
    const f = await session.exec('/tmp/kph/kph-floor --count 60', { deadlineMs: 120_000 });
    const floorMs = Date.now() - floorStarted;
    t.is(f.kind === 'exited' && f.code, 0, f.stderr);
    t.is((JSON.parse(f.stdout) as { iterations: number }).iterations, 60);
    t.log(`60 cells in ${cellsMs} ms (${(60_000 / cellsMs).toFixed(1)}/s), floor 60 in ${floorMs} ms (${(60_000 / floorMs).toFixed(1)}/s): ratio ${(floorMs / cellsMs).toFixed(2)} (timings only, not asserted: the host is shared)`);
  } finally {
    session.close();
    await vm.stop(2_000);
  }
});

// ---------------------------------------------------------------- reports sent together (--flush-ms)

rootTest('C guest --flush-ms: reports held for the window still reach the host before a fault between cells, and all of them at the end', async (t) => {
  const [a, b, c] = ['speed/f1', 'speed/f2', 'speed/f3'];
  // kph-cells SIGKILLs itself before c: a and b were held (a 100 s window), yet are delivered.
  const run = await runCells([a, b, c].map((id) => encodeCell(cell(id))), ['--flush-ms', '100000'], { KPH_FAULT: `kill@${c}`, KPH_CELLS_KMSG: path.join(tmp, 'kmsg-flush') });
  t.deepEqual(run.lines.map((l) => parseGuestLine(l)?.report.id), [a, b]);
  const all = await runCells([a, b].map((id) => encodeCell(cell(id))), ['--flush-ms', '100000'], { KPH_CELLS_KMSG: path.join(tmp, 'kmsg-flush') });
  t.deepEqual(all.lines.map((l) => parseGuestLine(l)?.report.status), ['done', 'done']);
});

rootTest('C guest --flush-ms: a held report goes out when the guest waits for more input', async (t) => {
  const child = spawn(await cGuestPath(), ['--flush-ms', '100000'], { env: { ...process.env, KPH_CELLS_KMSG: path.join(tmp, 'kmsg-wait') }, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const first = new Promise<string>((resolve) => child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes('\n')) resolve(out); }));
  child.stdin.write(`${encodeCell(cell('speed/w1'))}\n`); // stdin stays open: the guest would block on it
  const line = await Promise.race([first, sleep(15_000).then(() => 'nothing within 15 s')]);
  child.stdin.end();
  await new Promise((r) => child.on('close', r));
  t.like(parseGuestLine(line.trim())?.report, { id: 'speed/w1', status: 'done' });
});
