// --shard splits the plan deterministically, and merging the shard runs gives the same report
// as one unsharded run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../../harness/src/util/paths.js';
import { runCli, tempResults } from '../helpers/cli.js';

const planIds = (args: string[]): string[] => {
  const r = spawnSync(process.execPath, [path.join(projectRoot, 'harness/run.mjs'), '--plan', ...args], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes('/')).map((l) => l.split(' ')[0]);
};

test('shards partition the plan: disjoint, complete, stable', (t) => {
  const all = planIds([]);
  const shards = [1, 2, 3].map((i) => planIds(['--shard', `${i}/3`]));
  t.deepEqual([...shards.flat()].sort(), [...all].sort());
  t.is(new Set(shards.flat()).size, all.length);
  t.deepEqual(planIds(['--shard', '2/3']), shards[1]);
  t.true(shards.every((s) => Math.abs(s.length - all.length / 3) <= 1));
});

interface Doc { records: Array<{ kernel: string; guest: string; id: string; outcome: string; observed?: { status: string; results?: Array<{ ok: boolean; errno?: string }> } }>; exitCode: number; complete: boolean; mergedFrom?: string[] }
const read = (dir: string): Doc => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
// What a report says about each cell, without run-specific details (ports, timings, run ids).
const essence = (d: Doc): string[] => d.records.map((r) => `${r.kernel} ${r.guest} ${r.id} ${r.outcome} ${JSON.stringify(r.observed?.results?.map((x) => x.ok || x.errno))}`).sort();
const matrixOf = (dir: string): string => {
  const md = fs.readFileSync(path.join(dir, 'summary.md'), 'utf8');
  return md.slice(md.indexOf('## Matrix'), md.indexOf('## Timings'));
};

test.serial('two shards merged give the same report as one unsharded run', async (t) => {
  const args = ['--case', 'commit-repro', '--case', 'commit-6-step', '--no-ts'];
  const [whole, s1, s2] = await Promise.all([
    runCli(['--results', tempResults(), ...args]),
    runCli(['--results', tempResults(), ...args, '--shard', '1/2']),
    runCli(['--results', tempResults(), ...args, '--shard', '2/2']),
  ]);
  for (const r of [whole, s1, s2]) t.is(r.code, 0, r.stderr.slice(-1500));
  const out = path.join(tempResults(), 'merged');
  const merge = spawnSync(process.execPath, [path.join(projectRoot, 'harness/merge.mjs'), s1.runDir!, s2.runDir!, '--out', out], { encoding: 'utf8' });
  t.is(merge.status, 0, merge.stderr);
  const merged = read(out);
  t.true(merged.complete);
  t.deepEqual(merged.mergedFrom, [s1.runDir, s2.runDir]);
  t.true(read(s1.runDir!).records.length < merged.records.length);
  t.deepEqual(essence(merged), essence(read(whole.runDir!)));
  t.is(matrixOf(out), matrixOf(whole.runDir!));
  for (const f of ['report.html', 'kcidb.json', 'junit.xml', 'results.ktap']) t.true(fs.existsSync(path.join(out, f)), f);
});

test('merge refuses an unfinished run with a clear message', (t) => {
  const dir = tempResults();
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ runId: 'x', argv: ['--case', 'commit-repro'], startedAt: new Date().toISOString() }));
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ runId: 'x', complete: false }));
  const r = spawnSync(process.execPath, [path.join(projectRoot, 'harness/merge.mjs'), dir, '--out', path.join(dir, 'o')], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.true(r.stderr.includes(`shard 1/1 (${dir}) did not finish: results.json says complete: false (resume it with --resume ${dir})`), r.stderr);
});
