// The example CI workflow (.github/workflows/nightly.yml): a matrix of N shards whose values are
// exactly 1/N … N/N, each passed to `--shard` and each uploading its results; a merge job that
// downloads them all, merges and uploads the merged results and kcidb.json.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { projectRoot } from '../harness/src/util/paths.js';

interface Step { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown> }
interface Job { needs?: string | string[]; if?: string; strategy?: { 'fail-fast'?: boolean; matrix?: Record<string, unknown> }; steps: Step[] }
interface Workflow { on: Record<string, unknown>; jobs: Record<string, Job> }

const wf = parse(fs.readFileSync(path.join(projectRoot, '.github/workflows/nightly.yml'), 'utf8')) as Workflow;
const shardJobs = Object.entries(wf.jobs).filter(([, j]) => j.strategy?.matrix?.shard);

test('runs nightly and on demand', (t) => {
  t.deepEqual(Object.keys(wf.on).sort(), ['schedule', 'workflow_dispatch']);
  const schedule = wf.on.schedule as Array<{ cron: string }>;
  t.is(schedule.length, 1);
  t.is(schedule[0].cron.split(' ').length, 5);
});

test('the matrix has N shards, exactly 1/N … N/N, and each runs the harness with --shard', (t) => {
  t.is(shardJobs.length, 1);
  const [, job] = shardJobs[0];
  const shards = job.strategy!.matrix!.shard as string[];
  const n = shards.length;
  t.true(n >= 2);
  const parsed = shards.map((s) => /^(\d+)\/(\d+)$/.exec(s)).map((m) => (m ? [Number(m[1]), Number(m[2])] : [NaN, NaN]));
  t.deepEqual(parsed.map(([, d]) => d), Array(n).fill(n), 'every shard is out of N = the number of matrix entries');
  t.deepEqual(parsed.map(([i]) => i).sort((a, b) => a - b), Array.from({ length: n }, (_, k) => k + 1));
  t.false(job.strategy!['fail-fast'], 'one failing shard does not cancel the others');
  const runs = job.steps.filter((s) => s.run?.includes('harness/run.mjs'));
  t.is(runs.length, 1);
  t.regex(runs[0].run!, /npx zx harness\/run\.mjs --shard \$\{\{ matrix\.shard \}\}/);
});

test('every shard job uploads its results, even when the run failed', (t) => {
  for (const [name, job] of shardJobs) {
    const runAt = job.steps.findIndex((s) => s.run?.includes('harness/run.mjs'));
    const upload = job.steps.findIndex((s, i) => i > runAt && s.uses?.startsWith('actions/upload-artifact@') && s.with?.path === 'results/');
    t.true(upload > runAt, `${name} uploads results/ after the run`);
    const step = job.steps[upload];
    t.regex(step.if ?? '', /always\(\)|!cancelled\(\)/, 'uploaded after a failing run too');
    t.regex(String(step.with?.name), /matrix\.shard|steps\.|strategy\.job-index/, 'one artifact name per shard');
  }
});

test('the merge job downloads every shard, merges, and uploads merged/ and kcidb.json', (t) => {
  const merges = Object.entries(wf.jobs).filter(([, j]) => j.steps.some((s) => s.run?.includes('harness/merge.mjs')));
  t.is(merges.length, 1);
  const [, job] = merges[0];
  const needs = [job.needs ?? []].flat();
  t.deepEqual(needs, shardJobs.map(([name]) => name));
  t.regex(job.if ?? '', /always\(\)|!cancelled\(\)/);
  const download = job.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'));
  t.truthy(download);
  t.is(download!.with?.path, 'results');
  t.true(download!.with?.['merge-multiple']);
  const pattern = String(download!.with?.pattern);
  t.true(pattern.endsWith('*'));
  t.true(shardJobs.every(([, j]) => JSON.stringify(j.steps).includes(pattern.slice(0, -1))), 'the pattern matches the shard artifacts');
  t.regex(job.steps.find((s) => s.run?.includes('harness/merge.mjs'))!.run!, /npx zx harness\/merge\.mjs results\/\*\/ --out merged\//);
  const uploaded = job.steps.filter((s) => s.uses?.startsWith('actions/upload-artifact@')).map((s) => s.with?.path);
  t.true(uploaded.includes('merged/'));
  t.true(uploaded.includes('merged/kcidb.json'));
});
