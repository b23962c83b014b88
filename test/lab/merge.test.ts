// harness/merge.mjs refuses a shard set that is not one whole plan (exit 2, one line per
// problem) unless --allow-partial, which marks the result incomplete and never exits 0.
// One real run of shard 1/4 (commit-repro on both kernels in QEMU) is the source of truth; the
// other shard directories are copies of it whose run.json/results.json are edited to say what
// each case needs (another shard, with no records; another plan; unfinished).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../../harness/src/util/paths.js';
import { runCli, tempResults } from '../helpers/cli.js';

const merge = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [path.join(projectRoot, 'harness/merge.mjs'), ...args], { encoding: 'utf8' });

const ARGS = ['--case', 'commit-repro', '--no-ts'];
let shard1: Promise<string> | undefined;
/** The run directory of a real `--shard 1/4` run (made once for the file). */
function realShard1(): Promise<string> {
  shard1 ??= runCli(['--results', tempResults(), ...ARGS, '--shard', '1/4']).then((r) => {
    if (r.code !== 0 || !r.runDir) throw new Error(`shard 1/4 run failed (exit ${r.code}):\n${r.stderr.slice(-2000)}`);
    return r.runDir;
  });
  return shard1;
}

interface Edit { shard?: string; argv?: (argv: string[]) => string[]; complete?: boolean }
/** A copy of run directory `src` whose run.json/results.json say what `edit` asks. */
function copyRun(src: string, edit: Edit): string {
  const dir = path.join(tempResults(), path.basename(src));
  fs.cpSync(src, dir, { recursive: true });
  const manifestFile = path.join(dir, 'run.json');
  const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { argv: string[]; plan?: { shard?: { index: number; count: number } } };
  if (edit.shard) {
    const [index, count] = edit.shard.split('/').map(Number);
    m.argv = m.argv.map((a, i) => (m.argv[i - 1] === '--shard' ? edit.shard! : a));
    if (m.plan) m.plan.shard = { index, count };
  }
  if (edit.argv) m.argv = edit.argv(m.argv);
  fs.writeFileSync(manifestFile, JSON.stringify(m));
  // Another slice must not repeat shard 1's records: the copy keeps none.
  const resultsFile = path.join(dir, 'results.json');
  const doc = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(resultsFile, JSON.stringify({ ...doc, ...(edit.shard ? { records: [] } : {}), ...(edit.complete !== undefined ? { complete: edit.complete } : {}) }));
  return dir;
}

const outDir = (): string => path.join(tempResults(), 'merged');

test('issue 9 row 13: merge of shard 1/4 alone exits 2 naming shards 2, 3, 4', async (t) => {
  const s1 = await realShard1();
  const out = outDir();
  const r = merge([s1, '--out', out]);
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /shard 2\/4, 3\/4 and 4\/4 missing/);
  t.regex(r.stderr, /--allow-partial/);
  t.false(fs.existsSync(path.join(out, 'results.json')), 'nothing published');
});

test('issue 9 row 13: --allow-partial merges shard 1/4, marks the result incomplete and exits 3, not 0', async (t) => {
  const s1 = await realShard1();
  const out = outDir();
  const r = merge([s1, '--out', out, '--allow-partial']);
  t.is(r.status, 3, r.stderr);
  t.regex(r.stderr, /INCOMPLETE: shard 2\/4, 3\/4, 4\/4 missing/);
  const doc = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { complete: boolean; exitCode: number; missingShards: string[]; records: unknown[]; mergedFrom: string[] };
  t.false(doc.complete);
  t.is(doc.exitCode, 3);
  t.deepEqual(doc.missingShards, ['2/4', '3/4', '4/4']);
  t.deepEqual(doc.mergedFrom, [s1]);
  const shardDoc = JSON.parse(fs.readFileSync(path.join(s1, 'results.json'), 'utf8')) as { records: unknown[] };
  t.is(doc.records.length, shardDoc.records.length);
  const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  t.regex(summary, /\(INCOMPLETE\)/);
  t.regex(summary, /Partial merge: shard 2\/4, 3\/4, 4\/4 missing/);
  for (const f of ['junit.xml', 'kcidb.json', 'report.html', 'results.ktap']) t.true(fs.existsSync(path.join(out, f)), f);
});

test('issue 9 row 13: merge refuses a shard given twice', async (t) => {
  const s1 = await realShard1();
  const twin = copyRun(s1, {});
  const r = merge([s1, twin, copyRun(s1, { shard: '2/4' }), copyRun(s1, { shard: '3/4' }), copyRun(s1, { shard: '4/4' }), '--out', outDir(), '--allow-partial']);
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, new RegExp(`shard 1/4 given 2 times: ${s1} and ${twin}`));
});

test('issue 9 row 13: merge refuses shards of different plans or different N', async (t) => {
  const s1 = await realShard1();
  const otherN = copyRun(s1, { shard: '2/3' });
  const n = merge([s1, otherN, '--out', outDir(), '--allow-partial']);
  t.is(n.status, 2, n.stderr);
  t.regex(n.stderr, /different numbers of shards: 1\/4 \(.*\) vs 2\/3 \(.*\)/);
  const otherPlan = copyRun(s1, { shard: '2/4', argv: (a) => a.map((x) => (x === 'commit-repro' ? 'commit-6-step' : x)) });
  const p = merge([s1, otherPlan, '--out', outDir(), '--allow-partial']);
  t.is(p.status, 2, p.stderr);
  t.regex(p.stderr, /not shards of one plan/);
  t.true(p.stderr.includes(otherPlan));
  // Where results went and how many VMs ran at once are not the plan: those may differ.
  const elsewhere = copyRun(s1, { shard: '2/4', argv: (a) => [...a, '--jobs', '1'] });
  const ok = merge([s1, elsewhere, '--out', outDir(), '--allow-partial']);
  t.is(ok.status, 3, ok.stderr);
  t.regex(ok.stderr, /merged shards 1\/4, 2\/4, .*INCOMPLETE: shard 3\/4, 4\/4 missing/);
});

test('issue 9 row 13: merge refuses an unfinished shard unless --allow-partial, which lists it as missing', async (t) => {
  const s1 = await realShard1();
  const unfinished = copyRun(s1, { shard: '2/4', complete: false });
  const others = [copyRun(s1, { shard: '3/4' }), copyRun(s1, { shard: '4/4' })];
  const r = merge([s1, unfinished, ...others, '--out', outDir()]);
  t.is(r.status, 2, r.stderr);
  t.true(r.stderr.includes(`shard 2/4 (${unfinished}) did not finish: results.json says complete: false`));
  const out = outDir();
  const partial = merge([s1, unfinished, '--out', out, '--allow-partial']);
  t.is(partial.status, 3, partial.stderr);
  t.deepEqual((JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { missingShards: string[] }).missingShards, ['2/4', '3/4', '4/4']);
});

test('merge names a run directory that does not exist or is not a run', (t) => {
  const missing = path.join(tempResults(), 'no-such-run');
  const a = merge([missing, '--out', outDir()]);
  t.is(a.status, 2);
  t.regex(a.stderr, new RegExp(`${missing}: no such directory`));
  const empty = tempResults();
  const b = merge([empty, '--out', outDir()]);
  t.is(b.status, 2);
  t.regex(b.stderr, new RegExp(`${empty}: not a run directory \\(no run.json\\)`));
  fs.writeFileSync(path.join(empty, 'run.json'), '{"argv": 3}');
  const c = merge([empty, '--out', outDir()]);
  t.is(c.status, 2);
  t.regex(c.stderr, /run\.json: key "argv" should be a list of strings/);
  const none = merge(['--out', outDir()]);
  t.is(none.status, 2);
  t.regex(none.stderr, /nothing to merge/);
});

test('merge --help and --version answer; an unknown option is exit 2 pointing to --help', (t) => {
  const help = merge(['--help']);
  t.is(help.status, 0);
  t.regex(help.stdout, /^Usage: npx zx harness\/merge\.mjs RUN_DIR… --out DIR \[--allow-partial\]/);
  t.regex(help.stdout, /--allow-partial/);
  const version = merge(['--version']);
  t.is(version.status, 0);
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  t.is(version.stdout.trim(), `kernel-patch-harness ${pkg.version}`);
  const bad = merge(['--bogus']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /Unknown option '--bogus'[\s\S]*--help/);
});
