// The example CI workflow (.github/workflows/nightly.yml): one build job (`--build-only`) whose
// artefacts the shards reuse, its cache keyed on what the harness's own keys cover and holding
// no build tree; a matrix of N shards whose values are exactly 1/N … N/N, each passed to
// `--shard` and each uploading its results; a merge job that downloads them all, merges
// without --allow-partial, and publishes the merged results, kcidb.json, a JUnit report and
// a job summary.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { projectRoot } from '../../harness/src/util/paths.js';

interface Step { id?: string; name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown> }
interface Job { needs?: string | string[]; if?: string; permissions?: Record<string, string>; strategy?: { 'fail-fast'?: boolean; matrix?: Record<string, unknown> }; steps: Step[] }
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

const needsOf = (j: Job): string[] => [j.needs ?? []].flat();
const buildJobs = Object.entries(wf.jobs).filter(([, j]) => j.steps.some((s) => /harness\/run\.mjs --build-only\b/.test(s.run ?? '')));
const mergeJob = Object.values(wf.jobs).find((j) => j.steps.some((s) => s.run?.includes('harness/merge.mjs')))!;

test('issue 9 row 18: one build job builds (boots nothing) and every shard job needs it and unpacks its artefacts into KPH_CACHE_DIR', (t) => {
  t.is(buildJobs.length, 1, 'exactly one job runs harness/run.mjs --build-only');
  const [buildName, build] = buildJobs[0];
  t.false(build.steps.some((s) => /harness\/run\.mjs(?! --build-only)/.test(s.run ?? '')), 'the build job runs nothing but --build-only');
  const upload = build.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
  t.truthy(upload, 'the build job uploads what it built');
  const artifact = String(upload!.with?.name);
  for (const [name, job] of shardJobs) {
    t.true(needsOf(job).includes(buildName), `${name} needs ${buildName}`);
    const runAt = job.steps.findIndex((s) => s.run?.includes('harness/run.mjs'));
    const download = job.steps.findIndex((s) => s.uses?.startsWith('actions/download-artifact@') && s.with?.name === artifact);
    t.true(download >= 0 && download < runAt, `${name} downloads ${artifact} before running`);
    t.true(job.steps.slice(download, runAt).some((s) => /tar -C "?\$KPH_CACHE_DIR"? -xf/.test(s.run ?? '')), `${name} unpacks it into $KPH_CACHE_DIR`);
    t.false(job.steps.some((s) => s.uses?.startsWith('actions/cache@')), `${name} does not build or cache kernels itself`);
  }
  t.is(String((wf as unknown as { env: Record<string, string> }).env.KPH_CACHE_DIR), '/var/cache/kph');
});

test('issue 9 row 18: the cache and the handed-on artefacts hold the built kernels, image and guests, never the build tree', (t) => {
  const [, build] = buildJobs[0];
  const caches = build.steps.filter((s) => s.uses?.startsWith('actions/cache@'));
  t.is(caches.length, 1);
  const paths = String(caches[0].with?.path).split('\n').map((p) => p.trim()).filter(Boolean);
  t.deepEqual(paths.sort(), ['/var/cache/kph/c-guest', '/var/cache/kph/guest-image', '/var/cache/kph/kernel', '/var/cache/kph/selftest']);
  t.false(paths.some((p) => /kernel-tree|kernel-git|^\/var\/cache\/kph\/?$/.test(p)), 'no build tree, not the whole cache');
  t.is(caches[0].with?.['restore-keys'], undefined, 'no restore-keys: a cache never starts from an older one, so it does not grow');
  const tar = build.steps.find((s) => /tar .*-cf/.test(s.run ?? ''))!;
  t.truthy(tar);
  t.regex(tar.run!, / kernel guest-image c-guest selftest\s*$/);
  t.notRegex(tar.run!, /kernel-tree|kernel-git/);
});

test('issue 9 row 18: the cache key covers the Debian source version, the compiler and the kernel inputs', (t) => {
  const [, build] = buildJobs[0];
  const cache = build.steps.find((s) => s.uses?.startsWith('actions/cache@'))!;
  const ref = /^\$\{\{ steps\.([\w-]+)\.outputs\.key \}\}$/.exec(String(cache.with?.key));
  t.truthy(ref, 'the key is computed by an earlier step');
  const keyAt = build.steps.findIndex((s) => s.id === ref![1]);
  const keyStep = build.steps[keyAt];
  t.true(keyAt >= 0 && keyAt < build.steps.indexOf(cache));
  const provisionAt = build.steps.findIndex((s) => /npm run provision|harness\/provision\.mjs/.test(s.run ?? ''));
  t.true(provisionAt >= 0 && provisionAt < keyAt, 'the packages are installed before their versions are read');
  t.regex(keyStep.run!, /dpkg-query -W[^\n]*\blinux-source-6\.1\b/, 'the source package version');
  t.regex(keyStep.run!, /dpkg-query -W[^\n]*\bbusybox-static\b[^\n]*\bdropbear-bin\b/, 'the guest image packages');
  t.regex(keyStep.run!, /gcc --version/, 'the compiler');
  t.regex(keyStep.run!, /node --version/, 'the Node.js in the image');
  const hashed = /hashFiles\(([^)]*)\)/.exec(keyStep.run!)?.[1] ?? '';
  for (const p of ['kernels/**', 'guest/**', 'cases/**', 'harness/src/kernel/**', 'harness/src/image/**', 'harness/src/guests/**', 'harness/src/selftests/**']) t.true(hashed.includes(`'${p}'`), p);
  // What the harness's own kernel key includes (harness/src/kernel/keys.ts).
  const keys = fs.readFileSync(path.join(projectRoot, 'harness/src/kernel/keys.ts'), 'utf8');
  t.regex(keys, /dpkg-query/);
  t.regex(keys, /'gcc', \['--version'\]/);
});

test('issue 9 row 18: the merge fails when a shard is missing, and publishes a JUnit report and a job summary', (t) => {
  const mergeStep = mergeJob.steps.find((s) => s.run?.includes('harness/merge.mjs'))!;
  t.notRegex(mergeStep.run!, /--allow-partial/, 'a missing shard fails the merge');
  t.regex(mergeStep.run!, /set -o pipefail/, 'the merge exit code is not hidden by tee');
  t.is(mergeStep.if, undefined, 'the merge step runs in the normal flow and fails the job');
  const after = mergeJob.steps.slice(mergeJob.steps.indexOf(mergeStep) + 1);
  const junit = after.find((s) => /junit/i.test(s.uses ?? ''));
  t.truthy(junit, 'a JUnit report step');
  t.regex(JSON.stringify(junit!.with), /merged\/junit\.xml/);
  t.regex(junit!.if ?? '', /!cancelled\(\)|always\(\)/);
  t.is(mergeJob.permissions?.checks, 'write', 'the JUnit action may create a check run');
  const summary = after.find((s) => s.run?.includes('$GITHUB_STEP_SUMMARY'));
  t.truthy(summary, 'a job summary step');
  t.regex(summary!.run!, /merged\/summary\.md/);
  t.regex(summary!.if ?? '', /!cancelled\(\)|always\(\)/, 'the summary is written when the merge refused too');
});
