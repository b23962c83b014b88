// Issue 9 (nothing lost): --resume appends new VM attempts next to the interrupted run's
// evidence and never rewrites it, accepts --resume=DIR, works from any working folder (run.json
// keeps absolute paths), and skips damaged lines of events.jsonl with a warning naming
// file:line. Real runs through the CLI on the default pair.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { findPrevious } from '../../harness/src/results/previous.js';
import { absoluteArgv, readPriorRun } from '../../harness/src/run/resume.js';
import { nextAttempt } from '../../harness/src/vm/console-log.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { qemuGone, startCli, tempResults, waitFor } from '../helpers/cli.js';

interface Run { code: number | null; stdout: string; stderr: string }
interface Rec { kernel: string; guest: string; id: string; outcome: string; attempt?: number }
interface Results { complete: boolean; exitCode: number; kernels: Array<{ name: string; attempts: Array<{ attempt: number }> }>; records: Rec[] }

/** Runs the CLI from `cwd` (the shared helper always runs from the checkout). */
function runIn(cwd: string, args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [path.join(projectRoot, 'harness', 'run.mjs'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const readResults = (runDir: string): Results => JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8')) as Results;

/** A copy of a finished run directory in a fresh results folder. */
function copyRun(runDir: string): string {
  const dest = path.join(tempResults(), path.basename(runDir));
  fs.cpSync(runDir, dest, { recursive: true });
  return dest;
}

/** One finished run, started from the checkout with relative --cases and --results, shared by the tests below. */
let finished: Promise<string> | undefined;
function finishedRun(): Promise<string> {
  finished ??= (async () => {
    const results = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-resume-'));
    const run = await runIn(projectRoot, ['--cases', 'cases', '--case', 'commit-repro', '--no-ts', '--results', path.relative(projectRoot, results)]);
    if (run.code !== 0) throw new Error(`the base run failed (${run.code}): ${run.stderr.slice(-2000)}`);
    return path.join(results, fs.readdirSync(results)[0]);
  })();
  return finished;
}

test('issue 9 row 7: run.json stores absolute paths for --cases, --results and --kernels files', (t) => {
  t.deepEqual(
    absoluteArgv(['--cases', 'cases', '--results=out', '--kernels', 'debian-6.12,my/k.yaml', '--case', 'commit-repro', '--kernels=x.yml'], '/w'),
    ['--cases', '/w/cases', '--results=/w/out', '--kernels', 'debian-6.12,/w/my/k.yaml', '--case', 'commit-repro', '--kernels=/w/x.yml'],
  );
});

test('issue 9 row 6: the = forms of --results and --jobs are ignored like the spaced forms when finding the previous run', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-prev-eq-'));
  fs.mkdirSync(path.join(root, '20260101-000000-aaaaaa'));
  fs.writeFileSync(path.join(root, '20260101-000000-aaaaaa', 'run.json'), JSON.stringify({ runId: 'a', argv: ['--case', 'x', '--results', '/r1', '--jobs', '1'] }));
  fs.writeFileSync(path.join(root, '20260101-000000-aaaaaa', 'results.json'), JSON.stringify({ complete: true, records: [] }));
  t.truthy(findPrevious(root, '20260102-000000-bbbbbb', ['--case', 'x', '--results=/r2', '--jobs=2']));
});

test('issue 9 row 11: a null, garbage or torn line of events.jsonl is skipped with a warning naming file:line', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-events-'));
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ runId: 'r', argv: [], startedAt: '' }));
  const report = { id: 'a', status: 'done', results: [] };
  fs.writeFileSync(path.join(dir, 'events.jsonl'), [
    JSON.stringify({ type: 'vm-starting', kernel: 'after', attempt: 1 }),
    'null',
    JSON.stringify({ type: 'cell-observed', kernel: 'after', guest: 'c', id: 'a', status: 'done', report }),
    '{"type":"cell-observed","kernel":"after","gu',
    '[1,2]',
    JSON.stringify({ type: 'cell-observed', kernel: 'after', guest: 'c', id: 'b', status: 'done', report: null }),
    '{"type":"cell-obs',
  ].join('\n'));
  const prior = readPriorRun(dir);
  t.deepEqual([...prior.answered.get('after')!.c.keys()], ['a']);
  t.is(prior.answeredOn.get('after')!.c.get('a'), 1);
  const log = path.join(dir, 'events.jsonl');
  t.deepEqual(prior.skipped.map((s) => s.split(': skipped: ')[0]), [2, 4, 5, 6, 7].map((n) => `${log}:${n}`));
  t.regex(prior.skipped[0], /found null/);
  t.regex(prior.skipped[4], /torn last line/);
});

test('issue 9 row 3: the next VM attempt follows the last console log in the run directory', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-attempt-'));
  t.is(nextAttempt(dir, 'after'), 1);
  for (const n of ['console-after-1.log', 'console-after-3.log', 'console-after-x-7.log', 'console-debian-6.12-4.log']) fs.writeFileSync(path.join(dir, n), '');
  t.is(nextAttempt(dir, 'after'), 4);
  t.is(nextAttempt(dir, 'debian-6.12'), 5);
  t.is(nextAttempt(dir, 'before'), 1);
});

test.serial('issue 9 row 6: --resume=DIR resumes DIR like --resume DIR', async (t) => {
  const runDir = copyRun(await finishedRun());
  const run = await runIn(projectRoot, [`--resume=${runDir}`]);
  t.is(run.code, 0, run.stderr.slice(-2000));
  t.regex(run.stderr, /every cell already answered; not booted/);
  t.deepEqual(fs.readdirSync(path.dirname(runDir)), [path.basename(runDir)], 'no new run directory');
  t.true(readResults(runDir).complete);
});

test.serial('issue 9 row 7: --resume from another folder after a relative --cases and --results', async (t) => {
  const runDir = copyRun(await finishedRun());
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-cwd-'));
  const run = await runIn(elsewhere, ['--resume', runDir]);
  t.is(run.code, 0, run.stderr.slice(-2000));
  t.regex(run.stderr, /every cell already answered; not booted/);
  t.deepEqual(fs.readdirSync(elsewhere), [], 'nothing written in the working folder');
  const manifest = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { argv: string[] };
  t.is(manifest.argv[manifest.argv.indexOf('--cases') + 1], path.join(projectRoot, 'cases'));
  t.true(path.isAbsolute(manifest.argv[manifest.argv.indexOf('--results') + 1]));
});

test.serial('issue 9 row 11: a run whose events.jsonl has a null line can still be resumed', async (t) => {
  const runDir = copyRun(await finishedRun());
  const log = path.join(runDir, 'events.jsonl');
  const lines = fs.readFileSync(log, 'utf8').split('\n');
  lines.splice(3, 0, 'null');
  fs.writeFileSync(log, lines.join('\n') + '{"type":"cell-obs');
  const run = await runIn(projectRoot, ['--resume', runDir]);
  t.is(run.code, 0, run.stderr.slice(-2000));
  t.true(run.stderr.includes(`kph: warning: ${log}:4: skipped: expected a JSON object, found null`), run.stderr.slice(0, 2000));
  t.regex(run.stderr, /events\.jsonl:\d+: skipped: torn last line/);
  t.regex(run.stderr, /every cell already answered; not booted/);
  // The resumed run ended the torn line before appending: its own events are whole lines.
  t.is(readPriorRun(runDir).skipped.length, 2);
});

test.serial('issue 9 row 3: --resume after a kill appends attempt 2 and keeps attempt 1\'s console and records', async (t) => {
  const results = tempResults();
  // One VM at a time, enough cells that the kill lands in the middle of the first kernel's.
  const cli = startCli(['--results', results, '--case', 'selftest-mirror', '--filter', 'fam=inet', '--no-ts', '--jobs', '1']);
  const events = (): string => {
    const dir = fs.readdirSync(results)[0];
    const f = dir ? path.join(results, dir, 'events.jsonl') : '';
    return f && fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
  };
  await waitFor(events, (s) => (s.match(/"cell-observed"/g) ?? []).length >= 3, 900_000);
  cli.child.kill('SIGKILL');
  await cli.done;
  t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
  const runDir = path.join(results, fs.readdirSync(results)[0]);
  const observed = events().split('\n').filter((l) => l.includes('"cell-observed"')).map((l) => JSON.parse(l) as { kernel: string; guest: string; id: string });
  const kernel = observed[0].kernel;
  const console1 = path.join(runDir, `console-${kernel}-1.log`);
  const evidence = fs.readFileSync(console1);
  const resumed = await runIn(projectRoot, ['--resume', runDir]);
  t.is(resumed.code, 0, resumed.stderr.slice(-2000));
  t.regex(resumed.stderr, new RegExp(`took over the lock of PID ${cli.child.pid} on .*, which is gone`), 'the killed owner\'s lock is stale');
  t.deepEqual(fs.readFileSync(console1), evidence, `console-${kernel}-1.log is not rewritten`);
  const res = readResults(runDir);
  t.true(res.complete);
  // n/a cells were never sent to any VM: they have no attempt.
  const mine = res.records.filter((r) => r.kernel === kernel && r.outcome !== 'NA');
  const earlier = new Set(observed.filter((o) => o.kernel === kernel).map((o) => `${o.guest}/${o.id}`));
  for (const r of mine) {
    const want = earlier.has(`${r.guest}/${r.id}`) ? 1 : 2;
    t.is(r.attempt, want, `${r.guest}/${r.id} answered on VM ${want}`);
  }
  t.log(`${kernel}: ${mine.filter((r) => r.attempt === 1).length} records from VM 1, ${mine.filter((r) => r.attempt === 2).length} from VM 2`);
  t.true(mine.some((r) => r.attempt === 1), 'answers of the killed run are kept');
  t.true(mine.some((r) => r.attempt === 2), 'the kill left cells for the resumed run');
  t.true(fs.existsSync(path.join(runDir, `console-${kernel}-2.log`)), 'the new VM has its own console log');
  t.deepEqual(res.kernels.find((k) => k.name === kernel)!.attempts.map((a) => a.attempt), [1, 2]);
});
