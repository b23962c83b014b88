// The run phase's scheduling: how many VMs each kernel gets (planVms, batchSize, vcpusPerVm),
// the progress reporter's lines, the NA outcome of cells that are not sent, and two real runs:
// one kernel split over two VMs (separate consoles, every applicable cell answered once, NA
// cells never sent, progress on stderr), and a flipped oracle still caught with NA in place.
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { flippedProfiles, notApplicable } from '../../harness/src/oracle/adapter.js';
import { defaultPlan } from '../../harness/src/plan/default.js';
import type { PlannedCell } from '../../harness/src/core/planned.js';
import { classify, exitCodeFor, rollUp } from '../../harness/src/core/verdict.js';
import { assemble } from '../../harness/src/run/assemble.js';
import type { RunEvent } from '../../harness/src/run/events.js';
import type { KernelJobResult } from '../../harness/src/run/kernel-job.js';
import { progressReporter } from '../../harness/src/run/reporters.js';
import { batchSize, MIN_CELLS_PER_VM, minCellsPerVm, planVms, vcpusPerVm } from '../../harness/src/run/scheduler.js';
import { qemuGone, startCli, tempResults } from '../helpers/cli.js';

const AFTER = '4b01a967+followup';
const BEFORE = 'pre-4b01a967';

test('planVms: one VM per kernel first, then more to the busiest while a VM keeps enough cells', (t) => {
  // The default plan: 1,162 (guest, cell) pairs on after, 581 on before.
  t.deepEqual(planVms([1162, 581], 1), [1, 1], 'every kernel gets a VM even when jobs < kernels (they queue)');
  t.deepEqual(planVms([1162, 581], 2), [1, 1]);
  t.deepEqual(planVms([1162, 581], 3), [2, 1], 'after has twice the cells: it gets the third VM');
  t.deepEqual(planVms([1162, 581], 4), [3, 1]);
  t.deepEqual(planVms([1162, 581], 16), [3, 1], 'never more VMs than the work pays for');
  t.deepEqual(planVms([4, 2], 8), [1, 1]);
  t.deepEqual(planVms([0, 10], 4), [0, 1], 'a kernel with nothing to send boots nothing');
  t.deepEqual(planVms([194, 97], 3, 40), [2, 1]);
});

test('vcpusPerVm: cores left over by the VMs worth booting, 1 to 4', (t) => {
  t.is(vcpusPerVm(2, 2), 1);
  t.is(vcpusPerVm(2, 4), 1);
  t.is(vcpusPerVm(8, 4), 2);
  t.is(vcpusPerVm(64, 2), 4);
});

test('batchSize: a lone VM that cannot be joined takes everything; siblings and a possible extra VM share', (t) => {
  t.is(batchSize(1162, { jobs: 1, running: 1, lanes: 1, vcpus: 1 }), 1162);
  t.is(batchSize(1162, { jobs: 2, running: 1, lanes: 1, vcpus: 1 }), 581, 'another VM may come when a slot frees');
  t.is(batchSize(400, { jobs: 2, running: 1, lanes: 1, vcpus: 1 }), 400, 'too few cells left for another VM');
  t.is(batchSize(1162, { jobs: 3, running: 2, lanes: 1, vcpus: 1 }), 388, 'a booting sibling keeps its share, and a third VM may come');
  t.is(batchSize(800, { jobs: 3, running: 2, lanes: 1, vcpus: 1 }), 400, 'a booting sibling keeps its share');
  t.is(batchSize(60, { jobs: 3, running: 2, lanes: 2, vcpus: 1 }), 60, 'no batch smaller than a quarter of the split threshold');
  t.is(batchSize(20, { jobs: 3, running: 2, lanes: 2, vcpus: 1, minCells: 8 }), 10);
});

test('minCellsPerVm: $KPH_MIN_CELLS_PER_VM (a test hook) or the default', (t) => {
  t.is(minCellsPerVm({}), MIN_CELLS_PER_VM);
  t.is(minCellsPerVm({ KPH_MIN_CELLS_PER_VM: '12' }), 12);
  t.is(minCellsPerVm({ KPH_MIN_CELLS_PER_VM: 'x' }), MIN_CELLS_PER_VM);
});

test('NA: not applicable and not sent; left out of roll-ups; a fine exit', (t) => {
  const same = () => ({ match: true });
  t.deepEqual(classify({ kind: 'not-applicable', reason: 'no sysctl' }, undefined, undefined, same), { outcome: 'NA', reason: 'no sysctl' });
  t.is(rollUp(['NA', 'NA']), 'PASS');
  t.is(rollUp(['NA', 'PASS', 'SKIP']), 'PASS');
  t.is(exitCodeFor(['NA', 'PASS', 'SKIP']), 0);
  // Even when the kernel's VMs failed, a cell that was never going to be sent stays NA (not MISS).
  const cell = defaultPlan().find((c) => c.id === 'commit-repro/reuse=absent,range=one-port,fam=inet,addr=loopback')!;
  const job: KernelJobResult = { kernel: { name: 'after', release: 'r', bzImage: '', profile: AFTER }, attempts: [], reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {}, infraError: 'boot no-ssh' };
  const table = flippedProfiles([]);
  const [rec] = assemble([job], [cell], (c, p) => (notApplicable(c, p, table) ? { kind: 'not-applicable', reason: notApplicable(c, p, table)! } : { kind: 'predicted', profile: p, ops: [] }), () => ({ match: true }));
  t.like(rec, { outcome: 'NA', kernel: 'after' });
});

/** Feeds events to a progress reporter writing into a string. */
function progressOf(tty: boolean, everyMs = 10_000): { feed: (e: RunEvent) => void; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const r = progressReporter(out, { tty, everyMs });
  return { feed: r, text: () => text };
}

const observed = (kernel: string, n: number): RunEvent => ({ type: 'cell-observed', kernel, guest: 'c', id: `x/${n}`, status: 'done', report: { id: `x/${n}`, status: 'done', results: [] } });

test('progress: a plain line per kernel every period when not a terminal, and a last line when a kernel is done', async (t) => {
  const p = progressOf(false, 50);
  p.feed({ type: 'kernel-cells', kernel: 'after', cells: 4 });
  p.feed({ type: 'kernel-cells', kernel: 'before', cells: 2 });
  await new Promise((r) => setTimeout(r, 80));
  t.regex(p.text(), /\] after: 0\/4 cells, booting\n/);
  p.feed({ type: 'vm-boot', kernel: 'after', attempt: 1, kind: 'ready', bootMs: 1 });
  for (let i = 0; i < 3; i++) p.feed(observed('after', i));
  await new Promise((r) => setTimeout(r, 80));
  t.regex(p.text(), /\] after: 3\/4 cells, \d+\/s, ETA \d+ s\n/);
  p.feed(observed('after', 3));
  t.regex(p.text(), /\] after: 4\/4 cells in [\d.]+ s, \d+\/s\n/);
  t.notRegex(p.text(), /\r/, 'no carriage returns in a log');
  p.feed({ type: 'phase', phase: 'run', state: 'end', ms: 1 });
  t.regex(p.text(), /\] before: 0\/2 cells, booting\n$/, 'the phase end says where each unfinished kernel stopped');
  const settled = p.text();
  await new Promise((r) => setTimeout(r, 120));
  t.is(p.text(), settled, 'no line after the run phase');
});

test('progress: one live line redrawn in place on a terminal', (t) => {
  const p = progressOf(true);
  p.feed({ type: 'kernel-cells', kernel: 'after', cells: 2 });
  p.feed({ type: 'vm-boot', kernel: 'after', attempt: 1, kind: 'ready', bootMs: 1 });
  p.feed(observed('after', 0));
  t.regex(p.text(), /^\r\x1b\[Kafter: 1\/2 cells, \d+\/s, ETA \d+ s$/);
  p.feed(observed('after', 1));
  t.regex(p.text(), /\r\x1b\[K\[ *[\d.]+ s\] after: 2\/2 cells in [\d.]+ s, \d+\/s\n$/);
});

interface Rec { kernel: string; guest: string; id: string; outcome: string; reason: string; attempt?: number }
interface Results { exitCode: number; kernels: Array<{ name: string; attempts: Array<{ attempt: number; kind: string }> }>; records: Rec[] }

const SPLIT_CASES = ['bound-holder', 'listen-first', 'follow-up-euid', 'bind-all-then-connect', 'app-two-clients'];

test.serial('a real run splits the busy kernel over two VMs: separate consoles, every applicable cell answered once, NA never sent, progress on stderr', async (t) => {
  const cells = defaultPlan().filter((c) => SPLIT_CASES.includes(c.case));
  const table = flippedProfiles([]);
  const applies = (c: PlannedCell, profile: string): boolean => notApplicable(c, profile, table) === null;
  const pairs = (profile: string): number => cells.filter((c) => applies(c, profile)).reduce((n, c) => n + c.guests.length, 0);
  t.log(`after: ${pairs(AFTER)} (guest, cell) pairs, before: ${pairs(BEFORE)}`);

  const started = Date.now();
  const cli = startCli(['--results', tempResults(), '--jobs', '3', ...SPLIT_CASES.flatMap((c) => ['--case', c])], { KPH_MIN_CELLS_PER_VM: '40' });
  const run = await cli.done;
  const ms = Date.now() - started;
  t.log(`exit ${run.code} in ${(ms / 1000).toFixed(1)} s`);
  t.deepEqual(await qemuGone(cli.child.pid!, 10_000), [], 'no QEMU of this run is left');
  t.is(run.code, 0, run.stderr.slice(-3000));
  const runDir = run.runDir!;
  const res = JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8')) as Results;

  // after (twice before's cells) got two VMs at once, before one; each VM has its own console.
  t.deepEqual(res.kernels.find((k) => k.name === 'after')!.attempts.map((a) => [a.attempt, a.kind]), [[1, 'ready'], [2, 'ready']]);
  t.deepEqual(res.kernels.find((k) => k.name === 'before')!.attempts.map((a) => [a.attempt, a.kind]), [[1, 'ready']]);
  for (const f of ['console-after-1.log', 'console-after-2.log', 'console-before-1.log']) t.true(fs.statSync(path.join(runDir, f)).size > 0, f);
  t.false(fs.existsSync(path.join(runDir, 'console-before-2.log')));

  // Every applicable (kernel, guest, cell) answered exactly once; the NA ones never reached a guest.
  const events = fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent & { t: string });
  const seen = new Map<string, number>();
  for (const e of events) if (e.type === 'cell-observed') seen.set(`${e.kernel}/${e.guest}/${e.id}`, (seen.get(`${e.kernel}/${e.guest}/${e.id}`) ?? 0) + 1);
  for (const [kernel, profile] of [['after', AFTER], ['before', BEFORE]] as const) {
    for (const c of cells) {
      for (const g of c.guests) {
        const key = `${kernel}/${g}/${c.id}`;
        const rec = res.records.find((r) => r.kernel === kernel && r.guest === g && r.id === c.id)!;
        if (applies(c, profile)) {
          t.is(seen.get(key), 1, key);
          t.is(rec.outcome, 'PASS', `${key}: ${rec.reason}`);
        } else {
          t.is(seen.get(key), undefined, `${key} is not applicable and must not be sent`);
          t.is(rec.outcome, 'NA', key);
        }
      }
    }
  }
  // Records name the VM that answered them, and both of after's VMs answered cells.
  const onVm = (n: number): number => res.records.filter((r) => r.kernel === 'after' && r.outcome === 'PASS' && r.attempt === n).length;
  t.log(`after: ${onVm(1)} cells on VM 1, ${onVm(2)} on VM 2`);
  t.true(onVm(1) > 0 && onVm(2) > 0);
  t.is(onVm(1) + onVm(2), pairs(AFTER));
  t.true(res.records.filter((r) => r.kernel === 'before' && r.outcome === 'PASS').every((r) => r.attempt === 1));

  // Progress on stderr (not a terminal here): plain lines, a last line per kernel.
  t.notRegex(run.stderr, /\r/);
  t.regex(run.stderr, new RegExp(`\\] after: ${pairs(AFTER)}/${pairs(AFTER)} cells in [\\d.]+ s, \\d+/s\\n`));
  t.regex(run.stderr, new RegExp(`\\] before: ${pairs(BEFORE)}/${pairs(BEFORE)} cells in [\\d.]+ s, \\d+/s\\n`));
  // A periodic line (every 5 s) during a run phase that lasted longer than that.
  t.regex(run.stderr, new RegExp(`\\] after: \\d+/${pairs(AFTER)} cells, (booting|\\d+/s, ETA)`));
});

test.serial('a flipped sysctl flag in the oracle is still caught: the cells it now says apply are sent and FAIL', async (t) => {
  const cli = startCli(['--results', tempResults(), '--oracle-flip', 'autobindReuseSysctl', '--case', 'commit-repro', '--no-ts']);
  const run = await cli.done;
  t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
  t.is(run.code, 1, run.stderr.slice(-2000));
  const res = JSON.parse(fs.readFileSync(path.join(run.runDir!, 'results.json'), 'utf8')) as Results;
  const on = (kernel: string, reuse: string): Rec[] => res.records.filter((r) => r.kernel === kernel && r.id.includes(`reuse=${reuse},`));
  // The flipped after profile has no sysctl: the reuse=absent cells are sent (the guest says unsupported) and FAIL; reuse=0/1 are NA.
  for (const r of on('after', 'absent')) t.like(r, { outcome: 'FAIL' });
  t.regex(on('after', 'absent')[0].reason, /the oracle expected this cell to run, but the guest says/);
  for (const r of [...on('after', '0'), ...on('after', '1')]) t.is(r.outcome, 'NA', r.id);
});
