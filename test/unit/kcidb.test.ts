// KCIDB v5.3 output: toKcidb() on a synthetic run (every outcome, crashes, a kernel that never
// booted) and on a real results.json, validated against KernelCI's own schema with ajv. The
// facts (sources, compiler, QEMU) come from the run document (facts.ts gathers them at run time).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { gatherRunFacts, type RunFacts } from '../../harness/src/run/facts.js';
import { LOG_EXCERPT_MAX, toKcidb, type KcidbDoc, type KcidbOutcome, type RunForKcidb } from '../../harness/src/results/kcidb.js';
import { patchsetHash } from '../../harness/src/kernel/source.js';
import { describeSource } from '../../harness/src/results/source-text.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { debianFacts } from '../../harness/src/kernel/source-debian.js';

// ajv-formats is CommonJS: its default export arrives as module.exports under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
const schema = JSON.parse(fs.readFileSync(path.join(projectRoot, 'harness/data/kcidb-io.schema.v5.3.json'), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(schema);

const errorsOf = (doc: unknown): string => (validate(doc) ? '' : ajv.errorsText(validate.errors, { separator: '\n' }));

const OUTCOMES: KcidbOutcome[] = ['PASS', 'FAIL', 'ERROR', 'MISS', 'SKIP'];
const PARAMS = { autobindReuse: 0, portRange: [32768, 32768] as const, family: 'inet', addr: 'loopback', sockets: [], ops: [{ op: 'bind' as const, sock: 0 }], destinations: 0, dims: {} };
const CRASH = { kind: 'warning', title: 'WARNING: CPU: 0 PID: 1 at net/ipv4/inet_connection_sock.c:123', offset: 10, excerpt: `trace\0with a NUL\n${'x'.repeat(20_000)}` };

const FACTS: RunFacts = {
  compiler: 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0',
  qemu: 'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)',
  harness: { version: '0.1.0', commit: 'fec6e45e40e0a4a2b4f6a1c8a9b1d2e3f4a5b6c7', dirty: false },
  sources: {
    after: debianFacts({ package: 'linux-source-6.1', version: '6.1.192-2', patches: [], patchsetHash: '' }),
    before: debianFacts({ package: 'linux-source-6.1', version: '6.1.192-2', patches: ['revert-4b01a967.patch'], patchsetHash: patchsetHash(['patch text\n']) }),
  },
};

function syntheticRun(): RunForKcidb {
  const records: NonNullable<RunForKcidb['records']> = [];
  for (const kernel of ['after', 'before']) {
    for (const guest of ['c', 'ts']) {
      OUTCOMES.forEach((outcome, i) => records.push({
        kernel, release: `6.1.192-kph-${kernel}`, profile: kernel === 'after' ? '4b01a967+followup' : 'pre-4b01a967', guest,
        id: `case-${i}/reuse=0,range=one-port,fam=inet,addr=loopback`, case: `case-${i}`, title: `cell ${outcome}`,
        outcome, reason: outcome === 'FAIL' ? `kernel warning: ${CRASH.title}` : `reason ${outcome}`,
        expected: { kind: 'predicted', profile: 'p', ops: [{ result: { ok: true, port: null }, rule: 'r', models: 'm' }] },
        observed: outcome === 'MISS' ? undefined : { id: 'x', status: 'done', results: [{ ok: true, port: null }] },
        crash: outcome === 'FAIL' ? CRASH : undefined,
        params: PARAMS,
      }));
    }
  }
  // A third kernel that crashed while booting, and a fourth whose boot never started.
  records.push({ kernel: 'crashy', release: '6.1.192-kph-crashy', profile: 'p', guest: 'c', id: 'case-0/reuse=absent', case: 'case-0', outcome: 'FAIL', reason: 'kernel panic: Kernel panic - not syncing', crash: { kind: 'panic', title: 'Kernel panic - not syncing: VFS', excerpt: 'panic' } });
  records.push({ kernel: 'unbooted', release: '6.1.192-kph-unbooted', profile: 'p', guest: 'c', id: 'case-0/reuse=absent', case: 'case-0', outcome: 'MISS', reason: 'the cell never ran' });
  const kvm = { enabled: false, present: true };
  return {
    runId: '20261126-095604-abd502', complete: true, exitCode: 1, facts: FACTS,
    accel: { requested: 'tcg', reason: 'CPU shows no vmx/svm flag', timeScale: 3 },
    kernels: [
      { name: 'after', release: '6.1.192-kph-after', profile: '4b01a967+followup', unameR: '6.1.192-kph-after', bootMs: 4158, kvm, attempts: [{ attempt: 1, kind: 'ready' }], built: { cached: false, seconds: 241.5, bzImage: '/c/after/bzImage' } },
      { name: 'before', release: '6.1.192-kph-before', profile: 'pre-4b01a967', unameR: '6.1.192-kph-before', bootMs: 4497, kvm: { enabled: true, present: true }, attempts: [{ attempt: 1, kind: 'ready' }], built: { cached: true, seconds: 0, bzImage: '/c/before/bzImage' } },
      { name: 'crashy', release: '6.1.192-kph-crashy', profile: 'p', kvm, attempts: [{ attempt: 1, kind: 'crash' }], bootCrash: CRASH, built: { cached: true, seconds: 0 } },
      { name: 'unbooted', release: '6.1.192-kph-unbooted', profile: 'p', attempts: [], infraError: 'interrupted before boot', built: { cached: true, seconds: 0 } },
    ],
    timings: { provision: 203, build: 107, run: 5498, total: 5891 },
    records,
  };
}

/** Whether a null (or undefined) value sits anywhere in v. */
function hasNull(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v !== 'object') return false;
  return Object.values(v).some(hasNull);
}

/** Checks every id is prefixed by the origin and unique within its object type. */
function assertIds(t: import('ava').ExecutionContext, doc: KcidbDoc, origin: string): void {
  for (const kind of ['checkouts', 'builds', 'tests'] as const) {
    const ids = doc[kind].map((o) => o.id);
    t.is(new Set(ids).size, ids.length, `${kind} ids are unique`);
    for (const o of doc[kind]) {
      t.true(o.id.startsWith(`${origin}:`), o.id);
      t.is(o.origin, origin);
    }
  }
  const buildIds = new Set(doc.builds.map((b) => b.id));
  const checkoutIds = new Set(doc.checkouts.map((c) => c.id));
  for (const b of doc.builds) t.true(checkoutIds.has(b.checkout_id), b.checkout_id);
  for (const x of doc.tests) t.true(buildIds.has(x.build_id), x.build_id);
  t.false(hasNull(doc), 'no nulls anywhere');
}

test('synthetic run with every outcome and crashes: valid KCIDB v5.3, statuses 1:1', (t) => {
  const run = syntheticRun();
  const doc = toKcidb(run, 'kph');
  t.is(errorsOf(doc), '');
  assertIds(t, doc, 'kph');
  t.deepEqual(doc.version, { major: 5, minor: 3 });

  // One test per record, in order, with the outcome as status; one boot test per kernel.
  const cellTests = doc.tests.filter((x) => x.path !== 'boot');
  t.deepEqual(cellTests.map((x) => x.status), run.records!.map((r) => r.outcome));
  t.deepEqual(new Set(cellTests.map((x) => x.status)), new Set(OUTCOMES));
  const boots = Object.fromEntries(doc.tests.filter((x) => x.path === 'boot').map((x) => [x.build_id.split(':').at(-1) as string, x]));
  t.deepEqual(Object.fromEntries(Object.entries(boots).map(([k, x]) => [k, x.status])), { after: 'PASS', before: 'PASS', crashy: 'FAIL', unbooted: 'MISS' });
  t.is(boots.after.duration, 4.158);
  t.regex(boots.crashy.log_excerpt!, /WARNING: CPU: 0/);
  t.regex(boots.after.environment!.comment!, /^QEMU emulator version .*accelerator TCG \(CPU shows no vmx\/svm flag\)/);
  t.regex(boots.before.environment!.comment!, /accelerator KVM/);

  // Paths: dot-separated identifiers.
  const first = cellTests[0];
  t.is(first.path, 'kph.c.case-0.reuse_0_range_one-port_fam_inet_addr_loopback');
  t.is(first.id, 'kph:20261126-095604-abd502:after:c:case-0/reuse=0,range=one-port,fam=inet,addr=loopback');
  t.is(first.start_time, '2026-11-26T09:56:04.310Z', 'a cell without a measured time starts with the run phase');
  t.is(first.misc!.expected, 'bind(s0)=p?');

  // The crash excerpt goes into the log excerpt, within KCIDB's limit, without NULs.
  const failed = cellTests.find((x) => x.status === 'FAIL')!;
  t.true(failed.log_excerpt!.length <= LOG_EXCERPT_MAX);
  t.true(failed.log_excerpt!.startsWith(`kernel warning: ${CRASH.title}\n\nkernel warning: ${CRASH.title}\ntrace\uFFFDwith a NUL`));
  t.regex(failed.log_excerpt!, /more characters cut\]$/);

  // Builds and checkouts: each variant its own checkout, hashed patchset for before only.
  t.deepEqual(doc.builds.map((b) => [b.id.split(':').at(-1), b.status, b.duration, b.architecture]), [
    ['after', 'PASS', 241.5, 'x86_64'], ['before', 'PASS', 0, 'x86_64'], ['crashy', 'PASS', 0, 'x86_64'], ['unbooted', 'PASS', 0, 'x86_64'],
  ]);
  const checkout = (kernel: string) => doc.checkouts.find((c) => c.id === doc.builds.find((b) => b.id.endsWith(`:${kernel}`))!.checkout_id)!;
  t.is(checkout('after').id, 'kph:20261126-095604-abd502:linux-source-6.1');
  t.is(checkout('after').patchset_hash, '');
  t.is(checkout('before').id, 'kph:20261126-095604-abd502:linux-source-6.1+revert-4b01a967');
  t.regex(checkout('before').patchset_hash!, /^[0-9a-f]{64}$/);
  t.is(checkout('before').misc!.source_version, '6.1.192-2');
  t.is(doc.builds[0].compiler, FACTS.compiler);
});

test('issue 11: a kind of source the outputs have never heard of shows in KCIDB and summary.md from its own facts alone', (t) => {
  // Outputs read only the checkout a kind makes (key, label, comment, fields, misc): no switch on the kind.
  const tarball = {
    kind: 'upstream-tarball', fromSource: true, patches: [], patchsetHash: '', compiler: 'gcc 99', localversion: '-x',
    checkout: { key: 'linux-6.13.tar.xz', label: 'kernel.org linux-6.13.tar.xz', comment: 'kernel.org tarball 6.13', fields: { tree_name: 'kernel.org-6.13', git_commit_hash: 'a'.repeat(40) }, misc: { url: 'https://cdn.kernel.org/x' } },
  } as unknown as RunFacts['sources'][string];
  const run = syntheticRun();
  run.facts = { ...FACTS, sources: { ...FACTS.sources, after: tarball } };
  const doc = toKcidb(run, 'kph');
  t.is(errorsOf(doc), '');
  const checkout = doc.checkouts.find((c) => c.id.endsWith(':linux-6.13.tar.xz'));
  t.truthy(checkout, doc.checkouts.map((c) => c.id).join(', '));
  t.is(checkout!.tree_name, 'kernel.org-6.13');
  t.is(checkout!.git_commit_hash, 'a'.repeat(40));
  t.regex(checkout!.comment!, /^kernel\.org tarball 6\.13 \(kernel "after"/);
  t.is((checkout!.misc as Record<string, unknown>).url, 'https://cdn.kernel.org/x');
  t.is(doc.builds.find((b) => b.id.endsWith(':after'))!.compiler, 'gcc 99');
  t.is(describeSource(tarball), 'kernel.org linux-6.13.tar.xz');
  // And no output file names a kind.
  for (const f of ['kcidb.ts', 'source-text.ts']) {
    t.notRegex(fs.readFileSync(path.join(projectRoot, 'harness', 'src', 'results', f), 'utf8'), /'(debian|git|bzImage)'/, f);
  }
});

test('a real results.json (trimmed fixture) converts to valid KCIDB v5.3', (t) => {
  const run = JSON.parse(fs.readFileSync(path.join(projectRoot, 'test/fixtures/results-sample.json'), 'utf8')) as RunForKcidb;
  const doc = toKcidb(run, 'kph');
  t.is(errorsOf(doc), '');
  assertIds(t, doc, 'kph');
  t.is(doc.tests.length, run.records!.length + run.kernels!.length);
  t.deepEqual(doc.tests.filter((x) => x.path !== 'boot').map((x) => x.status), run.records!.map((r) => r.outcome));
  t.is(doc.builds.length, 2);
  t.is(doc.checkouts.length, 2);
  // Without facts it is still valid (no hashes, checkouts named after the variants).
  const bare = toKcidb({ ...run, facts: undefined });
  t.is(errorsOf(bare), '');
  t.deepEqual(bare.checkouts.map((c) => c.id.split(':').at(-1)), ['after', 'before']);
  // Another origin prefixes every id.
  const other = toKcidb(run, 'other_ci');
  t.is(errorsOf(other), '');
  assertIds(t, other, 'other_ci');
});

test('the validator rejects invalid documents, and toKcidb refuses a bad origin', (t) => {
  const doc = toKcidb(syntheticRun(), 'kph');
  const hyphen = structuredClone(doc);
  hyphen.checkouts[0].origin = 'kph-ci';
  t.regex(errorsOf(hyphen), /origin must match pattern/);
  const nulled = structuredClone(doc) as unknown as { tests: Array<Record<string, unknown>> };
  nulled.tests[0].duration = null;
  t.regex(errorsOf(nulled), /duration must be number/);
  const unknown = structuredClone(doc) as unknown as { builds: Array<Record<string, unknown>> };
  unknown.builds[0].kernel = 'after';
  t.regex(errorsOf(unknown), /must NOT have additional properties/);
  const badStatus = structuredClone(doc) as unknown as { tests: Array<Record<string, unknown>> };
  badStatus.tests[0].status = 'OK';
  t.not(errorsOf(badStatus), '');
  const badPath = structuredClone(doc);
  badPath.tests[1].path = 'kph.c.case/with slash';
  t.not(errorsOf(badPath), '');
  const badTime = structuredClone(doc);
  badTime.tests[0].start_time = 'yesterday';
  t.regex(errorsOf(badTime), /must match format "date-time"/, 'formats are checked (ajv-formats)');
  t.throws(() => toKcidb(syntheticRun(), 'kph-ci'), { message: /origin must match/ });
});

test('patchset hash equals `sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64`; facts gathered on this host', async (t) => {
  const dir = path.join(projectRoot, 'kernels/patches/6.1');
  const shell = execFileSync('sh', ['-c', 'sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64'], { cwd: dir, encoding: 'utf8' }).trim();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.patch')).sort();
  t.is(patchsetHash(files.map((f) => fs.readFileSync(path.join(dir, f)))), shell);
  t.is(patchsetHash([]), '');
  const facts = await gatherRunFacts();
  t.like(facts.sources.before, { kind: 'debian', package: 'linux-source-6.1', patchsetHash: shell, patches: ['revert-4b01a967.patch'] });
  t.like(facts.sources.after, { kind: 'debian', patchsetHash: '' });
  t.regex(facts.compiler ?? '', /gcc/);
  t.regex(facts.harness.commit ?? '', /^[0-9a-f]{40}$/);
});
