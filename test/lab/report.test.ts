// Behaviour changes between kernels, and report.html loaded in a real headless Chromium
// (Debian's `chromium`, provisioned by harness/src/provision.ts).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { AutobindReuse, OpResult } from '../../harness/src/core/cell.js';
import { ROOMY_RANGE, EXHAUSTED_RANGE } from '../../harness/src/core/cell.js';
import { cellGroup, cellId, type CellDims, type PlannedCell } from '../../harness/src/core/planned.js';
import type { CellRecord } from '../../harness/src/core/record.js';
import { behaviourChanges, changeSummary, kernelWithoutSysctl } from '../../harness/src/results/changes.js';
import { renderHtml, type HtmlInput } from '../../harness/src/results/html.js';
import { writeRunFiles } from '../../harness/src/results/run-files.js';
import type { KernelJobResult } from '../../harness/src/run/kernel-job.js';
import type { PredictedOp } from '../../harness/src/core/verdict.js';

const XSS = '<script>alert(1)</script> & "quoted" \'x\'';
const KERNELS = [
  { name: 'before', profile: 'pre-4b01a967', release: '6.1.0-kph-before', reuse: ['absent'] as AutobindReuse[] },
  { name: 'after', profile: '4b01a967+followup', release: '6.1.0-kph-after', reuse: [0, 1] as AutobindReuse[] },
];
const REUSES: AutobindReuse[] = ['absent', 0, 1];

const ok = (port: number): OpResult => ({ ok: true, port });
const err = (errno: string): OpResult => ({ ok: false, errno });

interface CellSpec { case: string; range: 'one-port' | 'roomy'; fam: 'inet' | 'inet6' | 'v4mapped'; addr?: 'loopback' | 'any'; extra?: CellDims['extra']; nops?: number }

/** A planned cell of a two-socket bind script (or nops binds). */
function cell(spec: CellSpec, reuse: AutobindReuse): PlannedCell {
  const nops = spec.nops ?? 2;
  const sockets = Array.from({ length: nops }, () => ({ reuseaddr: true, reuseport: false, bindAddressNoPort: false, euid: 0 }));
  const dims: CellDims = { reuse, range: spec.range, fam: spec.fam, addr: spec.addr ?? 'loopback', extra: spec.extra ?? [] };
  return {
    id: cellId(spec.case, dims),
    case: spec.case,
    title: `${spec.case}: two SO_REUSEADDR sockets bind(0) through a ${spec.range} range`,
    autobindReuse: reuse,
    portRange: spec.range === 'one-port' ? EXHAUSTED_RANGE : ROOMY_RANGE,
    family: spec.fam,
    addr: spec.addr ?? 'loopback',
    sockets,
    ops: sockets.map((_, i) => ({ op: 'bind' as const, sock: i })),
    destinations: 0,
    guests: ['c'],
    dims,
  };
}

/** What the commit does: with one port, the second bind fails unless ip_autobind_reuse=1. */
function behaviour(spec: CellSpec, reuse: AutobindReuse): OpResult[] {
  const nops = spec.nops ?? 2;
  if (spec.range === 'roomy') return Array.from({ length: nops }, (_, i) => ok(40000 + i * 7));
  return Array.from({ length: nops }, (_, i) => (i === 0 || reuse === 1 ? ok(32768) : err('EADDRINUSE')));
}

function predicted(spec: CellSpec, reuse: AutobindReuse, profile: string): PredictedOp[] {
  return behaviour(spec, reuse).map((result, i) => ({
    result,
    rule: i === 0 ? 'free port: first bucket in the range is empty' : reuse === 1 ? 'ip_autobind_reuse=1: bind(0) may share a port when the range is exhausted' : `range exhausted, SO_REUSEADDR alone does not allow sharing (${profile})`,
    models: i === 0 ? 'inet_csk_find_open_port()' : 'inet_csk_bind_conflict()',
  }));
}

/** Records in assemble()'s shape: every kernel × guest × cell, NA (not sent) where the sysctl value does not apply. */
function makeRecords(specs: CellSpec[], guests: Array<'c' | 'ts'> = ['c'], kernelOrder = KERNELS): CellRecord[] {
  const out: CellRecord[] = [];
  for (const k of kernelOrder) {
    for (const guest of guests) {
      for (const spec of specs) {
        for (const reuse of REUSES) {
          const c = { ...cell(spec, reuse), guests };
          const applies = k.reuse.includes(reuse);
          const base = { kernel: k.name, release: k.release, profile: k.profile, guest, id: c.id, case: c.case, title: c.title, cell: c };
          if (!applies) {
            const reason = reuse === 'absent' ? 'the kernel has net.ipv4.ip_autobind_reuse' : 'the kernel has no net.ipv4.ip_autobind_reuse';
            out.push({ ...base, outcome: 'NA', reason, expected: { kind: 'not-applicable', reason } });
            continue;
          }
          out.push({
            ...base, outcome: 'PASS', reason: 'observed matches the oracle',
            expected: { kind: 'predicted', profile: k.profile, ops: predicted(spec, reuse, k.profile) },
            observed: { id: c.id, status: 'done', results: behaviour(spec, reuse) },
          });
        }
      }
    }
  }
  return out;
}

const REPRO: CellSpec[] = [
  { case: 'commit-repro', range: 'one-port', fam: 'inet' },
  { case: 'commit-repro', range: 'roomy', fam: 'inet' },
  { case: 'commit-repro', range: 'one-port', fam: 'inet6' },
];
const find = (records: CellRecord[], kernel: string, reuse: AutobindReuse, range: string, fam = 'inet', guest = 'c'): CellRecord =>
  records.find((r) => r.kernel === kernel && r.cell.autobindReuse === reuse && r.id.includes(`range=${range},fam=${fam},`) && r.guest === guest)!;

test('cellGroup drops only the reuse= parameter', (t) => {
  const dims: CellDims = { reuse: 1, range: 'one-port', fam: 'inet', addr: 'loopback', extra: [['s0.reuseaddr', false]] };
  t.is(cellId('commit-repro', dims), 'commit-repro/reuse=1,range=one-port,fam=inet,addr=loopback,s0.reuseaddr=false');
  t.is(cellGroup('commit-repro', dims), 'commit-repro/range=one-port,fam=inet,addr=loopback,s0.reuseaddr=false');
  t.is(cellGroup('x', { ...dims, reuse: 'absent', extra: [] }), 'x/range=one-port,fam=inet,addr=loopback');
});

test('behaviourChanges: only after reuse=1 on the one-port range changes, and the oracle predicted it', (t) => {
  const records = makeRecords(REPRO);
  const changes = behaviourChanges(records);
  t.is(changes.length, 6); // 3 groups × (after 0, after 1) against before absent
  t.true(changes.every((c) => c.from.kernel === 'before' && c.from.reuse === 'absent' && c.comparable));
  const changed = changes.filter((c) => c.changed);
  t.is(changed.length, 2);
  const v4 = changed.find((c) => c.group === 'commit-repro/range=one-port,fam=inet,addr=loopback')!;
  t.like(v4, { guest: 'c', case: 'commit-repro', to: { kernel: 'after', reuse: 1 }, predictedChange: true, explained: true, changedOps: [1] });
  t.is(v4.from.observed, 'bind(s0)=p1 bind(s1)=EADDRINUSE');
  t.is(v4.to.observed, 'bind(s0)=p1 bind(s1)=p1');
  t.is(v4.to.expected, 'bind(s0)=p1 bind(s1)=p1');
  t.deepEqual(v4.rules, ['ip_autobind_reuse=1: bind(0) may share a port when the range is exhausted']);
  t.true(changes.filter((c) => !c.changed).every((c) => c.predictedChange === false && c.explained && c.rules.length === 0));
  t.deepEqual(changeSummary(changes), { changed: 2, unchanged: 4, changedPredicted: 2, changedUnpredicted: 0, predictedButUnchanged: 0, incomparable: 0 });
});

test('behaviourChanges: an unpredicted change, a predicted change that did not happen, and no observation', (t) => {
  const records = makeRecords(REPRO.slice(0, 1), ['c', 'ts']);
  // The oracle (wrongly) says after reuse=1 still fails: the observed change is unpredicted.
  const c1 = find(records, 'after', 1, 'one-port');
  c1.expected = { kind: 'predicted', profile: c1.profile, ops: predicted(REPRO[0], 0, c1.profile) };
  c1.outcome = 'FAIL';
  // In the ts guest the kernel did not change though the oracle said it would.
  const ts1 = find(records, 'after', 1, 'one-port', 'inet', 'ts');
  ts1.observed = { id: ts1.id, status: 'done', results: behaviour(REPRO[0], 0) };
  ts1.outcome = 'FAIL';
  // after reuse=0 in ts: the lab broke.
  const ts0 = find(records, 'after', 0, 'one-port', 'inet', 'ts');
  ts0.observed = { id: ts0.id, status: 'error', reason: 'timeout' };
  ts0.outcome = 'ERROR';
  ts0.reason = 'guest error: timeout';
  const changes = behaviourChanges(records);
  const c = changes.find((x) => x.guest === 'c' && x.to.reuse === 1)!;
  t.like(c, { changed: true, predictedChange: false, explained: false });
  t.deepEqual(c.rules, ['range exhausted, SO_REUSEADDR alone does not allow sharing (4b01a967+followup)']);
  t.like(changes.find((x) => x.guest === 'ts' && x.to.reuse === 1)!, { changed: false, predictedChange: true, explained: false });
  t.like(changes.find((x) => x.guest === 'ts' && x.to.reuse === 0)!, { comparable: false, changed: false });
  t.is(changes.find((x) => x.guest === 'ts' && x.to.reuse === 0)!.to.observed, '[ERROR] guest error: timeout');
  t.deepEqual(changeSummary(changes), { changed: 1, unchanged: 2, changedPredicted: 0, changedUnpredicted: 1, predictedButUnchanged: 1, incomparable: 1 });
});

test('behaviourChanges: baseline is the first kernel in record order, or the one asked for', (t) => {
  const records = makeRecords(REPRO.slice(0, 1), ['c'], [KERNELS[1], KERNELS[0]]);
  const byOrder = behaviourChanges(records);
  t.true(byOrder.every((c) => c.from.kernel === 'after' && c.from.reuse === 0));
  t.deepEqual(byOrder.map((c) => [c.to.kernel, c.to.reuse, c.changed]), [['after', 1, true], ['before', 'absent', false]]);
  t.is(kernelWithoutSysctl(records), 'before');
  const explicit = behaviourChanges(records, 'before');
  t.deepEqual(explicit.map((c) => [c.from.kernel, c.to.kernel, c.to.reuse, c.changed, c.explained]), [['before', 'after', 0, false, true], ['before', 'after', 1, true, true]]);
  t.deepEqual(behaviourChanges([]), []);
});

// ---- report.html in headless Chromium ----

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio'];

/** Runs chromium once on a page (own process group, killed by its id on exit or timeout); returns stdout. */
async function chromium(html: string, hash: string, extra: string[]): Promise<{ stdout: string; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-report-test-'));
  const file = path.join(dir, 'report.html');
  fs.writeFileSync(file, html);
  const profile = path.join(dir, 'profile');
  const child = spawn('chromium', [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--virtual-time-budget=5000', ...extra, `file://${file}${hash}`],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const killGroup = (): void => { try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } };
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(killGroup, 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  killGroup();
  if (code !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`chromium exited with ${code}: ${stderr.slice(-2000)}`);
  }
  return { stdout, dir };
}

/** The DOM after the page's script ran with `hash` in the URL. */
async function dumpDom(html: string, hash = ''): Promise<string> {
  const { stdout, dir } = await chromium(html, hash, ['--dump-dom']);
  fs.rmSync(dir, { recursive: true, force: true });
  return stdout;
}

interface TagAttrs { [name: string]: string }
/** Attributes of every start tag matching `tag` and containing `marker` in the dumped DOM. */
function tags(dom: string, tag: string, marker: string): TagAttrs[] {
  const out: TagAttrs[] = [];
  for (const m of dom.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'g'))) {
    if (!m[1].includes(marker)) continue;
    const attrs: TagAttrs = {};
    for (const a of m[1].matchAll(/([\w-]+)(?:="([^"]*)")?/g)) attrs[a[1]] = a[2] ?? '';
    out.push(attrs);
  }
  return out;
}
const rowsOf = (dom: string): TagAttrs[] => tags(dom, 'tr', 'class="row');
const visible = (rows: TagAttrs[]): TagAttrs[] => rows.filter((r) => !('hidden' in r));

function page(records: CellRecord[], over: Partial<HtmlInput> = {}): string {
  return renderHtml({
    runId: '20250101-120000-abcdef', complete: true, exitCode: 0, records, changes: behaviourChanges(records),
    kernels: KERNELS.map((k, i) => ({ name: k.name, release: k.release, profile: k.profile, bootMs: 4200 + i * 800 })),
    ...over,
  });
}

/** The report's test records: REPRO in both guests, one FAIL, one ERROR with a hostile reason. */
function reportRecords(): CellRecord[] {
  const records = makeRecords(REPRO, ['c', 'ts']);
  const bad = find(records, 'after', 0, 'roomy', 'inet', 'ts');
  bad.observed = { id: bad.id, status: 'done', results: [ok(40000), err('EADDRINUSE')] };
  bad.outcome = 'FAIL';
  bad.reason = 'op 2: expected p2, observed EADDRINUSE (oracle rule free port)';
  const broken = find(records, 'after', 1, 'one-port', 'inet6', 'ts');
  broken.observed = { id: broken.id, status: 'error', reason: XSS };
  broken.outcome = 'ERROR';
  broken.reason = `guest error: ${XSS}`;
  return records;
}

test.serial('report.html in Chromium: one row per cell group, changed and problem rows marked, text escaped', async (t) => {
  const records = reportRecords();
  const html = page(records, { exitCode: 1, complete: false });
  const dom = await dumpDom(html);
  const rows = rowsOf(dom);
  const groups = new Set(records.map((r) => `${r.guest} ${cellGroup(r.case, r.cell.dims)}`));
  t.is(rows.length, groups.size);
  t.is(visible(rows).length, groups.size);
  t.regex(dom, /id="shown">6 of 6 rows</);
  t.regex(dom, /INCOMPLETE/);
  t.regex(dom, /<p id="counts">[^]*?data-outcome="FAIL">FAIL <b>1<\/b>[^]*?data-outcome="ERROR">ERROR <b>1<\/b>/);
  const changed = rows.filter((r) => r['data-changed'] === '1');
  t.deepEqual(changed.map((r) => `${r['data-guest']} ${r['data-group']}`).sort(), [
    'c commit-repro/range=one-port,fam=inet,addr=loopback', 'c commit-repro/range=one-port,fam=inet6,addr=loopback', 'ts commit-repro/range=one-port,fam=inet,addr=loopback',
    'ts commit-repro/range=roomy,fam=inet,addr=loopback', // the FAIL: an unpredicted change
  ]);
  t.true(changed.every((r) => r.class.split(' ').includes('changed')));
  const fail = rows.find((r) => r['data-guest'] === 'ts' && r['data-range'] === 'roomy')!;
  t.is(fail['data-problem'], '1');
  t.true(fail.class.split(' ').includes('fail'));
  const errRow = rows.find((r) => r['data-guest'] === 'ts' && r['data-fam'] === 'inet6')!;
  t.is(errRow['data-problem'], '1');
  t.is(rows.filter((r) => r['data-problem'] === '1').length, 2);
  // The columns: before reuse=absent, after reuse=0, after reuse=1 (n/a combinations left out).
  t.deepEqual(tags(dom, 'th', 'class="col').map((th) => `${th['data-kernel']} ${th['data-reuse']}`), ['before absent', 'after 0', 'after 1']);
  t.true(tags(dom, 'td', 'o-FAIL').length === 1 && tags(dom, 'td', 'o-ERROR').length === 1);
  t.is(tags(dom, 'td', ' chg').length, 4);
  t.regex(dom, /<td class="m delta d-bad">Δ not predicted<\/td>/);
  // Escaping: the hostile reason is text, never markup.
  t.false(dom.includes('<script>alert(1)'));
  t.true(dom.includes('&lt;script&gt;alert(1)&lt;/script&gt; &amp; "quoted"'));
  t.is((dom.match(/<script\b/g) ?? []).length, 2);
  // Filter dimensions present in the ids.
  t.deepEqual(tags(dom, 'select', 'data-dim=').map((s) => s['data-dim']), ['case', 'guest', 'kernel', 'reuse', 'range', 'fam', 'addr']);
});

test.serial('report.html in Chromium: filters from the URL hash hide rows and columns, a cell opens its details', async (t) => {
  const records = reportRecords();
  const html = page(records);
  const changedV4 = visible(rowsOf(await dumpDom(html, '#fam=inet&changed=1')));
  t.deepEqual(changedV4.map((r) => `${r['data-guest']} ${r['data-range']} ${r['data-fam']}`).sort(), ['c one-port inet', 'ts one-port inet', 'ts roomy inet']);
  const dom = await dumpDom(html, '#guest=ts&problems=1&reuse=1');
  t.deepEqual(visible(rowsOf(dom)).map((r) => `${r['data-range']} ${r['data-fam']}`).sort(), ['one-port inet6', 'roomy inet']);
  t.regex(dom, /id="shown">2 of 6 rows</);
  // Column filter reuse=1: the before and after reuse=0 columns are hidden by a generated rule.
  t.regex(dom, /<style id="col-filter">\.k0\{display:none\}\.k1\{display:none\}<\/style>/);
  // A cell's details: the hostile reason's data cell, opened through #open=N.
  const bad = /<td class="cell o-ERROR[^"]*" data-r="(\d+)"/.exec(dom);
  t.truthy(bad);
  const opened = await dumpDom(html, `#open=${bad![1]}`);
  const detail = /<aside id="detail"[^>]*>([^]*?)<\/aside>/.exec(opened);
  t.truthy(detail);
  t.false(/<aside id="detail" hidden/.test(opened));
  t.regex(detail![1], /after · reuse=1/);
  t.true(detail![1].includes('guest error: &lt;script&gt;alert(1)&lt;/script&gt;'));
  t.false(opened.includes('<script>alert(1)'));
  const changedCell = /<td class="cell o-PASS k2 chg" data-r="(\d+)"/.exec(opened)!;
  const change = await dumpDom(html, `#open=${changedCell[1]}`);
  const panel = /<aside id="detail"[^>]*>([^]*?)<\/aside>/.exec(change)![1];
  t.regex(panel, /vs before reuse=absent: CHANGED \(op 2\); predicted by the oracle; rules: ip_autobind_reuse=1/);
  t.regex(panel, /<td>bind\(s1\)<\/td><td>p1<\/td><td>p1<\/td><td>ip_autobind_reuse=1: bind\(0\) may share a port when the range is exhausted<\/td><td>inet_csk_bind_conflict\(\)<\/td>/);
});

test.serial('report.html in Chromium: an empty run', async (t) => {
  const html = page([], { changes: [], kernels: [], exitCode: 3 });
  const dom = await dumpDom(html, '#fam=inet&changed=1');
  t.is(rowsOf(dom).length, 0);
  t.regex(dom, /<table id="matrix">/);
  t.regex(dom, /id="shown">0 of 0 rows</);
  t.regex(dom, /No cells in this run/);
  t.regex(dom, /exit code 3/);
});

/** 2,880 records: 5 cases × 2 ranges × 3 families × 2 addrs × 2 × 2 socket values × 2 guests × 2 kernels × 3 reuse values, 4 ops each. */
function largeRecords(): CellRecord[] {
  const specs: CellSpec[] = [];
  for (const c of ['commit-repro', 'commit-6-step', 'app-two-clients', 'reuseport-mix', 'euid-mix'])
    for (const range of ['one-port', 'roomy'] as const)
      for (const fam of ['inet', 'inet6', 'v4mapped'] as const)
        for (const addr of ['loopback', 'any'] as const)
          for (const rp of [false, true])
            for (const euid of [0, 1000]) specs.push({ case: c, range, fam, addr, extra: [['s0.reuseport', rp], ['all.euid', euid]], nops: 4 });
  return makeRecords(specs, ['c', 'ts']);
}

test.serial('report.html with ~3,000 records stays small and filters in Chromium', async (t) => {
  const records = largeRecords();
  t.true(records.length >= 2800 && records.length <= 3200, `${records.length} records`);
  const html = page(records);
  const bytes = Buffer.byteLength(html);
  t.log(`${records.length} records → ${(bytes / 1024).toFixed(0)} KiB`);
  t.true(bytes < 3 * 1024 * 1024);
  const groups = new Set(records.map((r) => `${r.guest} ${cellGroup(r.case, r.cell.dims)}`)).size;
  const dom = await dumpDom(html, '#case=commit-repro&range=one-port&guest=c');
  const rows = rowsOf(dom);
  t.is(rows.length, groups);
  const shown = visible(rows);
  t.true(shown.length > 0 && shown.length < groups / 10);
  t.true(shown.every((r) => r['data-case'] === 'commit-repro' && r['data-range'] === 'one-port' && r['data-guest'] === 'c' && r['data-changed'] === '1'));
});

test.serial('report.html screenshot renders (for a human look: /tmp/kph-report.png)', async (t) => {
  const records = reportRecords();
  const more = makeRecords([{ case: 'commit-6-step', range: 'one-port', fam: 'inet', nops: 4 }, { case: 'app-two-clients', range: 'one-port', fam: 'inet6' }], ['c']);
  const all = [...records, ...more];
  const html = page(all, { exitCode: 1 });
  const openAt = /<td class="cell o-PASS k2 chg" data-r="(\d+)"/.exec(html)![1];
  const { dir } = await chromium(html, `#open=${openAt}`, ['--screenshot=' + path.join(os.tmpdir(), 'kph-report-shot.png'), '--window-size=1400,900']);
  fs.rmSync(dir, { recursive: true, force: true });
  const shot = path.join(os.tmpdir(), 'kph-report-shot.png');
  t.true(fs.statSync(shot).size > 10_000);
  fs.copyFileSync(shot, '/tmp/kph-report.png');
  fs.rmSync(shot);
});


test('writeRunFiles writes report.html and a "Behaviour changes" section in summary.md', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-report-run-'));
  try {
    // after first, as the default pair runs it: the baseline is still the kernel without the sysctl.
    const records = makeRecords(REPRO, ['c'], [KERNELS[1], KERNELS[0]]);
    const jobs = KERNELS.map((k) => ({ kernel: { name: k.name, release: k.release, profile: k.profile }, attempts: [], bootMs: 5000, unameR: k.release,
      reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {} })) as unknown as KernelJobResult[];
    await writeRunFiles(dir, {
      runId: 'r1', accel: { accel: 'tcg', reason: 'test', timeScale: 3 } as never, jobs, records, timings: {}, exitCode: 0, complete: true,
      kernels: [], image: { cached: true, seconds: 0, sizes: { initramfsBytes: 0, nodeDiskBytes: 0 } },
    });
    const md = fs.readFileSync(path.join(dir, 'summary.md'), 'utf8');
    t.regex(md, /## Behaviour changes/);
    t.regex(md, /2 changed \(2 predicted, 0 not predicted\), 4 unchanged, 0 predicted but unchanged\./);
    t.regex(md, /- c `commit-repro\/range=one-port,fam=inet,addr=loopback`: before reuse=absent `bind\(s0\)=p1 bind\(s1\)=EADDRINUSE` → after reuse=1 `bind\(s0\)=p1 bind\(s1\)=p1`: predicted by the oracle/);
    const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
    t.regex(html, /^<!doctype html>/);
    t.is((html.match(/<tr id="row\d+" class="row/g) ?? []).length, 3);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
