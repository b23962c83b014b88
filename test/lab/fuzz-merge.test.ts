// `harness/fuzz.mjs merge`: joining the --out folders of a campaign's shards. Shard folders made
// by hand (summary.json, case file, kselftest) for the refusals and the deduplication; then two
// real shards of seed 1 on the embedded pair, merged: their streams are disjoint, both find the
// 4b01a967 change, and the merge keeps it once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { fuzzShardProblems, mergeFuzzSummaries, readFuzzShard } from '../../harness/src/fuzz/merge.js';
import { scriptText, type Script } from '../../harness/src/fuzz/script.js';
import type { Finding, FuzzSummary } from '../../harness/src/fuzz/summary.js';
import { qemuGone } from '../helpers/cli.js';
import { runFuzz } from '../helpers/fuzz-cli.js';

const tempDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'kph-fuzz-merge-'));
const summaryOf = (dir: string): FuzzSummary => JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) as FuzzSummary;

const COMMIT: Script = {
  reuse: 1, range: 'one-port', family: 'inet', addr: 'loopback',
  sockets: [{ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }, { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }],
  ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }],
};
const OTHER: Script = { ...COMMIT, ops: [{ op: 'bind', sock: 0 }, { op: 'listen', sock: 1 }] };
// COMMIT with its sockets numbered the other way round: the same minimal script.
const SWAPPED: Script = { ...COMMIT, ops: [{ op: 'bind', sock: 1 }, { op: 'bind', sock: 0 }] };

/** A finding of shard i/N with the given minimal script. */
function finding(id: string, s: Script, scriptIndex: number): Finding {
  return {
    id, kind: 'behaviour', who: 'b(reuse=absent) vs a(reuse=1)', kernels: ['b', 'a'], rule: 'b: x; a: y', signature: `sig-${id}`, scriptIndex, foundAfterS: scriptIndex,
    original: { script: scriptText(s), sockets: 2, ops: 2 }, minimal: { script: scriptText(s), sockets: 2, ops: s.ops.length, value: s },
    firstDiff: { op: 1, what: 'bind(s1)', reason: 'r' }, results: {}, shrink: { steps: [], rounds: 1, candidates: 0 }, confirmed: '3/3',
    files: { case: `cases/${id}.yaml`, kselftest: `kselftests/${id.replace(/-/g, '_')}.c` }, kselftestAsserts: 'a', kselftest: { a: 'pass', b: 'fail' },
  };
}

/** Writes a shard folder as the fuzzer would: summary.json, and each finding's case file and kselftest source. */
function shardDir(index: number, count: number, findings: Finding[], over: Partial<FuzzSummary> = {}): string {
  const dir = tempDir();
  const s: FuzzSummary = {
    seed: 1, shard: `${index}/${count}`, mode: 'oracle', kernels: [{ name: 'b', profile: 'pre-4b01a967', release: '6.1', hasSysctl: false }, { name: 'a', profile: '4b01a967+followup', release: '6.1', hasSysctl: true }],
    oracleFlip: [], budget: '300c', command: 'fuzz', startedAt: new Date(Date.UTC(2026, 0, index)).toISOString(), complete: true, stopReason: 'budget 300c spent',
    elapsedS: 10 * index, fuzzingS: 5 * index, scripts: 100, cellsRun: 300, streamCells: 280, shrinkCells: 20, cellsPerSecond: 30, timeToFirstFindingS: findings.length ? 2 * index : null,
    findings, duplicates: 1, flaky: [], unanswered: 0, unlikely: 0, byChance: 2, byChanceExamples: [], crashes: [], bootMs: { a: [1000], b: [1100] },
    ruleCoverage: { 'autobind.first-scan': 10 * index }, rulesNeverExercised: [], ...over,
  };
  fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(s));
  fs.mkdirSync(path.join(dir, 'cases'));
  fs.mkdirSync(path.join(dir, 'kselftests'));
  for (const f of findings) {
    fs.writeFileSync(path.join(dir, f.files.case), `name: ${f.id}\n`);
    fs.writeFileSync(path.join(dir, f.files.kselftest), `// ${f.id}\n`);
  }
  return dir;
}

test('fuzz merge: findings deduplicated by their minimal script (up to socket numbering), figures added up, files copied', async (t) => {
  const a = shardDir(1, 2, [finding('fuzz-1-s1of2-001', COMMIT, 6)]);
  const b = shardDir(2, 2, [finding('fuzz-1-s2of2-001', SWAPPED, 9), finding('fuzz-1-s2of2-002', OTHER, 21)]);
  const out = path.join(tempDir(), 'merged');
  const r = await runFuzz(['merge', b, a, '--out', out]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /merged shards 1\/2\+2\/2: 2 finding\(s\) \(3 duplicate\(s\)\), 600 cells/);
  const s = summaryOf(out);
  t.deepEqual(s.findings.map((f) => [f.id, f.shard, f.alsoFoundIn]), [['fuzz-1-s1of2-001', '1/2', ['2/2 (fuzz-1-s2of2-001)']], ['fuzz-1-s2of2-002', '2/2', []]]);
  t.like(s, { complete: true, shard: '1/2+2/2', scripts: 200, cellsRun: 600, cellsPerSecond: 60, timeToFirstFindingS: 2, duplicates: 3, byChance: 4, mergedFrom: [a, b] });
  t.deepEqual(s.ruleCoverage, { 'autobind.first-scan': 30 });
  t.deepEqual(s.bootMs, { a: [1000, 1000], b: [1100, 1100] });
  t.is(fs.readFileSync(path.join(out, 'cases', 'fuzz-1-s1of2-001.yaml'), 'utf8'), 'name: fuzz-1-s1of2-001\n');
  t.true(fs.existsSync(path.join(out, 'kselftests', 'fuzz_1_s2of2_002.c')));
  t.false(fs.existsSync(path.join(out, 'cases', 'fuzz-1-s2of2-001.yaml')), 'the duplicate is not copied');
  t.is(fs.readFileSync(path.join(out, 'findings.jsonl'), 'utf8').trim().split('\n').length, 2);
  t.regex(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /Kept from shard 1\/2; the same minimal script was also found by shard 2\/2 \(fuzz-1-s2of2-001\)/);
});

test('fuzz merge refuses a missing, repeated, unfinished or foreign shard and a folder that is not fuzz output (exit 2); --allow-partial merges marked incomplete', async (t) => {
  const one = shardDir(1, 3, [finding('fuzz-1-s1of3-001', COMMIT, 0)]);
  const two = shardDir(2, 3, []);
  const three = shardDir(3, 3, []);
  const out = path.join(tempDir(), 'merged');
  const cases: Array<[string[], RegExp]> = [
    [[one, two], /shard 3\/3 missing\n.*pass --allow-partial/],
    [[one, two, three, shardDir(2, 3, [])], /shard 2\/3 given 2 times/],
    [[one, two, shardDir(3, 3, [], { complete: false, stopReason: 'interrupted' })], /shard 3\/3 \(.*\) did not finish: interrupted/],
    [[one, two, shardDir(3, 3, [], { seed: 2 })], /not shards of one campaign .*seed 2, shard 3\/3/],
    [[one, two, shardDir(3, 3, [], { oracleFlip: ['followupSameEuidConflict'] })], /not shards of one campaign .*flip followupSameEuidConflict/],
    [[one, two, shardDir(3, 4, [])], /not shards of one campaign/],
    [[one, two, tempDir()], /not a fuzz output folder \(no summary\.json\)/],
    [[one, two, three], /--out DIR is required/],
  ];
  for (const [dirs, message] of cases) {
    const r = await runFuzz(['merge', ...dirs, ...(message.source.includes('--out') ? [] : ['--out', out])]);
    t.is(r.code, 2, `${message}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.false(fs.existsSync(out), 'nothing written');
  }
  const partial = await runFuzz(['merge', two, one, '--out', out, '--allow-partial']);
  t.is(partial.code, 1, partial.stderr);
  t.like(summaryOf(out), { complete: false, missingShards: ['3/3'] });
  t.regex(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /MISSING shard 3\/3/);
  const noFinding = await runFuzz(['merge', two, '--out', path.join(tempDir(), 'm'), '--allow-partial']);
  t.is(noFinding.code, 3, 'a partial merge without findings is never 0');
  // The pure parts agree with the CLI.
  const shards = [one, two].map(readFuzzShard);
  t.deepEqual(fuzzShardProblems(shards).missing, ['3/3']);
  t.is(mergeFuzzSummaries(shards, ['3/3'], 'x').complete, false);
});

test.serial('two real shards of seed 1 on the embedded pair: disjoint script streams, both find the 4b01a967 change, the merge keeps it once', async (t) => {
  const dirs = [tempDir(), tempDir()];
  for (const [i, dir] of dirs.entries()) {
    const r = await runFuzz(['--seed', '1', '--shard', `${i + 1}/2`, '--budget', '500c', '--out', dir]);
    t.is(r.code, 1, r.stderr.slice(-2000));
    t.deepEqual(await qemuGone(r.pid, 5_000), []);
  }
  const [s1, s2] = dirs.map(summaryOf);
  // Shard i/2 runs scripts k with k mod 2 = i-1 only (seed 1 shows the change first in scripts 6 and 481).
  t.true(s1.findings.every((f) => f.scriptIndex % 2 === 0) && s2.findings.every((f) => f.scriptIndex % 2 === 1), JSON.stringify([s1, s2].map((s) => s.findings.map((f) => f.scriptIndex))));
  t.true(s1.findings.every((f) => /^fuzz-1-s1of2-\d{3}$/.test(f.id)) && s2.findings.every((f) => /^fuzz-1-s2of2-\d{3}$/.test(f.id)));
  const out = path.join(tempDir(), 'merged');
  const m = await runFuzz(['merge', ...dirs, '--out', out]);
  t.is(m.code, 1, m.stderr);
  const merged = summaryOf(out);
  t.is(merged.cellsRun, s1.cellsRun + s2.cellsRun);
  // Both shards shrink it to the same script (sockets renumbered in order of first use).
  const minimal = 'reuse=1 range=one-port fam=inet addr=loopback s0{addr} s1{addr} : bind(s0) bind(s1)';
  t.true([s1, s2].every((s) => s.findings.some((f) => f.minimal.script === minimal)), JSON.stringify([s1, s2].map((s) => s.findings.map((f) => f.minimal.script))));
  const commit = merged.findings.filter((f) => f.minimal.script === minimal);
  t.is(commit.length, 1, JSON.stringify(merged.findings.map((f) => f.minimal.script)));
  t.is(commit[0].shard, '1/2');
  t.deepEqual(commit[0].alsoFoundIn, [`2/2 (${s2.findings.find((f) => f.minimal.script === minimal)!.id})`]);
  t.is(merged.findings.length + merged.duplicates, s1.findings.length + s2.findings.length + s1.duplicates + s2.duplicates);
  t.true(fs.existsSync(path.join(out, 'cases', `${commit[0].id}.yaml`)) && fs.existsSync(path.join(out, 'kselftests', `${commit[0].id.replace(/-/g, '_')}`)), 'case file and compiled kselftest copied');
});
