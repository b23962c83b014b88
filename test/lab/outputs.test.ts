// The result files of a run (issue 9 rows 14–17, issue 8 item 4): facts recorded when the run
// happens and read from the run document only, KernelCI's conventions in kcidb.json, junit.xml
// valid for the Jenkins xunit plugin's schema (harness/data/junit-10.xsd, checked with xmllint)
// with measured times, not-applicable cells (NA, `n/a`) emitted as no test, and outputs of the
// default plan written fast, small and byte-for-byte the same from the same observations.
import childProcess, { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { OpResult } from '../../harness/src/core/cell.js';
import { flippedProfiles, oracleAnswer } from '../../harness/src/oracle/adapter.js';
import { compareResults } from '../../harness/src/oracle/compare.js';
import { loadPlan } from '../../harness/src/plan/default.js';
import type { PlannedCell } from '../../harness/src/core/planned.js';
import { applicationView, assemble } from '../../harness/src/run/assemble.js';
import type { CellRecord } from '../../harness/src/core/record.js';
import type { KernelJobResult } from '../../harness/src/run/kernel-job.js';
import { cellClock, type CellTime } from '../../harness/src/run/cell-clock.js';
import { gatherRunFacts, httpsUrl, type RunFacts } from '../../harness/src/run/facts.js';
import { toJunit } from '../../harness/src/results/junit.js';
import { toKcidb, type KcidbDoc } from '../../harness/src/results/kcidb.js';
import { patchsetHash } from '../../harness/src/kernel/source.js';
import { toKtap } from '../../harness/src/results/ktap.js';
import { classify, exitCodeFor, rollUp, type OracleAnswer } from '../../harness/src/core/verdict.js';
import { recordsOf, renderOutputs, timeOutputs, writeOutputs, writeRunFiles, type OutputRecord, type ResultsDoc, type RunSummaryInput } from '../../harness/src/results/run-files.js';
import { matrixMarkdown, matrixText } from '../../harness/src/results/summary.js';
import { renderHtml } from '../../harness/src/results/html.js';
import { behaviourChanges } from '../../harness/src/results/changes.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { runCli, tempResults } from '../helpers/cli.js';
import { debianFacts } from '../../harness/src/kernel/source-debian.js';

const XSD = path.join(projectRoot, 'harness/data/junit-10.xsd');
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validateKcidb = ajv.compile(JSON.parse(fs.readFileSync(path.join(projectRoot, 'harness/data/kcidb-io.schema.v5.3.json'), 'utf8')));
const kcidbErrors = (doc: unknown): string => (validateKcidb(doc) ? '' : ajv.errorsText(validateKcidb.errors, { separator: '\n' }));

const FACTS: RunFacts = {
  compiler: 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0',
  qemu: 'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)',
  harness: { version: '0.1.0', commit: '0123456789abcdef0123456789abcdef01234567', dirty: false },
  sources: {
    after: debianFacts({ package: 'linux-source-6.1', version: '6.1.192-2', patches: [], patchsetHash: '' }),
    before: debianFacts({ package: 'linux-source-6.1', version: '6.1.192-2', patches: ['revert-4b01a967.patch'], patchsetHash: patchsetHash(['x\n']) }),
  },
};
const KERNELS = [
  { name: 'after', release: '6.1.192-kph-after', profile: '4b01a967+followup' },
  { name: 'before', release: '6.1.192-kph-before', profile: 'pre-4b01a967' },
];
const RUN_ID = '20261203-120000-abcdef';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'kph-outputs-test-'));
const read = (dir: string, f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
/** Runs fn with stdout muted (writeOutputs prints the matrix). */
async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try { return await fn(); } finally { process.stdout.write = write; }
}

/**
 * The default plan on the default pair as a run would assemble it: every cell the oracle says
 * applies answered with its prediction by both guests (PASS), the others never sent (NA); each
 * answered cell with a measured time.
 */
function defaultPlanRun(): RunSummaryInput {
  const cells = loadPlan();
  const table = flippedProfiles([]);
  const jobs = KERNELS.map((k): KernelJobResult => {
    const reports: KernelJobResult['reports'] = { c: new Map(), ts: new Map() };
    for (const cell of cells) {
      const a = oracleAnswer(cell, k.profile, table);
      if (a.kind !== 'predicted') continue;
      const predicted = a.ops.map((o) => o.result);
      // As a guest reports it, with the try-N sysctls it found missing.
      for (const g of cell.guests) reports[g].set(cell.id, { id: cell.id, status: 'done', results: g === 'ts' ? applicationView(cell, predicted) : predicted, ...(a.enoent ? { enoent: a.enoent } : {}) });
    }
    return { kernel: { ...k, bzImage: '' }, attempts: [{ attempt: 1, kind: 'ready', bootMs: 4100 }], bootMs: 4100, unameR: k.release, kvm: { enabled: false, present: true }, reports, cellCrashes: [], timings: {} };
  });
  const records = assemble(jobs, cells, (cell, profile) => oracleAnswer(cell, profile, table), compareResults);
  const cellTimes = new Map<string, CellTime>();
  records.forEach((r, i) => { if (r.outcome !== 'NA') cellTimes.set(`${r.kernel}/${r.guest}/${r.id}`, { at: Date.UTC(2026, 11, 3, 12, 1) + i * 37, ms: 11 + (i % 29) }); });
  return {
    runId: RUN_ID, accel: { accel: 'tcg', reason: 'CPU shows no vmx/svm flag', timeScale: 3 }, jobs, records, exitCode: exitCodeFor(records.map((r) => r.outcome)), complete: true,
    timings: { provision: 120, build: 900, run: 60_000, total: 62_000 },
    kernels: KERNELS.map((k) => ({ ...k, cached: true, seconds: 0.4, bzImage: `/cache/${k.name}/bzImage` })),
    image: { cached: true, seconds: 0.1, sizes: { initramfsBytes: 2_000_000, nodeDiskBytes: 90_000_000 } },
    facts: FACTS,
    cellTimes,
  };
}

const ok = (port: number | null): OpResult => ({ ok: true, port });
/** A small hand-made record (two binds), for the format tests; `id` is shorthand ("repro/reuse=0,fam=inet"), `dims` add the one-port range and loopback. */
function rec(kernel: string, id: string, outcome: CellRecord['outcome'], over: Partial<OutputRecord> = {}): OutputRecord {
  const [caseName, dims] = id.split('/');
  const reuse = /reuse=(absent|0|1)/.exec(dims)?.[1] ?? '0';
  const autobindReuse = reuse === 'absent' ? 'absent' : (Number(reuse) as 0 | 1);
  const family = /fam=inet6/.test(dims) ? 'inet6' : 'inet';
  const cell: PlannedCell = {
    id, case: caseName, title: `${caseName}: two binds`, autobindReuse, portRange: [32768, 32768], family, addr: 'loopback',
    sockets: [0, 1].map(() => ({ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 })), ops: [{ op: 'bind', sock: 0 }, { op: 'bind', sock: 1 }], destinations: 0, guests: ['c'],
    dims: { reuse: autobindReuse, range: 'one-port', fam: family, addr: 'loopback', extra: [] },
  };
  const k = KERNELS.find((x) => x.name === kernel)!;
  const predicted: OracleAnswer = { kind: 'predicted', profile: k.profile, ops: [{ result: ok(32768), rule: 'free port', models: 'inet_csk_find_open_port()' }, { result: { ok: false, errno: 'EADDRINUSE' }, rule: 'range exhausted', models: 'inet_csk_bind_conflict()' }] };
  const base: OutputRecord = { kernel, release: k.release, profile: k.profile, guest: 'c', id, case: caseName, title: cell.title, cell, outcome, reason: 'observed matches the oracle', expected: predicted, ms: 42 };
  switch (outcome) {
    case 'PASS': return { ...base, observed: { id, status: 'done', results: [ok(32768), { ok: false, errno: 'EADDRINUSE' }] }, ...over };
    case 'NA': return { ...base, reason: 'the kernel has no net.ipv4.ip_autobind_reuse', expected: { kind: 'not-applicable', reason: 'the kernel has no net.ipv4.ip_autobind_reuse' }, ms: undefined, ...over };
    case 'SKIP': return { ...base, reason: 'could not run here: no IPv6 in this kernel <&>', observed: { id, status: 'unsupported', reason: 'no IPv6' }, ...over };
    case 'FAIL': return { ...base, reason: 'op 2: expected EADDRINUSE, observed p1 "quoted"', observed: { id, status: 'done', results: [ok(32768), ok(32768)] }, crash: { kind: 'warning', title: 'WARNING: x', offset: 0, excerpt: 'trace\u0000with a NUL\u0007 and ]]> too' }, ...over };
    case 'ERROR': return { ...base, reason: 'guest error: timeout', observed: { id, status: 'error', reason: 'timeout' }, ...over };
    case 'MISS': return { ...base, reason: 'the cell never ran', ms: undefined, ...over };
  }
}

/** One of each outcome, a flaky pass, and NA cells, on both kernels. */
function formatRecords(): OutputRecord[] {
  return [
    rec('after', 'repro/reuse=0,fam=inet', 'PASS'),
    rec('after', 'repro/reuse=0,fam=inet6', 'NA'),
    rec('after', 'repro/reuse=absent,fam=inet', 'NA'),
    rec('after', 'repro/reuse=1,fam=inet', 'PASS', { flaky: true, attempt: 2, attempts: [{ attempt: 1, outcome: 'ERROR', reason: 'SSH lost' }, { attempt: 2, outcome: 'PASS', reason: 'observed matches the oracle' }] }),
    rec('after', 'repro/reuse=1,fam=inet6', 'SKIP'),
    rec('before', 'repro/reuse=absent,fam=inet', 'FAIL'),
    rec('before', 'repro/reuse=absent,fam=inet6', 'ERROR', { attempts: [{ attempt: 1, outcome: 'ERROR', reason: 'SSH lost' }, { attempt: 2, outcome: 'ERROR', reason: 'guest error: timeout' }] }),
    rec('before', 'other/reuse=absent,fam=inet', 'MISS'),
    rec('before', 'repro/reuse=0,fam=inet', 'NA'),
  ];
}

function xmllint(file: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, out: err.stderr ?? err.message };
  }
}

const hasXmllint = ((): boolean => { try { execFileSync('xmllint', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
/** Without xmllint a schema test cannot run: skipped locally, a failure in CI. */
const xsdTest = hasXmllint || process.env.CI === 'true' ? test : test.skip;

// ---- issue 9 row 14: facts when the run happens, read from the run document only ----

test.serial('issue 9 row 14: kcidb.json takes compiler, QEMU and source versions from the run document, with no command run', async (t) => {
  const run = defaultPlanRun();
  const dir = tmp();
  // A host "without" gcc, QEMU or dpkg: no PATH, and any attempt to start a process throws.
  const saved = { path: process.env.PATH, cp: { ...childProcess } };
  const spawned: string[] = [];
  const trap = (name: string) => (...args: unknown[]): never => { spawned.push(`${name} ${String(args[0])}`); throw new Error(`the renderer ran ${String(args[0])}`); };
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) (childProcess as unknown as Record<string, unknown>)[name] = trap(name);
  syncBuiltinESMExports();
  process.env.PATH = '/nonexistent';
  try {
    await quiet(() => writeRunFiles(dir, run));
  } finally {
    process.env.PATH = saved.path;
    Object.assign(childProcess, saved.cp);
    syncBuiltinESMExports();
  }
  t.deepEqual(spawned, []);
  const doc = JSON.parse(read(dir, 'kcidb.json')) as KcidbDoc;
  t.is(kcidbErrors(doc), '');
  t.true(doc.builds.every((b) => b.compiler === FACTS.compiler));
  t.deepEqual(doc.builds.map((b) => (b.misc as { harness: unknown }).harness), [FACTS.harness, FACTS.harness]);
  t.regex(doc.tests.find((x) => x.path === 'boot')!.environment!.comment!, /^QEMU emulator version 7\.2\.19 \(Debian/);
  t.deepEqual(doc.checkouts.map((c) => [c.tree_name, (c.misc as { source_version?: string }).source_version]), [['linux-source-6.1', '6.1.192-2'], ['linux-source-6.1', '6.1.192-2']]);
  // results.json carries the facts, so a merge (or a second rendering) on any host says the same.
  const results = JSON.parse(read(dir, 'results.json')) as ResultsDoc;
  t.deepEqual(results.facts, FACTS);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('issue 9 row 14: the cell clock times each answer from the previous event of its kernel', (t) => {
  let now = 1_000;
  const clock = cellClock(() => now);
  clock.reporter({ type: 'vm-boot', kernel: 'after', attempt: 1, kind: 'ready', bootMs: 900 });
  now = 1_250;
  clock.reporter({ type: 'cell-observed', kernel: 'after', guest: 'c', id: 'a', status: 'done', report: { id: 'a', status: 'done', results: [] } });
  now = 1_262;
  clock.reporter({ type: 'cell-observed', kernel: 'after', guest: 'c', id: 'b', status: 'done', report: { id: 'b', status: 'done', results: [] } });
  t.deepEqual(clock.times.get('after/c/a'), { at: 1_000, ms: 250 });
  t.deepEqual(clock.times.get('after/c/b'), { at: 1_250, ms: 12 });
  // A fresh VM starts the clock again.
  now = 5_000;
  clock.reporter({ type: 'vm-boot', kernel: 'after', attempt: 2, kind: 'ready', bootMs: 900 });
  now = 5_100;
  clock.reporter({ type: 'cell-observed', kernel: 'after', guest: 'ts', id: 'a', status: 'done', report: { id: 'a', status: 'done', results: [] } });
  t.deepEqual(clock.times.get('after/ts/a'), { at: 5_000, ms: 100 });
});

test('the cell clock takes a guest-timed duration (us) at its word: answers sent in one burst keep their own times', (t) => {
  let now = 1_000;
  const clock = cellClock(() => now);
  clock.reporter({ type: 'vm-boot', kernel: 'after', attempt: 1, kind: 'ready', bootMs: 900 });
  now = 1_300;
  for (const id of ['a', 'b']) clock.reporter({ type: 'cell-observed', kernel: 'after', guest: 'c', id, status: 'done', report: { id, status: 'done', results: [] }, us: 9_500 });
  t.deepEqual(clock.times.get('after/c/a'), { at: 1_291, ms: 9.5 });
  t.deepEqual(clock.times.get('after/c/b'), { at: 1_291, ms: 9.5 });
});

// ---- issue 9 row 15: KernelCI conventions ----

test('issue 9 row 15: the boot test is `boot`; checkouts carry the git origin (URL, commit, branch) or the Debian version', async (t) => {
  // A real git tree with a branch and an scp-style remote, described as a kernel.
  const repo = tmp();
  const git = (...args: string[]): string => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } }).trim();
  git('init', '-q', '-b', 'net-next');
  fs.writeFileSync(path.join(repo, 'Makefile'), 'all:\n');
  git('add', 'Makefile');
  git('commit', '-q', '-m', 'tcp: bind(0) remove the SO_REUSEADDR restriction');
  git('remote', 'add', 'origin', 'git@github.com:example/linux.git');
  const commit = git('rev-parse', 'HEAD');
  const yaml = path.join(repo, 'net-next.yaml');
  fs.writeFileSync(yaml, `name: net-next\nsource: {git: ${repo}, ref: net-next}\nlocalversion: -kph-nn\nprofile: 4b01a967+followup\n`);
  const facts = await gatherRunFacts([yaml, 'debian-6.1-before']);
  t.like(facts.sources['net-next'], { kind: 'git', commit, branch: 'net-next', url: 'https://github.com/example/linux.git', subject: 'tcp: bind(0) remove the SO_REUSEADDR restriction', patchsetHash: '' });
  t.like(facts.sources['debian-6.1-before'], { kind: 'debian', package: 'linux-source-6.1', patches: ['revert-4b01a967.patch'] });
  t.regex((facts.sources['debian-6.1-before'] as { version?: string }).version ?? '', /^6\.1\./);
  fs.rmSync(repo, { recursive: true, force: true });

  const doc = toKcidb({
    runId: RUN_ID, facts,
    kernels: [
      { name: 'net-next', release: '6.1.0-kph-nn', profile: '4b01a967+followup', bootMs: 3000, unameR: '6.1.0-kph-nn', attempts: [{}], built: { cached: false, seconds: 60 } },
      { name: 'debian-6.1-before', release: '6.1.192-kph-before', profile: 'pre-4b01a967', bootMs: 3000, unameR: '6.1.192-kph-before', attempts: [{}], built: { cached: true, seconds: 0 } },
    ],
    records: [],
  });
  t.is(kcidbErrors(doc), '');
  t.deepEqual(doc.tests.map((x) => x.path), ['boot', 'boot']);
  const [gitCheckout, debCheckout] = doc.checkouts;
  t.like(gitCheckout, { git_repository_url: 'https://github.com/example/linux.git', git_commit_hash: commit, git_repository_branch: 'net-next', patchset_hash: '' });
  t.is(gitCheckout.id, `kph:${RUN_ID}:git-${commit.slice(0, 12)}`);
  t.like(debCheckout, { tree_name: 'linux-source-6.1', patchset_hash: facts.sources['debian-6.1-before'].kind === 'debian' ? facts.sources['debian-6.1-before'].patchsetHash : '' });
  t.false('git_commit_hash' in debCheckout, 'a Debian source package has no git commit');
  t.regex((debCheckout.misc as { source_version: string }).source_version, /^6\.1\./);
  // Remote URLs in every common form become KCIDB's https:// form, or nothing.
  t.is(httpsUrl('https://user:tok@git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git'), 'https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git');
  t.is(httpsUrl('ssh://git@gitlab.com:2222/a/b.git'), 'https://gitlab.com/a/b.git');
  t.is(httpsUrl('/srv/git/linux.git'), undefined);
});

// ---- issue 9 row 16: junit.xml for the Jenkins xunit plugin ----

xsdTest('issue 9 row 16: junit.xml validates against the Jenkins xunit XSD, with real times and <skipped message>', (t) => {
  const dir = tmp();
  const file = path.join(dir, 'junit.xml');
  fs.writeFileSync(file, toJunit(formatRecords(), RUN_ID));
  const v = xmllint(file);
  t.true(v.ok, v.out);
  const xml = read(dir, 'junit.xml');
  t.regex(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="kph 20261203-120000-abcdef" tests="6" failures="1" errors="2" time="0\.210">/);
  t.false(/<testsuites[^>]* skipped=/.test(xml), 'the xunit schema has no skipped attribute on testsuites');
  t.regex(xml, /<testsuite name="after\.c" tests="3" failures="0" errors="0" skipped="1" time="0\.126" timestamp="2026-12-03T12:00:00">/);
  t.regex(xml, /<testcase classname="kph\.after\.c\.repro" name="repro\/reuse=0,fam=inet" time="0\.042"\/>/);
  t.regex(xml, /<skipped message="could not run here: no IPv6 in this kernel &lt;&amp;&gt;"\/>/);
  t.false(xml.includes('<system-out>'));
  // A flaky pass keeps the try the lab broke; a cell that never passed lists its earlier tries.
  t.regex(xml, /name="repro\/reuse=1,fam=inet" time="0\.042">\n\s+<flakyError message="VM 1: SSH lost" type="ERROR"\/>/);
  t.regex(xml, /<rerunError message="VM 1: SSH lost" type="ERROR"\/>/);
  // A record without a measured time (never ran) has no time attribute rather than a made-up 0.
  t.regex(xml, /<testcase classname="kph\.before\.c\.other" name="other\/reuse=absent,fam=inet">/);
  t.false(xml.includes('time="0"'));
  // A cell measured under half a millisecond keeps its microseconds rather than reading 0.000.
  const quick = toJunit([rec('after', 'repro/reuse=0,fam=inet', 'PASS', { ms: 0.312 })], RUN_ID);
  t.regex(quick, /name="repro\/reuse=0,fam=inet" time="0\.000312"\/>/);
  t.regex(quick, /<testsuites [^>]*time="0\.000312">/);
  // The console excerpt's NUL and BEL cannot be in XML: replaced; ]]> is escaped text.
  t.true(xml.includes('trace\uFFFDwith a NUL\uFFFD and ]]&gt; too'));
  // Negative control: the schema does reject what the old writer produced.
  fs.writeFileSync(file, xml.replace('<testsuites name=', '<testsuites skipped="1" name='));
  t.false(xmllint(file).ok);
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---- issue 9 row 17: not applicable by design is n/a, not SKIP ----

test('issue 9 row 17: a not-applicable cell is NA (never SKIP or MISS); NA is no test in KTAP, JUnit and KCIDB and n/a in the matrix', (t) => {
  const na: OracleAnswer = { kind: 'not-applicable', reason: 'the kernel has no net.ipv4.ip_autobind_reuse' };
  const cmp = (): { match: boolean } => ({ match: true });
  t.deepEqual(classify(na, undefined, undefined, cmp), { outcome: 'NA', reason: na.reason });
  t.deepEqual(classify(na, { id: 'x', status: 'unsupported', reason: 'no sysctl' }, undefined, cmp), { outcome: 'NA', reason: na.reason });
  t.is(classify(na, undefined, { kind: 'panic', title: 'boot panic', offset: 0, excerpt: '' }, cmp).outcome, 'NA', 'a cell never sent is not charged with a crash');
  t.is(classify(na, { id: 'x', status: 'done', results: [] }, undefined, cmp).outcome, 'FAIL');
  const predicted: OracleAnswer = { kind: 'predicted', profile: 'p', ops: [] };
  t.is(classify(predicted, { id: 'x', status: 'unsupported', reason: 'no IPv6' }, undefined, cmp).outcome, 'FAIL');
  t.is(rollUp(['NA', 'PASS', 'NA']), 'PASS');
  t.is(rollUp(['NA', 'SKIP']), 'SKIP');
  t.is(exitCodeFor(['NA', 'PASS', 'SKIP']), 0);

  const records = formatRecords();
  const naIds = records.filter((r) => r.outcome === 'NA').map((r) => `${r.kernel}/${r.id}`);
  t.is(naIds.length, 3);
  const ktap = toKtap(records);
  t.regex(ktap, /^KTAP version 1\n1\.\.2\n {2}KTAP version 1\n {2}# Subtest: after\.c\n {2}1\.\.3\n/);
  const afterPart = ktap.split('# Subtest: before.c')[0];
  t.false(afterPart.includes('repro/reuse=0,fam=inet6'), 'after.c lists no NA cell');
  t.false(afterPart.includes('repro/reuse=absent,fam=inet'), 'after.c lists no NA cell');
  t.false(ktap.includes('# SKIP the kernel has no'));
  const junit = toJunit(records, RUN_ID);
  t.is((junit.match(/<testcase /g) ?? []).length, records.length - 3);
  t.false(junit.includes('name="repro/reuse=0,fam=inet6"'));
  const kcidb = toKcidb({ runId: RUN_ID, records: records.map(({ cell, ...r }) => ({ ...r, params: cell })) });
  t.is(kcidbErrors(kcidb), '');
  t.is(kcidb.tests.length, records.length - 3);
  t.false(kcidb.tests.some((x) => (x.status as string) === 'NA'));
  // The matrix (summary.md, terminal, report.html): the NA cell of a column that exists reads n/a.
  const md = matrixMarkdown(records);
  t.regex(md, /\| repro \| range=one-port,fam=inet6,addr=loopback \| c \| [^|]*\| n\/a \| skip `/);
  t.regex(matrixText(records), /repro\s+fam=inet6\s+c\s+ERROR {2}guest error: timeout\s+n\/a\s+skip {2}could not run here/);
  const html = renderHtml({ runId: RUN_ID, complete: true, exitCode: 1, records, changes: behaviourChanges(records), kernels: [] });
  t.regex(html, /<td class="cell o-NA k\d+" data-r="\d+"><span class="b o-NA">n\/a<\/span><code><\/code><\/td>/);
  t.regex(html, /data-outcome="NA">n\/a <b>3<\/b>/);
  t.regex(html, /data-outcome="SKIP">SKIP <b>1<\/b>/);
  const summary = renderOutputs({ runId: RUN_ID, complete: true, exitCode: 1, accel: { requested: 'tcg', reason: 'test', timeScale: 3, used: [] }, kernels: [], image: {}, timings: {}, records: [] }, records)['summary.md'];
  t.regex(summary, /SKIP 1 \(could not run here\); n\/a 3 \(do not apply to that kernel: not run, not reported as tests\)\./);
  t.regex(summary, /## Skipped \(could not run here\)\n\n- after c `repro\/reuse=1,fam=inet6`: could not run here: no IPv6 in this kernel <&>\n/);
});

// ---- issue 8 item 4: outputs fast, small, deterministic ----

test.serial('issue 8 item 4: the default plan\'s outputs are written within 1 s of CPU, each record small', async (t) => {
  const run = defaultPlanRun();
  t.true(run.records.length > 3000, `${run.records.length} records`);
  const na = run.records.filter((r) => r.outcome === 'NA').length;
  t.true(na > 1000, `${na} NA records`);
  const dir = tmp();
  const stats = await quiet(() => writeRunFiles(dir, run));
  const bytes = stats.bytes;
  const perRecord = (bytes['results.json'] / run.records.length).toFixed(0);
  const kcidb = JSON.parse(read(dir, 'kcidb.json')) as KcidbDoc;
  const perTest = (bytes['kcidb.json'] / kcidb.tests.length).toFixed(0);
  t.log(`writeRunFiles: ${stats.ms} ms wall, ${stats.cpuMs} ms CPU; results.json ${bytes['results.json']} B (${perRecord} B/record), kcidb.json ${bytes['kcidb.json']} B (${perTest} B/test), ${JSON.stringify(bytes)}`);
  // CPU time, not wall time: this machine's 2 cores are shared (wall is printed by every run).
  t.true(stats.cpuMs <= 1000, `${stats.cpuMs} ms CPU`);
  t.true(Number(perRecord) <= 1024, `${perRecord} B per results.json record`);
  t.true(Number(perTest) <= 1024, `${perTest} B per KCIDB test`);
  t.is(kcidbErrors(kcidb), '');
  t.is(kcidb.tests.length, run.records.length - na + KERNELS.length);
  // The benchmark hook renders a run directory again (elsewhere) and says what it took.
  const again = await timeOutputs(dir);
  t.deepEqual(again.bytes, bytes);
  t.log(`timeOutputs: ${again.ms} ms wall, ${again.cpuMs} ms CPU`);
  // No duplicate files: results.json holds the predictions and observations.
  t.false(fs.existsSync(path.join(dir, 'expected.json')));
  t.false(fs.existsSync(path.join(dir, 'observed.json')));
  // Each oracle rule text, case title and cell's parameters once in results.json.
  const text = read(dir, 'results.json');
  const doc = JSON.parse(text) as ResultsDoc;
  for (const rule of doc.rules!) t.is(text.split(JSON.stringify(rule)).length - 1, 1, rule.join(' / '));
  t.is(new Set(doc.rules!.map((r) => r.join('\u0000'))).size, doc.rules!.length);
  t.is(Object.keys(doc.cells!).length, new Set(run.records.map((r) => r.id)).size);
  const title = run.records[0].title;
  t.is(text.split(JSON.stringify(title)).length - 1, 1);
  fs.rmSync(dir, { recursive: true, force: true });
});

test.serial('issue 8 item 4: the outputs are byte-for-byte the same when written again, and when rendered again from results.json', async (t) => {
  const run = defaultPlanRun();
  const [a, b, c] = [tmp(), tmp(), tmp()];
  await quiet(() => writeRunFiles(a, run));
  await quiet(() => writeRunFiles(b, run));
  // As a merge does: from results.json alone.
  const doc = JSON.parse(read(a, 'results.json')) as ResultsDoc;
  await quiet(() => writeOutputs(c, doc, recordsOf(doc)));
  const files = fs.readdirSync(a).sort();
  t.deepEqual(files, ['junit.xml', 'kcidb.json', 'report.html', 'results.json', 'results.ktap', 'summary.md']);
  for (const f of files) {
    t.true(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f}: second write`);
    t.true(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))), `${f}: rendered from results.json`);
  }
  for (const d of [a, b, c]) fs.rmSync(d, { recursive: true, force: true });
});

// ---- a real run: facts in run.json as it happens, merge on a bare host, measured times ----

test.serial('issue 9 rows 14 and 16, real run: run.json records the facts; a merge without gcc or QEMU keeps them; times are measured', async (t) => {
  const root = tempResults();
  const run = await runCli(['--case', 'commit-repro', '--results', root]);
  t.is(run.code, 0, run.stderr.slice(-3000));
  const dir = run.runDir!;
  const manifest = JSON.parse(read(dir, 'run.json')) as { argv: string[]; facts: RunFacts };
  t.regex(manifest.facts.compiler ?? '', /^gcc /);
  t.regex(manifest.facts.qemu ?? '', /^QEMU emulator version /);
  t.like(manifest.facts.sources.before, { kind: 'debian', package: 'linux-source-6.1', patches: ['revert-4b01a967.patch'] });
  t.regex((manifest.facts.sources.after as { version?: string }).version ?? '', /^6\.1\./);
  t.regex(run.stderr, /outputs: written in \d+ ms/);
  const results = JSON.parse(read(dir, 'results.json')) as ResultsDoc;
  t.deepEqual(results.facts, manifest.facts);
  // Measured per-cell times in JUnit and KCIDB.
  const junit = read(dir, 'junit.xml');
  const times = [...junit.matchAll(/<testcase [^>]*time="([\d.]+)"/g)].map((m) => Number(m[1]));
  t.true(times.length > 0 && times.every((x) => x > 0), junit.slice(0, 600));
  if (hasXmllint) t.true(xmllint(path.join(dir, 'junit.xml')).ok);
  const kcidb = JSON.parse(read(dir, 'kcidb.json')) as KcidbDoc;
  const cellTests = kcidb.tests.filter((x) => x.path !== 'boot');
  t.true(cellTests.every((x) => (x.duration ?? 0) > 0));
  // Each cell test starts when it was sent, within the run (the run id keeps whole seconds: +1 s).
  const runStart = Date.parse(`${results.runId.slice(0, 4)}-${results.runId.slice(4, 6)}-${results.runId.slice(6, 8)}T${results.runId.slice(9, 11)}:${results.runId.slice(11, 13)}:${results.runId.slice(13, 15)}Z`);
  const outside = cellTests.filter((x) => !(Date.parse(x.start_time!) >= runStart && Date.parse(x.start_time!) <= runStart + 1000 + results.timings.total));
  t.deepEqual(outside.map((x) => `${x.id} ${x.start_time}`), [], `run ${results.runId}, total ${results.timings.total} ms`);
  // Merge on a "bare" host: nothing on PATH but node itself.
  const out = path.join(root, 'merged');
  execFileSync(process.execPath, [path.join(projectRoot, 'harness/merge.mjs'), dir, '--out', out], { env: { ...process.env, PATH: '/nonexistent' }, stdio: 'ignore' });
  const merged = JSON.parse(read(out, 'kcidb.json')) as KcidbDoc;
  t.is(kcidbErrors(merged), '');
  t.is(merged.builds[0].compiler, manifest.facts.compiler);
  t.true(merged.tests.find((x) => x.path === 'boot')!.environment!.comment!.startsWith(manifest.facts.qemu!));
  t.is((merged.checkouts[0].misc as { source_version?: string }).source_version, (manifest.facts.sources.after as { version?: string }).version);
  fs.rmSync(root, { recursive: true, force: true });
});
