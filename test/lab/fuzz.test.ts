// The differential fuzzer (harness/fuzz.mjs, harness/src/fuzz/): pure tests of the seeded
// generator, the shard streams, the shrinker (with the oracle standing in for two kernels), the
// comparison, the emitted case file and kselftest, the options; then real fuzz sessions on the
// embedded pair in QEMU: the 4b01a967 change found and shrunk, its kselftest compiled again by the
// test and run on fresh VMs of both kernels (passes on after, fails on before), its case file run
// by the main job, a wrong oracle caught with the rule named, a batch the lab breaks twice, and
// Ctrl-C in the middle of a shrink.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { expandCases } from '../../harness/src/cases/expand.js';
import { loadCaseFile } from '../../harness/src/cases/load.js';
import type { GuestCellReport, OpResult } from '../../harness/src/core/cell.js';
import { recordsOf, type ResultsDoc } from '../../harness/src/results/run-files.js';
import { encodeCell } from '../../harness/src/core/wire.js';
import { flippedProfiles, oracleAnswer } from '../../harness/src/oracle/adapter.js';
import { compareResults } from '../../harness/src/oracle/compare.js';
import { compareScript, sameDivergence, type Divergence, type FuzzKernel } from '../../harness/src/fuzz/compare.js';
import { caseYaml } from '../../harness/src/fuzz/emit-case.js';
import { kselftestC } from '../../harness/src/fuzz/emit-kselftest.js';
import { compileKselftest, kselftestHeaders } from '../../harness/src/fuzz/kselftest-build.js';
import { scriptAt, shardIndices } from '../../harness/src/fuzz/generate.js';
import { FuzzUsageError, parseBudget, parseFuzzOptions } from '../../harness/src/fuzz/options.js';
import { canonicalKey, canonicalScript, cellOf, FUZZ_RANGES, scriptKey, type Script } from '../../harness/src/fuzz/script.js';
import { candidates, shrink } from '../../harness/src/fuzz/shrink.js';
import type { FuzzSummary } from '../../harness/src/fuzz/summary.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { qemuGone, runCli } from '../helpers/cli.js';
import { runFuzz } from '../helpers/fuzz-cli.js';
import { runKselftestOn } from '../helpers/kselftest-vm.js';

const table = flippedProfiles([]);
// The oracle standing in for the embedded pair: "before" without the sysctl, "after" with it.
const FAKE: FuzzKernel[] = [
  { name: 'before', release: '', bzImage: '', profile: 'pre-4b01a967', hasSysctl: false },
  { name: 'after', release: '', bzImage: '', profile: '4b01a967+followup', hasSysctl: true },
];

/** What the fake kernels "observe" for a script: their oracle profile's prediction. */
function fakeReports(s: Script): Map<string, GuestCellReport | undefined> {
  return new Map(FAKE.map((k) => {
    const a = oracleAnswer(cellOf(s, 'fuzz/0', k.hasSysctl), k.profile, table);
    return [k.name, a.kind === 'predicted' ? { id: 'fuzz/0', status: 'done', results: a.ops.map((p) => p.result) } : undefined] as const;
  }));
}

const behaviourDivergence = (s: Script): Divergence | undefined => compareScript(s, FAKE, fakeReports(s), table, 'behaviour').divergences[0];

test('generator: the same seed gives the same scripts, another seed others', (t) => {
  const a = Array.from({ length: 50 }, (_, k) => scriptAt(7, k));
  const b = Array.from({ length: 50 }, (_, k) => scriptAt(7, k));
  t.deepEqual(a, b);
  const c = Array.from({ length: 50 }, (_, k) => scriptAt(8, k));
  t.true(a.filter((s, k) => scriptKey(s) !== scriptKey(c[k])).length > 40);
  t.true(new Set(a.map(scriptKey)).size > 45, 'scripts of one seed differ from each other');
});

test('generator: every script stays inside the case language and every dimension occurs', (t) => {
  const seen = new Set<string>();
  for (let k = 0; k < 600; k++) {
    const s = scriptAt(3, k);
    t.true(s.sockets.length >= 2 && s.sockets.length <= 6, `script ${k}: sockets`);
    t.true(s.ops.length >= 1 && s.ops.length <= 14, `script ${k}: ops`);
    for (const o of s.ops) t.true(o.sock < s.sockets.length && (o.op !== 'connect' || o.dst <= 1), `script ${k}: op indices`);
    t.notThrows(() => encodeCell(cellOf(s, `fuzz/${k}`, true)));
    for (const k2 of FAKE) t.is(oracleAnswer(cellOf(s, 'fuzz/0', k2.hasSysctl), k2.profile, table).kind, 'predicted');
    seen.add(`reuse=${s.reuse}`).add(`range=${s.range}`).add(`fam=${s.family}`).add(`addr=${s.addr}`);
    for (const x of s.sockets) seen.add(`addr=${x.reuseaddr}`).add(`port=${x.reuseport}`).add(`noport=${x.bindAddressNoPort}`).add(`euid=${x.euid}`);
    for (const o of s.ops) seen.add(`op=${o.op}`);
  }
  t.is(seen.size, 3 + 4 + 3 + 2 + 2 + 2 + 2 + 3 + 4);
});

test('shards are disjoint streams that together are the whole stream', (t) => {
  const all = [1, 2, 3].flatMap((i) => shardIndices({ index: i, count: 3 }, 0, 10));
  t.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 30 }, (_, k) => k));
  t.deepEqual(shardIndices({ index: 1, count: 1 }, 5, 3), [5, 6, 7]);
  t.deepEqual(shardIndices({ index: 2, count: 4 }, 1, 2), [5, 9]);
});

test('shrinker: a synthetic property shrinks to one socket, one op, one option', async (t) => {
  const start = scriptAt(1, 0);
  const big: Script = { ...start, sockets: start.sockets.map((k) => ({ ...k, reuseport: true, reuseaddr: true })), ops: [...start.ops, { op: 'bind', sock: 1 }] };
  const calls: number[] = [];
  const holds = async (ss: Script[]): Promise<boolean[]> => {
    calls.push(ss.length);
    return ss.map((s) => s.ops.some((o) => o.op === 'bind' && s.sockets[o.sock].reuseport));
  };
  const r = await shrink(big, holds, { chunk: 8 });
  t.is(r.script.sockets.length, 1);
  t.deepEqual(r.script.ops, [{ op: 'bind', sock: 0 }]);
  t.deepEqual(r.script.sockets[0], { reuseaddr: false, reuseport: true, bindAddressNoPort: false, euid: 0 });
  t.like(r.script, { range: 'one-port', family: 'inet', addr: 'loopback' });
  t.true(calls.every((n) => n <= 8), 'candidates go to the lab in batches of at most the chunk size');
  t.is(r.steps.length, r.rounds - 1);
  t.false((await holds(candidates(r.script).map((c) => c.script))).some(Boolean), 'a fixpoint: no one-step reduction still holds');
});

test('shrinker: the 4b01a967 divergence (oracle as kernels) shrinks to two SO_REUSEADDR sockets and two binds', async (t) => {
  let k = 0;
  while (!behaviourDivergence(scriptAt(1, k))) k++;
  const start = scriptAt(1, k);
  const target = behaviourDivergence(start)!;
  t.log(`script ${k}: ${start.sockets.length} sockets, ${start.ops.length} ops`);
  const r = await shrink(start, async (ss) => ss.map((s) => { const d = behaviourDivergence(s); return d !== undefined && sameDivergence(d, target); }));
  t.deepEqual(r.script, {
    reuse: 1, range: 'one-port', family: 'inet', addr: 'loopback',
    sockets: [{ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }, { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }],
  });
  t.true(r.steps.length > 0);
});

test('shrinker: the last step renumbers sockets and destinations in order of first use (canonical form)', async (t) => {
  const s: Script = {
    reuse: 1, range: 'one-port', family: 'inet', addr: 'loopback',
    sockets: [{ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }, { reuseaddr: true, reuseport: true, bindAddressNoPort: false, euid: 1000 }],
    ops: [{ op: 'connect', sock: 1, dst: 1 }, { op: 'bind', sock: 0 }],
  };
  const canon = canonicalScript(s);
  t.deepEqual(canon.sockets, [s.sockets[1], s.sockets[0]]);
  t.deepEqual(canon.ops, [{ op: 'connect', sock: 0, dst: 0 }, { op: 'bind', sock: 1 }]);
  t.is(canonicalKey(s), canonicalKey(canon));
  t.not(canonicalKey(s), canonicalKey({ ...s, ops: [...s.ops].reverse() }), 'op order is not renaming');
  const last = candidates(s).at(-1)!;
  t.is(last.step, 'sockets and destinations renumbered in order of first use');
  t.false(candidates(canon).some((c) => c.step === last.step), 'a canonical script has no renaming step');
  // A property blind to numbering shrinks to the canonical form.
  const r = await shrink(s, async (ss) => ss.map((x) => x.ops.length === 2 && x.sockets.length === 2 && x.ops[0].op === 'connect' && x.sockets[x.ops[0].sock].euid === 1000 && x.sockets[x.ops[0].sock].reuseport));
  t.deepEqual(r.script.ops, [{ op: 'connect', sock: 0, dst: 0 }, { op: 'bind', sock: 1 }]);
});

test('shrinker: an interrupted round is reported as interrupted, never as a fixpoint', async (t) => {
  const ctl = new AbortController();
  const start = scriptAt(1, 0);
  const r = await shrink(start, async (ss) => { ctl.abort(); return ss.map(() => false); }, { signal: ctl.signal });
  t.is(r.stopped, 'interrupted');
  t.deepEqual(r.script, start);
});

test('the emitted case file loads with the case loader and expands to the script', (t) => {
  const s: Script = {
    reuse: 1, range: 'two-ports', family: 'v4mapped', addr: 'any',
    sockets: [{ reuseaddr: true, reuseport: false, bindAddressNoPort: true, euid: 1000 }, { reuseaddr: false, reuseport: true, bindAddressNoPort: false, euid: 0 }],
    ops: [{ op: 'bind', sock: 0 }, { op: 'connect', sock: 1, dst: 1 }, { op: 'listen', sock: 1 }, { op: 'close', sock: 0 }],
  };
  const text = caseYaml('fuzz-5-001', 'a "quoted" title', s, [1, 'absent'], ['found by a test']);
  const cells = expandCases([loadCaseFile('fuzz-5-001.yaml', text)]);
  t.deepEqual(cells.map((c) => c.autobindReuse), ['absent', 1]);
  for (const c of cells) {
    t.deepEqual(c.sockets, s.sockets);
    t.deepEqual(c.ops, s.ops);
    t.deepEqual(c.portRange, FUZZ_RANGES['two-ports']);
    t.like(c, { family: 'v4mapped', addr: 'any', destinations: 2, title: 'a "quoted" title' });
  }
});

test('compare: each kernel against its own profile, kernels against each other at the mapped reuse values', (t) => {
  const s: Script = {
    reuse: 1, range: 'one-port', family: 'inet', addr: 'loopback',
    sockets: [{ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }, { reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }],
    ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }],
  };
  const oracle = compareScript(s, FAKE, fakeReports(s), table, 'oracle');
  t.deepEqual(oracle.divergences.map((d) => d.kind), ['behaviour'], 'each fake kernel matches its own profile');
  t.like(oracle.divergences[0], { kind: 'behaviour', a: 'before', reuseA: 'absent', b: 'after', reuseB: 1, op: 1 });
  t.true(oracle.rules.includes('autobind.relaxed-scan') && oracle.rules.includes('autobind.exhausted'));
  t.deepEqual(compareScript(s, FAKE, fakeReports(s), table, 'behaviour').rules, [], 'behaviour mode asks no oracle');
  t.deepEqual(compareScript({ ...s, reuse: 0 }, FAKE, fakeReports({ ...s, reuse: 0 }), table, 'oracle').divergences, [], 'before(absent) = after(0)');
  // A wrong oracle: the follow-up flag flipped makes after's same-euid REUSEADDR+REUSEPORT pair share.
  const pair: Script = { ...s, sockets: s.sockets.map((k) => ({ ...k, reuseport: true })), ops: [{ op: 'connect', sock: 0, dst: 0 }, { op: 'bind', sock: 1 }] };
  const flipped = compareScript(pair, FAKE, fakeReports(pair), flippedProfiles(['followupSameEuidConflict']), 'oracle');
  t.like(flipped.divergences.find((d) => d.kind === 'oracle'), { kernel: 'after', reuse: 1, op: 1, rule: 'autobind.relaxed-scan' });
  const missing = compareScript(s, FAKE, new Map([['before', { id: 'fuzz/0', status: 'unsupported', reason: 'no IPv6' }]]), table, 'oracle');
  t.deepEqual(missing.unanswered, [{ kernel: 'before', why: 'unsupported: no IPv6' }, { kernel: 'after', why: 'no report' }]);
});

test('compare: kernel vs oracle is the possible-outcome verdict: a legal but unlikely random port is no divergence, an impossible one is', (t) => {
  // Roomy range: bind(0), close, bind(0) again. The likeliest path gives a new port; the same port again is legal (p ≈ 1/14,000).
  const s: Script = {
    reuse: 0, range: 'roomy', family: 'inet', addr: 'loopback',
    sockets: [{ reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 }, { reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 }],
    ops: [{ op: 'bind', sock: 0 }, { op: 'close', sock: 0 }, { op: 'bind', sock: 1 }],
  };
  const after = [FAKE[1]];
  const report = (results: OpResult[]): Map<string, GuestCellReport | undefined> => new Map([['after', { id: 'fuzz/0', status: 'done', results }]]);
  const again: OpResult[] = [{ ok: true, port: 40001 }, { ok: true, port: null }, { ok: true, port: 40001 }];
  const predicted = (oracleAnswer(cellOf(s, 'x', true), '4b01a967+followup', table) as { ops: Array<{ result: OpResult }> }).ops.map((p) => p.result);
  t.false(compareResults(again, predicted, FUZZ_RANGES.roomy).match, 'the likeliest path alone would call it a difference');
  const legal = compareScript(s, after, report(again), table, 'oracle');
  t.deepEqual(legal.divergences, []);
  t.is(legal.unlikely, 1);
  // An even port: bind(0) scans odd offsets first and a roomy range never runs out of them.
  const even = compareScript(s, after, report([{ ok: true, port: 40000 }, { ok: true, port: null }, { ok: true, port: 40001 }]), table, 'oracle');
  t.like(even.divergences[0], { kind: 'oracle', kernel: 'after', op: 0, rule: 'autobind.first-scan' });
  t.regex((even.divergences[0] as { reason: string }).reason, /observed port 40000, which the model says cannot happen/);
});

test('compare: kernel vs kernel ignores a difference that each kernel\'s possible outcomes explain (random port choice), in both modes', (t) => {
  const s: Script = {
    reuse: 0, range: 'roomy', family: 'inet', addr: 'loopback',
    sockets: [{ reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 }, { reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 }],
    ops: [{ op: 'bind', sock: 0 }, { op: 'close', sock: 0 }, { op: 'bind', sock: 1 }],
  };
  const two = (a: OpResult[], b: OpResult[]): Map<string, GuestCellReport | undefined> => new Map([['before', { id: 'fuzz/0', status: 'done', results: a }], ['after', { id: 'fuzz/0', status: 'done', results: b }]]);
  const same: OpResult[] = [{ ok: true, port: 40001 }, { ok: true, port: null }, { ok: true, port: 40001 }];
  const other: OpResult[] = [{ ok: true, port: 40001 }, { ok: true, port: null }, { ok: true, port: 50001 }];
  t.false(compareResults(same, other, FUZZ_RANGES.roomy).match, 'the equality patterns differ');
  for (const mode of ['behaviour', 'oracle'] as const) {
    const c = compareScript(s, FAKE, two(same, other), table, mode);
    t.deepEqual(c.divergences, [], mode);
    t.like(c.byChance[0], { a: 'before', b: 'after', op: 2 });
  }
  // A difference no random draw explains: before(absent) cannot share a port between two SO_REUSEADDR binds.
  const commit: Script = { ...s, reuse: 1, range: 'one-port', sockets: s.sockets.map((k) => ({ ...k, reuseaddr: true })), ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }] };
  const real = compareScript(commit, FAKE, two([{ ok: true, port: 32768 }, { ok: false, errno: 'EADDRINUSE' }], [{ ok: true, port: 32768 }, { ok: true, port: 32768 }]), table, 'behaviour');
  t.like(real.divergences[0], { kind: 'behaviour', a: 'before', b: 'after', op: 1 });
  t.deepEqual(real.byChance, []);
});

test('the emitted kselftest compiles against kselftest_harness.h of the kernel source for every feature of the language', async (t) => {
  const s: Script = {
    reuse: 'absent', range: 'three-ports', family: 'v4mapped', addr: 'any',
    sockets: [{ reuseaddr: true, reuseport: true, bindAddressNoPort: true, euid: 1000 }, { reuseaddr: false, reuseport: false, bindAddressNoPort: false, euid: 0 }],
    ops: [{ op: 'bind', sock: 0 }, { op: 'connect', sock: 0, dst: 1 }, { op: 'bind', sock: 1 }, { op: 'listen', sock: 1 }, { op: 'close', sock: 0 }, { op: 'bind', sock: 0 }],
  };
  const expected = [{ ok: true, port: 0 }, { ok: true, port: 32769 }, { ok: true, port: 32768 }, { ok: true, port: 32768 }, { ok: true, port: null }, { ok: false, errno: 'EBADF' }] as const;
  const dir = tempOut();
  const file = path.join(dir, 'fuzz_9_001.c');
  fs.writeFileSync(file, kselftestC('fuzz-9-001', s, [...expected], 'k', ['a test']));
  const c = fs.readFileSync(file, 'utf8');
  t.regex(c, /^TEST\(fuzz_9_001\)$/m);
  t.regex(c, /ASSERT_EQ\(0, port\[0\]\);/, 'port 0 of IP_BIND_ADDRESS_NO_PORT compares literally');
  t.regex(c, /ASSERT_EQ\(port\[2\], port\[3\]\);/, 'listen keeps the bound port');
  t.regex(c, /ASSERT_NE\(port\[1\], port\[2\]\);/);
  t.regex(c, /ASSERT_EQ\(EBADF, err\);/);
  t.regex(c, /make_addr\(LISTENER, 10001, &dst\)/);
  const headers = await kselftestHeaders(dir);
  const built = await compileKselftest(file, headers, path.join(dir, 'gcc.log'));
  t.false(hasInterpreter(built.binary), 'a static binary');
  t.is(built.name, 'fuzz/fuzz_9_001');
});

test('options: budgets, shards, profiles and mistakes named', (t) => {
  t.deepEqual(parseBudget('90s'), { kind: 'time', ms: 90_000, text: '90s' });
  t.deepEqual(parseBudget('10m'), { kind: 'time', ms: 600_000, text: '10m' });
  t.deepEqual(parseBudget('5000c'), { kind: 'cells', cells: 5000, text: '5000c' });
  const o = parseFuzzOptions(['--seed', '4', '--shard', '2/3', '--profile', 'x=pre-4b01a967', '--mode', 'behaviour', '--oracle-flip', 'followupSameEuidConflict']);
  t.like(o, { seed: 4, shard: { index: 2, count: 3 }, profiles: { x: 'pre-4b01a967' }, mode: 'behaviour', oracleFlip: ['followupSameEuidConflict'], kernels: ['debian-6.1-before', 'debian-6.1-after'] });
  t.throws(() => parseBudget('10 minutes'), { instanceOf: FuzzUsageError, message: /--budget expects/ });
  t.throws(() => parseFuzzOptions(['--shard', '4/3']), { message: /--shard expects I\/N/ });
  t.throws(() => parseFuzzOptions(['--profile', 'x=linux']), { message: /unknown profile "linux"/ });
  t.throws(() => parseFuzzOptions(['--mode', 'behaviour', '--kernels', 'debian-6.1-after']), { message: /at least two/ });
  t.throws(() => parseFuzzOptions(['--frobnicate']), { message: /frobnicate/ });
});

/** Whether an ELF64 executable names a dynamic loader (a PT_INTERP program header). */
function hasInterpreter(file: string): boolean {
  const b = fs.readFileSync(file);
  const phoff = Number(b.readBigUInt64LE(0x20));
  const size = b.readUInt16LE(0x36);
  return Array.from({ length: b.readUInt16LE(0x38) }, (_, i) => b.readUInt32LE(phoff + i * size)).includes(3);
}

test('the CLI: --help, and bad options exit 2 naming the option', async (t) => {
  const help = await runFuzz(['--help']);
  t.is(help.code, 0);
  for (const o of ['--seed', '--budget', '--out', '--kernels', '--profile', '--oracle-flip', '--mode', '--shard']) t.true(help.stdout.includes(o), o);
  for (const [args, message] of [
    [['--budget', 'soon'], /--budget expects a time like 90s, 10m, 1h or a cell count like 5000c, got "soon"/],
    [['--profile', 'nope=pre-4b01a967'], /--profile nope=…: no kernel named nope in --kernels \(debian-6\.1-before, debian-6\.1-after\)/],
    [['--kernels', 'no-such-kernel'], /no-such-kernel/],
    [['--oracle-flip', 'noSuchFlag'], /--oracle-flip noSuchFlag: no such profile flag/],
  ] as const) {
    const r = await runFuzz([...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
  }
});

const summaryOf = (dir: string): FuzzSummary => JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) as FuzzSummary;
const tempOut = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'kph-fuzz-'));

test.serial('fuzz --seed 1 finds the 4b01a967 change on the embedded pair, shrinks it, its kselftest passes on after and fails on before, the main job runs its case', async (t) => {
  const out = tempOut();
  const r = await runFuzz(['--seed', '1', '--budget', '300c', '--out', out]);
  t.log(r.stderr.split('\n').filter((l) => /finding|budget|cells\/s/.test(l)).slice(-4).join('\n'));
  t.is(r.code, 1, r.stderr.slice(-3000));
  t.deepEqual(await qemuGone(r.pid, 5_000), []);
  const s = summaryOf(out);
  t.true(s.complete);
  t.true(s.cellsRun >= 300 && s.cellsPerSecond > 0 && s.timeToFirstFindingS !== null);
  const f = s.findings.find((x) => x.kind === 'behaviour' && x.kernels.join() === 'debian-6.1-before,debian-6.1-after');
  t.truthy(f, JSON.stringify(s.findings.map((x) => x.who)));
  t.is(f!.minimal.sockets, 2);
  t.true(f!.minimal.ops <= 3);
  t.is(f!.confirmed, '3/3');
  t.regex(f!.rule, /debian-6\.1-before: autobind\.exhausted; debian-6\.1-after: autobind\.relaxed-scan/);
  t.deepEqual(f!.kselftest, { 'debian-6.1-before': 'fail', 'debian-6.1-after': 'pass' });
  t.true(f!.shrink.steps.length > 0);
  t.true(Object.keys(s.ruleCoverage).length > 10);
  // The kselftest is a static kselftest_harness.h test with one TEST.
  const c = fs.readFileSync(path.resolve(projectRoot, f!.files.kselftest), 'utf8');
  t.regex(c, /#include "\.\.\/kselftest_harness\.h"/);
  t.is(c.match(/^TEST\(/gm)?.length, 1);
  const bin = path.resolve(projectRoot, f!.files.kselftest.replace(/\.c$/, ''));
  t.false(hasInterpreter(bin), 'linked static: no PT_INTERP program header');
  // The test itself compiles the emitted source again, static, pushes it to a fresh VM of each kernel and runs it there.
  const own = path.join(tempOut(), path.basename(f!.files.kselftest));
  fs.copyFileSync(path.resolve(projectRoot, f!.files.kselftest), own);
  const rebuilt = await compileKselftest(own, await kselftestHeaders(path.dirname(own)), `${own}.log`);
  t.false(hasInterpreter(rebuilt.binary));
  const ran = await runKselftestOn(['debian-6.1-before', 'debian-6.1-after'], rebuilt.binary);
  t.is(ran['debian-6.1-after'].verdict, 'pass', ran['debian-6.1-after'].output);
  t.is(ran['debian-6.1-before'].verdict, 'fail', ran['debian-6.1-before'].output);
  t.regex(ran['debian-6.1-before'].output, /^not ok 1 global\.fuzz_1_001$/m);
  t.regex(ran['debian-6.1-after'].output, /^ok 1 global\.fuzz_1_001$/m);
  t.regex(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\| fuzz-1-001 \| debian-6\.1-before\(reuse=absent\) vs debian-6\.1-after\(reuse=1\) \|/);
  // The case file reproduces the change through the main job.
  const main = await runCli(['--cases', path.join(out, 'cases'), '--kernels', 'debian-6.1-before,debian-6.1-after', '--results', tempOut()]);
  t.is(main.code, 0, main.stderr.slice(-2000));
  const recs = recordsOf(JSON.parse(fs.readFileSync(path.join(main.runDir!, 'results.json'), 'utf8')) as ResultsDoc);
  const at = (k: string, reuse: string | number): OpResult[] => {
    const o = recs.find((x) => x.kernel === k && x.cell.autobindReuse === reuse)?.observed;
    return o?.status === 'done' ? o.results : [];
  };
  t.like(at('debian-6.1-before', 'absent')[1], { ok: false, errno: 'EADDRINUSE' });
  t.like(at('debian-6.1-after', 1)[1], { ok: true });
});

test.serial('fuzz with --oracle-flip followupSameEuidConflict reports after vs the oracle, shrunk, naming the rule', async (t) => {
  const out = tempOut();
  const r = await runFuzz(['--seed', '1', '--budget', '600c', '--kernels', 'debian-6.1-after', '--oracle-flip', 'followupSameEuidConflict', '--out', out]);
  t.is(r.code, 1, r.stderr.slice(-3000));
  const s = summaryOf(out);
  const f = s.findings.find((x) => x.kind === 'oracle');
  t.truthy(f, JSON.stringify(s.findings.map((x) => x.who)));
  t.is(f!.who, 'debian-6.1-after(reuse=1) vs oracle');
  t.regex(f!.rule, /^autobind\.relaxed-scan|^listen\./);
  t.true(f!.minimal.ops <= f!.original.ops && f!.minimal.sockets <= 3);
  t.is(f!.kselftest['debian-6.1-after'], 'pass');
  t.regex(fs.readFileSync(path.resolve(projectRoot, f!.files.case), 'utf8'), /reuseport: true/);
});

test.serial('a batch the lab breaks twice (kph-cells killed) ends the session with exit 3, a summary naming it, a fresh VM tried, no QEMU left', async (t) => {
  const out = tempOut();
  const r = await runFuzz(['--seed', '1', '--budget', '200c', '--kernels', 'debian-6.1-after', '--append', 'kph.cells_fault=kill@fuzz/5', '--out', out]);
  t.is(r.code, 3, r.stderr.slice(-2000));
  t.regex(r.stderr, /VM 1: C guest killed by signal SIGKILL; 59 cell\(s\) unanswered, retried on a fresh VM\n.*VM 2 ready/);
  t.deepEqual(await qemuGone(r.pid, 5_000), []);
  const s = summaryOf(out);
  t.false(s.complete);
  t.regex(s.stopReason, /^lab failure: debian-6\.1-after: a batch failed twice/);
  t.is(s.bootMs['debian-6.1-after'].length, 2);
});

test.serial('Ctrl-C in the middle of a shrink (--mode behaviour) keeps the smallest script so far: exit 130 at once, finding, summary, no QEMU left', async (t) => {
  const out = tempOut();
  let sentAt = 0;
  const r = await runFuzz(['--seed', '1', '--budget', '10m', '--mode', 'behaviour', '--out', out], (all, child) => {
    // At once: with the guest near the namespace floor a whole shrink takes about a second.
    if (!sentAt && /confirming and shrinking/.test(all)) { sentAt = Date.now(); setTimeout(() => child.kill('SIGINT'), 100); }
  });
  t.true(sentAt > 0, r.stderr.slice(-2000));
  t.is(r.code, 130, r.stderr.slice(-2000));
  t.true(Date.now() - sentAt < 25_000, `exited ${(Date.now() - sentAt) / 1000} s after the divergence was announced`);
  t.deepEqual(await qemuGone(r.pid, 5_000), []);
  const s = summaryOf(out);
  t.like(s, { complete: false, stopReason: 'interrupted', mode: 'behaviour' });
  t.deepEqual(s.ruleCoverage, {}, 'behaviour mode asks the oracle nothing while exploring');
  const f = s.findings[0];
  t.like(f, { id: 'fuzz-1-001', kind: 'behaviour', confirmed: 'not re-run (interrupted)', shrink: { stopped: 'interrupted' } });
  t.true(f.minimal.ops <= f.original.ops);
  t.true(fs.existsSync(path.join(out, 'cases', 'fuzz-1-001.yaml')));
  t.is(fs.readFileSync(path.join(out, 'findings.jsonl'), 'utf8').trim().split('\n').length, s.findings.length);
});
