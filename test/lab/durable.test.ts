// Issue 9 (nothing lost, nothing green by accident): result files are never left cut off under
// their final names on a full disk, a run directory belongs to one process at a time (a
// --resume of a live run is refused, naming the owner; a dead owner's lock is taken over), and
// an unusable results folder is a quick exit 2. Real tmpfs mounts, real runs through the CLI.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { LOCK_FILE, lockRunDir, ownerAlive } from '../../harness/src/run/lock.js';
import { makeDirs, RunDirError } from '../../harness/src/run/run-dir.js';
import { StorageError, writeJson } from '../../harness/src/util/write.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { qemuGone, runCli, startCli, tempResults, waitFor, type CliRun } from '../helpers/cli.js';

/** Serial test that mounts tmpfs: needs root; skipped locally without it, run (and failing) under CI=true. */
const asRoot = process.getuid?.() === 0 || process.env.CI === 'true' ? test.serial : test.serial.skip;

/** Mounts a tmpfs of `size` on a fresh folder for the duration of `fn`. */
async function withTmpfs<T>(size: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-durable-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  try {
    return await fn(dir);
  } finally {
    execFileSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const freeBytes = (dir: string): number => { const s = fs.statfsSync(dir); return s.bavail * s.bsize; };

/** Fills `dir` so that about `leave` bytes stay free. */
function fillLeaving(dir: string, leave: number, name = 'filler'): void {
  fs.writeFileSync(path.join(dir, name), Buffer.alloc(Math.max(0, freeBytes(dir) - leave)));
}

/** Every *.json under `dir` (one level of run directories) parses; lists leftover temporary files. */
function checkJsonWhole(t: import('ava').ExecutionContext, dir: string): void {
  for (const runDir of fs.readdirSync(dir).map((d) => path.join(dir, d)).filter((d) => fs.statSync(d).isDirectory())) {
    const names = fs.readdirSync(runDir);
    t.deepEqual(names.filter((n) => n.endsWith('.tmp')), [], `no temporary files left in ${runDir}`);
    for (const f of names.filter((n) => n.endsWith('.json'))) {
      t.notThrows(() => JSON.parse(fs.readFileSync(path.join(runDir, f), 'utf8')), `${f} is whole JSON`);
    }
  }
}

asRoot('issue 9 row 1: a write that runs out of space throws ENOSPC and never leaves a cut-off file under the final name', async (t) => {
  await withTmpfs('256k', async (dir) => {
    await writeJson(dir, 'results.json', { earlier: true });
    fillLeaving(dir, 8 * 1024);
    const big = { records: Array.from({ length: 4000 }, (_, i) => ({ id: i, reason: 'x'.repeat(20) })) };
    const e = await t.throwsAsync(writeJson(dir, 'results.json', big));
    t.true(e instanceof StorageError);
    t.is((e as StorageError).code, 'ENOSPC');
    t.regex(e!.message, /results\.json/);
    t.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')), { earlier: true }, 'the earlier version stays whole');
    await t.throwsAsync(writeJson(dir, 'kcidb.json', big));
    t.false(fs.existsSync(path.join(dir, 'kcidb.json')), 'a file that could not be written whole does not appear');
    t.deepEqual(fs.readdirSync(dir).sort(), ['filler', 'results.json'], 'no temporary file left');
  });
});

asRoot('issue 9 row 1: a results folder that fills during the run ends with exit 3, every JSON whole, no QEMU left', async (t) => {
  await withTmpfs('512k', async (dir) => {
    const cli = startCli(['--results', dir, '--case', 'commit-repro', '--no-ts']);
    // Once the VMs start, leave room for the consoles and the event log, not for the final files.
    await waitFor(cli.output, (s) => /\brun…/.test(s), 900_000);
    fillLeaving(dir, 40 * 1024);
    const run = await cli.done;
    t.is(run.code, 3, run.stderr.slice(-2000));
    t.regex(run.stderr, /no space left|ENOSPC/i);
    fs.rmSync(path.join(dir, 'filler'));
    checkJsonWhole(t, dir);
    t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
  });
});

asRoot('issue 9 row 1: a disk that fills while the VMs run stops the run at once with exit 3, every JSON whole, no QEMU left', async (t) => {
  await withTmpfs('512k', async (dir) => {
    const cli = startCli(['--results', dir, '--case', 'close-rebind', '--no-ts']);
    await waitFor(cli.output, (s) => /booting \(attempt 1\)/.test(s), 900_000);
    fillLeaving(dir, 0);
    const run = await cli.done;
    t.is(run.code, 3, run.stderr.slice(-2000));
    // The console log or the event log could not be written: the run stops rather than go on blind.
    t.regex(run.stderr, /cannot write \S+\/(console-\S+\.log|events\.jsonl): .*(no space left|ENOSPC).*; stopping the run/i);
    t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
    fs.rmSync(path.join(dir, 'filler'));
    checkJsonWhole(t, dir);
  });
});

test('issue 9 row 2: a lock whose owner is alive is refused naming it; a dead owner\'s lock is taken over', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-lock-'));
  const first = lockRunDir(dir);
  t.is(first.kind, 'taken');
  // Another process (a child) sees this one as the owner.
  const probe = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', `
    const { lockRunDir } = await import(${JSON.stringify(path.join(projectRoot, 'build/harness/src/run/lock.js'))});
    const r = lockRunDir(${JSON.stringify(dir)});
    console.log(JSON.stringify(r.kind === 'busy' ? { kind: r.kind, pid: r.owner.pid } : { kind: r.kind }));`], { encoding: 'utf8' })) as { kind: string; pid?: number };
  t.deepEqual(probe, { kind: 'busy', pid: process.pid });
  if (first.kind === 'taken') first.release();
  t.false(fs.existsSync(path.join(dir, LOCK_FILE)), 'released');
  // A lock left by a process that is gone.
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  const stale = { pid: dead.pid!, host: os.hostname(), since: new Date().toISOString(), argv: ['node', 'run.mjs'] };
  t.false(ownerAlive(stale));
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(stale));
  const second = lockRunDir(dir);
  t.is(second.kind, 'taken');
  if (second.kind === 'taken') {
    t.is(second.staleOwner?.pid, dead.pid);
    t.is(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    second.release();
  }
});

test.serial('issue 9 row 2: --resume of a live run exits 2 naming the owner, and touches nothing', async (t) => {
  const results = tempResults();
  // Six cells answer within a few hundred milliseconds of SSH being ready, so the run could end
  // before the second command even starts. The after VM's guest holds one of its cells 2 s
  // (kph.cells_hold, the emulator faults' window), and the owner is stopped (SIGSTOP, as a
  // Ctrl-Z would) while the second command runs: it meets a live owner every time.
  const held = 'commit-repro/reuse=1,range=one-port,fam=inet,addr=loopback';
  const cli = startCli(['--results', results, '--case', 'commit-repro', '--no-ts', '--append', `kph.cells_hold=${held}`]);
  await waitFor(cli.output, (s) => /: SSH ready/.test(s), 900_000);
  const pid = cli.child.pid!;
  process.kill(pid, 'SIGSTOP');
  const runDir = path.join(results, fs.readdirSync(results)[0]);
  const before = new Map<string, number>();
  const t0 = Date.now();
  let second: CliRun;
  try {
    t.true(fs.existsSync(path.join(runDir, LOCK_FILE)), `the first run still holds ${LOCK_FILE}: ${cli.output().slice(-1000)}`);
    const consoles = fs.readdirSync(runDir).filter((n) => n.startsWith('console-'));
    t.true(consoles.length > 0);
    for (const n of consoles) before.set(n, fs.statSync(path.join(runDir, n)).size);
    second = await runCli(['--resume', runDir]);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  t.is(second.code, 2, second.stderr.slice(-2000));
  t.regex(second.stderr, new RegExp(`still going, owned by PID ${pid}\\b`));
  t.true(Date.now() - t0 < 20_000, 'refused at once');
  for (const [n, size] of before) t.true(fs.statSync(path.join(runDir, n)).size >= size, `${n} not truncated`);
  const first = await cli.done;
  t.is(first.code, 0, first.stderr.slice(-2000));
  t.false(fs.existsSync(path.join(runDir, LOCK_FILE)), 'the lock goes with its owner');
  t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
});

test('issue 9 row 12: makeDirs refuses /proc/x at once instead of spinning', (t) => {
  const e = t.throws(() => makeDirs('/proc/x/y', '--results'));
  t.true(e instanceof RunDirError);
  t.regex(e!.message, /--results \/proc\/x\/y: cannot create the folder \/proc\/x/);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kph-notdir-')), 'f');
  fs.writeFileSync(file, '');
  t.throws(() => makeDirs(path.join(file, 'sub'), '--results'), { message: /exists and is not a folder/ });
});

test.serial('issue 9 row 12: --results /proc/x exits 2 quickly with a clear error', async (t) => {
  const t0 = Date.now();
  const cli = startCli(['--results', '/proc/x', '--case', 'commit-repro', '--no-ts']);
  const killer = setTimeout(() => cli.child.kill('SIGKILL'), 60_000);
  const run = await cli.done;
  clearTimeout(killer);
  t.is(run.code, 2, run.stderr.slice(-2000));
  t.regex(run.stderr, /--results \/proc\/x: cannot create the folder \/proc\/x/);
  t.true(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  t.notRegex(run.stderr, /build…|booting/, 'nothing was built or booted');
});
