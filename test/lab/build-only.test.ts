// `harness/run.mjs --build-only` (the nightly workflow's build job): builds the kernels, the
// guest image, the C guest and the selftests into the cache, boots nothing, exits 0; and the
// run's run.json records which plan and shard it belongs to (what harness/merge.mjs checks).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { runCli, tempResults } from '../helpers/cli.js';

test('--build-only builds into the cache, boots nothing and exits 0', async (t) => {
  const r = await runCli(['--results', tempResults(), '--case', 'commit-repro', '--build-only']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.truthy(r.runDir);
  const doc = JSON.parse(fs.readFileSync(path.join(r.runDir!, 'results.json'), 'utf8')) as { complete: boolean; buildOnly: boolean; exitCode: number; kernels: Array<{ name: string; bzImage: string }>; records?: unknown };
  t.true(doc.buildOnly);
  t.true(doc.complete);
  t.is(doc.exitCode, 0);
  t.deepEqual(doc.kernels.map((k) => k.name), ['after', 'before']);
  for (const k of doc.kernels) t.true(fs.existsSync(k.bzImage), k.bzImage);
  t.is(doc.records, undefined);
  const files = fs.readdirSync(r.runDir!);
  t.false(files.some((f) => f.startsWith('console-')), `no VM was booted: ${files.join(' ')}`);
  t.notRegex(r.stderr, /booting|boot attempt/i);
  t.regex(r.stderr, /build-only: kernels, guest image, C guest and \d+ selftest\(s\) are in the cache; nothing booted/);
});

test('run.json records the plan and the shard (what the merge checks)', async (t) => {
  // --build-only is the cheapest real run that writes a run directory.
  const r = await runCli(['--results', tempResults(), '--case', 'commit-repro', '--shard', '2/4', '--build-only']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  const m = JSON.parse(fs.readFileSync(path.join(r.runDir!, 'run.json'), 'utf8')) as { plan: { digest: string; cells: number; shard: { index: number; count: number } } };
  t.deepEqual(m.plan.shard, { index: 2, count: 4 });
  t.is(m.plan.cells, 6, 'the size of the whole selection, not of the shard');
  t.regex(m.plan.digest, /^[0-9a-f]{20}$/);
});
