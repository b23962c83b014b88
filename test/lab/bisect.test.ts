// harness/bisect.mjs under `git bisect run`: the verdict logic on its own, bad configuration
// aborting (exit > 127), and a real bisect over a 4-commit git history of Debian's 6.1 source
// in which commit 3 reverts 4b01a967 (the "regression"): git must name commit 3, with a step
// log per step; then behaviour mode against a good commit, and a commit that does not compile.
// The history and its make O= directory persist in the shared cache (helpers/bisect-history.ts):
// the first run on a machine builds one kernel cold, every later build is incremental.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSteps, renderSummary, type StepRecord } from '../../harness/src/bisect/log.js';
import { BisectUsageError, parseBisectOptions } from '../../harness/src/bisect/options.js';
import { BISECT_EXIT, combine, repeatVerdict, type CellOutcome } from '../../harness/src/bisect/verdict.js';
import type { KernelJobResult } from '../../harness/src/run/kernel-job.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { bisectHistory, git, type BisectHistory } from '../helpers/bisect-history.js';

const BISECT = path.join(projectRoot, 'harness', 'bisect.mjs');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-bisect-test-'));
// What the bisect builds (guest image, kernels) goes to a private cache, removed at the end, so
// each step really builds; the worktree and make O= directory are the history's persistent ones.
const env = { ...process.env, KPH_CACHE_DIR: path.join(scratch, 'cache') };
test.after.always(() => fs.rmSync(scratch, { recursive: true, force: true }));

interface Ran { code: number | null; stdout: string; stderr: string; seconds: number }

/** Runs a command to completion (any exit code) in cwd, with the private cache. */
function sh(cmd: string, args: string[], cwd: string): Promise<Ran> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (Date.now() - t0) / 1000 }));
  });
}

// --- the verdict, pure ---------------------------------------------------------------------

const job = (over: Partial<KernelJobResult> = {}): KernelJobResult => ({
  kernel: { name: 'head', release: 'r', bzImage: 'b', profile: 'p' }, attempts: [{ attempt: 1, kind: 'ready', bootMs: 2000 }],
  reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {}, unameR: 'r', bootMs: 2000, ...over,
});
const cells = (...outcomes: CellOutcome['outcome'][]): CellOutcome[] => outcomes.map((outcome, i) => ({ guest: 'c', id: `x/${i}`, outcome, reason: outcome === 'FAIL' ? 'op 2: observed EADDRINUSE, predicted ok(port 32768)' : 'fine' }));

test('one run: FAIL is bad, ERROR/MISS skip, PASS/SKIP good; a boot failure is what --boot-failure says', (t) => {
  t.is(repeatVerdict(1, job(), cells('PASS', 'SKIP'), 'skip').verdict, 'good');
  const bad = repeatVerdict(1, job(), cells('PASS', 'FAIL'), 'skip');
  t.is(bad.verdict, 'bad');
  t.deepEqual(bad.notPassing.map((m) => m.id), ['x/1']);
  t.is(repeatVerdict(1, job({ infraError: 'SSH lost' }), cells('PASS', 'ERROR'), 'bad').verdict, 'skip');
  const crashed = job({ bootCrash: { kind: 'panic', title: 'Kernel panic - not syncing' } as never, unameR: undefined, attempts: [{ attempt: 1, kind: 'kernel-crash', bootMs: 900 }] });
  t.is(repeatVerdict(1, crashed, cells('FAIL'), 'skip').verdict, 'skip');
  t.is(repeatVerdict(1, crashed, cells('FAIL'), 'bad').verdict, 'bad');
  const silent = job({ unameR: undefined, infraError: 'boot no-ssh', attempts: [{ attempt: 1, kind: 'no-ssh', bootMs: 60000 }, { attempt: 2, kind: 'no-ssh', bootMs: 60000 }] });
  t.regex(repeatVerdict(1, silent, cells('MISS'), 'bad').why, /did not boot.*--boot-failure bad/);
});

test('repeats: unanimity wins with its confidence; a split is skipped unless --majority', (t) => {
  t.like(combine(['bad', 'bad', 'bad'], false), { verdict: 'bad', confidence: 1, split: false });
  t.like(combine(['good', 'skip'], false), { verdict: 'good', confidence: 0.5 });
  t.like(combine(['good', 'bad', 'bad'], false), { verdict: 'skip', split: true });
  t.like(combine(['good', 'bad', 'bad'], true), { verdict: 'bad', split: true });
  t.is(combine(['good', 'bad', 'bad'], true).confidence.toFixed(2), '0.67');
  t.like(combine(['good', 'bad'], true), { verdict: 'skip', split: true }, 'a tie is never a verdict');
  t.like(combine(['skip', 'skip'], true), { verdict: 'skip' });
  t.deepEqual(BISECT_EXIT, { good: 0, bad: 1, skip: 125, interrupted: 130, abort: 200 });
});

test('options: the mode decides what is required; mistakes are usage errors', (t) => {
  t.like(parseBisectOptions(['--profile', '4b01a967']), { mode: 'oracle', repeat: 1, bootFailure: 'skip', majority: false });
  t.like(parseBisectOptions(['--mode', 'behaviour', '--good-ref', 'v6.1', '--repeat', '3', '--majority', '--boot-failure', 'bad']), { goodRef: 'v6.1', repeat: 3, majority: true, bootFailure: 'bad' });
  for (const bad of [[], ['--profile', 'nope'], ['--mode', 'behaviour'], ['--profile', '4b01a967', '--repeat', '0'], ['--profile', '4b01a967', '--boot-failure', 'maybe'], ['--profile', '4b01a967', '--mode', 'x'], ['--profile', '4b01a967', '--good-ref', 'x'], ['--what']]) {
    t.throws(() => parseBisectOptions(bad), { instanceOf: BisectUsageError }, bad.join(' '));
  }
});

test('the summary lists every step with its verdict', (t) => {
  const step: StepRecord = {
    step: 1, commit: 'a'.repeat(40), subject: 's | pipe', tree: '/t', uncommittedChanges: false, startedAt: '', seconds: 3, mode: 'oracle', profile: 'p', cells: 1, selection: [],
    build: { seconds: 2, cached: false, release: '6.1-x', log: 'l' }, repeats: [repeatVerdict(1, job(), cells('FAIL'), 'skip')], verdict: 'bad', confidence: 1, why: 'w', exitCode: 1, dir: '/d',
  };
  const md = renderSummary([step]);
  t.regex(md, /\| 1 \| `aaaaaaaaaaaa` \| s \\\| pipe \| 2\.0 s \| 2\.0 s \| \*\*bad\*\* \| 1\.00 \| 1 \| 1 \|/);
  t.regex(md, /FAIL c `x\/0`: op 2: observed EADDRINUSE/);
});

test('bad configuration aborts the bisect: exit > 127, nothing built', async (t) => {
  const notGit = fs.mkdtempSync(path.join(scratch, 'not-git-'));
  for (const args of [['--profile', 'nope'], ['--mode', 'behaviour'], ['--profile', '4b01a967', '--case', 'no-such-case'], ['--profile', '4b01a967']]) {
    const r = await sh(process.execPath, [BISECT, ...args], notGit);
    t.true((r.code ?? 0) > 127, `${args.join(' ')} → ${r.code}\n${r.stderr}`);
    t.is(r.code, BISECT_EXIT.abort);
  }
  const r = await sh(process.execPath, [BISECT, '--profile', '4b01a967'], notGit);
  t.regex(r.stderr, /not inside a git working tree/);
});

// --- a real bisect --------------------------------------------------------------------------

/** How many C files make compiled, from a build log's "  CC  path.o" lines. */
const compiledObjects = (log: string): number => (fs.readFileSync(log, 'utf8').match(/^\s*CC\s/gm) ?? []).length;

const onlyDir = (parent: string): string => {
  const dirs = fs.readdirSync(parent).filter((d) => d.startsWith('bisect-'));
  if (dirs.length !== 1) throw new Error(`expected one bisect directory in ${parent}, found ${dirs.join(', ') || 'none'}`);
  return path.join(parent, dirs[0]);
};

test.serial('git bisect run names the commit that reverts 4b01a967; behaviour mode and a broken commit answer too', async (t) => {
  const t0 = Date.now();
  const history = await bisectHistory();
  try {
    await bisectScenario(t, history, t0);
  } finally {
    await history.release();
  }
});

/** The three parts of the real bisect test, on the locked history. */
async function bisectScenario(t: ExecutionContext, history: BisectHistory, t0: number): Promise<void> {
  const { repo, commits, buildDir } = history;
  const setup = (Date.now() - t0) / 1000;
  // A build directory that holds a kernel already: every build of this run is incremental.
  const warm = fs.existsSync(path.join(buildDir, 'obj', 'vmlinux'));
  const [c1, c2, c3, c4] = commits;
  const results = path.join(scratch, 'results');
  const oracle = ['--case', 'commit-repro', '--mode', 'oracle', '--profile', '4b01a967+followup', '--results', results, '--build-dir', buildDir];

  // 1. git bisect run, last commit bad, first good.
  await git(repo, 'bisect', 'start', c4, c1);
  const b = await sh('git', ['bisect', 'run', process.execPath, BISECT, ...oracle], repo);
  await git(repo, 'bisect', 'reset');
  t.is(b.code, 0, b.stderr.slice(-4000));
  t.regex(b.stdout, new RegExp(`^${c3} is the first bad commit`, 'm'), b.stdout);
  const dir = onlyDir(results);
  const steps = readSteps(dir);
  t.log(`history ${history.cached ? 'cached' : `made in ${history.setupSeconds.toFixed(0)} s`}, build directory ${buildDir} (${warm ? 'warm' : 'cold'}); setup ${setup.toFixed(0)} s; git bisect run ${b.seconds.toFixed(0)} s, ${steps.length} steps:`);
  const objects = fs.readdirSync(path.join(buildDir, 'obj'), { recursive: true }).filter((f) => String(f).endsWith('.o')).length;
  for (const s of steps) {
    const compiled = compiledObjects(path.join(s.dir, 'kernel-head.log'));
    t.log(`  step ${s.step} ${s.commit.slice(0, 7)} ${s.verdict}: build ${s.build?.cached ? 'cached' : `${s.build?.seconds} s, ${compiled} of ${objects} objects compiled`}, boot ${((s.repeats[0]?.bootMs ?? 0) / 1000).toFixed(1)} s, step ${s.seconds.toFixed(0)} s`);
    // Incremental: only what changed since the directory's last build recompiles. The history
    // touches two .c files and no header, so that is those two, what the release string
    // (-kph-<commit>) reaches, and the boot stub: 9 of ~1,200 objects.
    if (warm || s.step > 1) t.true(compiled <= 20, `step ${s.step}: ${compiled} of ${objects} objects recompiled`);
  }
  t.is(steps.length, 2, 'one commit left on either side of the first test');
  t.deepEqual(steps.map((s) => s.step), steps.map((_, i) => i + 1));
  for (const s of steps) {
    t.true(commits.includes(s.commit));
    t.is(s.verdict, commits.indexOf(s.commit) >= 2 ? 'bad' : 'good', s.subject);
    t.is(s.exitCode, s.verdict === 'bad' ? 1 : 0);
    t.truthy(s.build?.release.endsWith(`-kph-${s.commit.slice(0, 12)}`));
    t.is(s.repeats.length, 1);
    t.true(s.repeats[0].bootMs! > 0);
    t.is(s.repeats[0].notPassing.length, s.verdict === 'bad' ? 6 : 0);
    t.true(fs.existsSync(path.join(s.dir, 'kernel-head.log')));
  }
  t.true(steps.some((s) => s.commit === c3) && steps.some((s) => s.commit === c2), 'git saw 3 bad and 2 good');
  const summary = fs.readFileSync(path.join(dir, 'summary.md'), 'utf8');
  for (const s of steps) t.true(summary.includes(s.commit.slice(0, 12)));

  // 2. Behaviour mode: 3 behaves differently from 2 (bad, twice), 2 like itself (good). Both
  //    kernels are cached from the bisect: only boots.
  const bdir = path.join(scratch, 'behaviour');
  const behaviour = ['--case', 'commit-repro', '--mode', 'behaviour', '--good-ref', c2, '--bisect-dir', bdir, '--build-dir', buildDir];
  await git(repo, 'checkout', '-q', c3);
  const r3 = await sh(process.execPath, [BISECT, ...behaviour, '--repeat', '2'], repo);
  t.is(r3.code, 1, r3.stderr.slice(-3000));
  await git(repo, 'checkout', '-q', c2);
  const r2 = await sh(process.execPath, [BISECT, ...behaviour], repo);
  t.is(r2.code, 0, r2.stderr.slice(-3000));
  const [s3, s2] = readSteps(bdir);
  t.like(s3, { commit: c3, verdict: 'bad', confidence: 1, split: false, good: { commit: c2 } });
  t.is(s3.repeats.length, 2);
  t.regex(s3.repeats[0].notPassing[0].reason, /good kernel/);
  t.like(s2, { commit: c2, verdict: 'good' });
  t.true(s3.build!.cached && s2.build!.cached);
  t.is(fs.readdirSync(bdir).filter((f) => f.startsWith('good-')).length, 1, 'the good commit was observed once');

  // 3. A commit that does not compile is skipped (125), incrementally in the same build directory.
  await git(repo, 'checkout', '-q', '--detach', c2);
  fs.appendFileSync(path.join(repo, 'net/ipv4/inet_connection_sock.c'), '\n#error kph test: this commit does not compile\n');
  await git(repo, 'commit', '-q', '--no-verify', '-am', '5: does not compile');
  const r6 = await sh(process.execPath, [BISECT, ...oracle, '--bisect-dir', path.join(scratch, 'broken')], repo);
  t.is(r6.code, BISECT_EXIT.skip, r6.stderr.slice(-3000));
  const [s6] = readSteps(path.join(scratch, 'broken'));
  t.like(s6, { verdict: 'skip', exitCode: 125 });
  t.regex(s6.build!.error!, /kph test: this commit does not compile/);
  t.regex(s6.why, /does not build/);

  t.log(`behaviour ${r3.seconds.toFixed(0)} s + ${r2.seconds.toFixed(0)} s; broken commit ${r6.seconds.toFixed(0)} s; total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
