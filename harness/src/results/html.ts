// report.html: one self-contained page (inline CSS and script, no external resources) with the
// run's header, the behaviour changes and the matrix (a row per cell group × guest, a column
// per kernel × ip_autobind_reuse value), filterable client-side; filters live in the URL hash
// (e.g. report.html#fam=inet&changed=1) so a filtered view can be shared. Pure: no I/O.
import { describeOp } from '../core/cell.js';
import { groupDimensions } from '../core/planned.js';
import type { CellRecord } from '../core/record.js';
import { changeSummary, groupOf, type BehaviourChange } from './changes.js';
import { expectedText, observedText } from '../core/format.js';
import { countOutcomes, OUTCOMES, outcomeLabel, type Outcome } from '../core/verdict.js';

export interface HtmlKernel {
  name: string; release: string; profile: string; bootMs?: number;
  /** Kernel selftests run on this kernel (shown beside the matrix). */
  selftests?: Array<{ name: string; verdict: string; sysctlErrors: string[]; tests: Array<{ number: number; name: string; verdict: string }> }>;
}

export interface HtmlInput {
  runId: string;
  complete: boolean;
  exitCode: number;
  records: CellRecord[];
  changes: BehaviourChange[];
  kernels: HtmlKernel[];
}

const PROBLEMS: ReadonlySet<Outcome> = new Set(['FAIL', 'ERROR', 'MISS']);
const REUSE_ORDER = ['absent', '0', '1'];
const CELL_TEXT_MAX = 140;
const CRASH_EXCERPT_MAX = 4000;
const CHANGE_LIST_MAX = 300;

/** Escapes text for HTML content and double- or single-quoted attributes; drops control characters. */
export function escapeHtml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const esc = escapeHtml;

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const RESERVED = new Set(['case', 'guest', 'kernel', 'reuse', 'changed', 'problem', 'group', 'r', 'col']);
/** A data-* attribute name for a dimension ("s0.reuseaddr" → "s0-reuseaddr"). */
function attrOf(dim: string): string {
  const a = dim.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'dim';
  return RESERVED.has(a) && !['case', 'guest', 'kernel', 'reuse'].includes(dim) ? `dim-${a}` : a;
}

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const tokens = (s: string): string[] => (s === '' ? [] : s.split(' '));
const afterEq = (t: string | undefined): string | undefined => (t === undefined ? undefined : t.slice(t.indexOf('=') + 1));

interface Column { kernel: string; reuse: string; cls: string }
interface Row { guest: string; group: string; case: string; dims: Array<[string, string]>; cells: Map<number, CellRecord>; changes: BehaviourChange[] }

/** String interning for the page's data block. */
class Strings {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  id(s: string | undefined): number {
    if (s === undefined || s === '') return -1;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

function columnsOf(input: HtmlInput): Column[] {
  const order: string[] = [];
  const add = (k: string): void => { if (!order.includes(k)) order.push(k); };
  for (const c of input.changes) add(c.from.kernel);
  for (const k of input.kernels) add(k.name);
  for (const r of input.records) add(r.kernel);
  const ran = new Map<string, Set<string>>();
  for (const r of input.records) {
    if (r.outcome === 'NA') continue;
    if (!ran.has(r.kernel)) ran.set(r.kernel, new Set());
    ran.get(r.kernel)!.add(String(r.cell.autobindReuse));
  }
  const cols: Column[] = [];
  for (const k of order) {
    const values = [...(ran.get(k) ?? [])].sort((a, b) => REUSE_ORDER.indexOf(a) - REUSE_ORDER.indexOf(b) || a.localeCompare(b));
    for (const v of values) cols.push({ kernel: k, reuse: v, cls: `k${cols.length}` });
  }
  return cols;
}

function rowsOf(input: HtmlInput, cols: Column[]): Row[] {
  const rows = new Map<string, Row>();
  const colIndex = new Map(cols.map((c, i) => [`${c.kernel}\u0000${c.reuse}`, i]));
  const key = (guest: string, group: string): string => `${guest}\u0000${group}`;
  for (const r of input.records) {
    const group = groupOf(r);
    const k = key(r.guest, group);
    if (!rows.has(k)) rows.set(k, { guest: r.guest, group, case: r.case, dims: groupDimensions(r.cell.dims), cells: new Map(), changes: [] });
    const col = colIndex.get(`${r.kernel}\u0000${r.cell.autobindReuse}`) ?? -1;
    const row = rows.get(k)!;
    if (col >= 0 && (!row.cells.has(col) || row.cells.get(col)!.outcome === 'NA')) row.cells.set(col, r);
  }
  for (const c of input.changes) rows.get(key(c.guest, c.group))?.changes.push(c);
  return [...rows.values()];
}

function changeText(c: BehaviourChange): string {
  const vs = `vs ${c.from.kernel} reuse=${c.from.reuse}`;
  if (!c.comparable) return `${vs}: not comparable (one side has no observation)`;
  const pred = c.predictedChange === undefined ? 'the oracle has no prediction for one side' : c.predictedChange ? 'the oracle predicted a change' : 'the oracle predicted no change';
  if (!c.changed) return `${vs}: unchanged; ${pred}${c.predictedChange ? ' (NOT observed)' : ''}`;
  const ops = c.changedOps.map((i) => i + 1).join(', ');
  return `${vs}: CHANGED (op ${ops}); ${c.explained ? 'predicted by the oracle' : `NOT predicted as observed (${pred})`}${c.rules.length ? `; rules: ${c.rules.join('; ')}` : ''}`;
}

/** The Δ column of a row: the most notable of its comparisons. */
function deltaOf(row: Row): { text: string; cls: string } {
  if (row.changes.some((c) => c.changed && !c.explained)) return { text: 'Δ not predicted', cls: 'd-bad' };
  if (row.changes.some((c) => !c.changed && c.predictedChange === true && c.comparable)) return { text: 'predicted Δ missing', cls: 'd-bad' };
  if (row.changes.some((c) => c.changed)) return { text: 'Δ predicted', cls: 'd-ok' };
  return { text: '', cls: '' };
}

/** The page. */
export function renderHtml(input: HtmlInput): string {
  const strings = new Strings();
  const cols = columnsOf(input);
  const rows = rowsOf(input, cols);
  const counts = countOutcomes(input.records.map((r) => r.outcome));
  const summary = changeSummary(input.changes);

  // Filter dimensions: case, guest, the column dimensions, then every parameter of the ids.
  const rowDims: string[] = [];
  const values = new Map<string, string[]>();
  const addValue = (dim: string, v: string): void => {
    if (!values.has(dim)) values.set(dim, []);
    if (!values.get(dim)!.includes(v)) values.get(dim)!.push(v);
  };
  for (const row of rows) {
    addValue('case', row.case);
    addValue('guest', row.guest);
    for (const [k, v] of row.dims) {
      if (!rowDims.includes(k)) rowDims.push(k);
      addValue(k, v);
    }
  }
  for (const c of cols) { addValue('kernel', c.kernel); addValue('reuse', c.reuse); }
  const filterDims: Array<{ dim: string; scope: 'row' | 'col' }> = [
    { dim: 'case', scope: 'row' }, { dim: 'guest', scope: 'row' }, { dim: 'kernel', scope: 'col' }, { dim: 'reuse', scope: 'col' },
    ...rowDims.map((dim) => ({ dim, scope: 'row' as const })),
  ];

  // Per displayed record: [outcome, kernel, reuse, id, reason, crash, oracle note, change, release, ops…].
  const data: number[][] = [];
  const titles: Record<string, string> = {};
  const crashes = new Map<string, { kernel: string; guest: string; kind: string; title: string; excerpt: string }>();
  for (const r of input.records) {
    titles[r.case] = r.title;
    if (r.crash) {
      const k = `${r.kernel}|${r.guest}|${r.crash.kind}|${r.crash.title}`;
      if (!crashes.has(k)) crashes.set(k, { kernel: r.kernel, guest: r.guest, kind: r.crash.kind, title: r.crash.title, excerpt: r.crash.excerpt });
    }
  }

  const body: string[] = [];
  for (const [ri, row] of rows.entries()) {
    const changedCols = new Set<string>();
    const baseCols = new Set<string>();
    const changeByCol = new Map<string, BehaviourChange>();
    for (const c of row.changes) {
      changeByCol.set(`${c.to.kernel}|${c.to.reuse}`, c);
      if (c.changed) {
        changedCols.add(`${c.to.kernel}|${c.to.reuse}`);
        baseCols.add(`${c.from.kernel}|${c.from.reuse}`);
      }
    }
    const changed = changedCols.size > 0;
    const problem = [...row.cells.values()].some((r) => PROBLEMS.has(r.outcome));
    const delta = deltaOf(row);
    const attrs = [
      `data-case="${esc(row.case)}"`, `data-guest="${esc(row.guest)}"`,
      ...row.dims.map(([k, v]) => `data-${attrOf(k)}="${esc(v)}"`),
      `data-changed="${changed ? 1 : 0}"`, `data-problem="${problem ? 1 : 0}"`, `data-group="${esc(row.group)}"`,
    ];
    const cls = ['row', changed ? 'changed' : '', problem ? 'problem' : '', [...row.cells.values()].some((r) => r.outcome === 'FAIL') ? 'fail' : ''].filter(Boolean).join(' ');
    const dimText = row.dims.map(([k, v]) => `${k}=${v}`).join(' ');
    const tds: string[] = [
      `<td class="m case">${esc(row.case)}</td>`,
      `<td class="m guest">${esc(row.guest)}</td>`,
      `<td class="m dims">${esc(dimText)}</td>`,
      `<td class="m delta ${delta.cls}">${esc(delta.text)}</td>`,
    ];
    for (const [ci, col] of cols.entries()) {
      const r = row.cells.get(ci);
      if (!r) { tds.push(`<td class="cell none ${col.cls}">–</td>`); continue; }
      const colKey = `${col.kernel}|${col.reuse}`;
      const obs = observedText(r);
      const exp = expectedText(r);
      const obsT = tokens(obs ?? '');
      const expT = tokens(exp ?? '');
      const ops: number[] = [];
      const n = Math.max(r.cell.ops.length, obsT.length, expT.length);
      for (let i = 0; i < n; i++) {
        const p = r.expected.kind === 'predicted' ? r.expected.ops[i] : undefined;
        ops.push(strings.id(r.cell.ops[i] ? describeOp(r.cell.ops[i]) : `op${i}`), strings.id(afterEq(obsT[i])), strings.id(afterEq(expT[i])), strings.id(p?.rule), strings.id(p?.models));
      }
      const note = r.expected.kind === 'not-applicable' ? `oracle: not applicable (${r.expected.reason})`
        : r.expected.kind === 'oracle-error' ? `oracle error: ${r.expected.message}` : undefined;
      const ch = changeByCol.get(colKey);
      const chText = ch ? changeText(ch) : baseCols.has(colKey) || row.changes.some((c) => `${c.from.kernel}|${c.from.reuse}` === colKey) ? 'baseline of this row' : undefined;
      const crash = r.crash ? `kernel ${r.crash.kind}: ${r.crash.title}` : undefined;
      const di = data.length;
      data.push([strings.id(r.outcome), strings.id(r.kernel), strings.id(String(r.cell.autobindReuse)), strings.id(r.id), strings.id(r.reason), strings.id(crash), strings.id(note), strings.id(chText), strings.id(r.release), ...ops]);
      const text = r.outcome === 'NA' ? '' : obs ?? r.reason;
      const marks = changedCols.has(colKey) ? ' chg' : baseCols.has(colKey) ? ' base' : '';
      tds.push(`<td class="cell o-${r.outcome} ${col.cls}${marks}" data-r="${di}"><span class="b o-${r.outcome}">${outcomeLabel(r.outcome)}</span>${marks === ' chg' ? '<span class="dmark" title="changed vs baseline">Δ</span>' : ''}<code>${esc(clip(text, CELL_TEXT_MAX))}</code></td>`);
    }
    body.push(`<tr id="row${ri}" class="${cls}" ${attrs.join(' ')}>${tds.join('')}</tr>`);
  }

  const selftestCell = (k: HtmlKernel): string => (k.selftests ?? []).map((st) =>
    `<div class="selftest"><code>${esc(st.name)}</code> <span class="st-${esc(st.verdict)}">${esc(st.verdict)}</span>: ${st.tests.map((x) => `<span class="st-${esc(x.verdict)}" title="${esc(x.name)}">${x.number} ${esc(x.verdict)}</span>`).join(' ')}${st.sysctlErrors.length ? ` <small>(could not set ${esc(st.sysctlErrors.join(', '))})</small>` : ''}</div>`).join('');
  const kernelRows = input.kernels.map((k) => `<tr><td><b>${esc(k.name)}</b></td><td><code>${esc(k.release)}</code></td><td><code>${esc(k.profile)}</code></td><td>${k.bootMs !== undefined ? `${(k.bootMs / 1000).toFixed(1)} s` : '<span class="warn">not booted</span>'}</td><td>${selftestCell(k)}</td></tr>`);
  const countSpans = OUTCOMES.map((o) => `<span class="b o-${o}" data-outcome="${o}">${outcomeLabel(o)} <b>${counts[o]}</b></span>`).join(' ');
  const notable = input.changes.filter((c) => c.changed || (c.comparable && c.predictedChange === true));
  const changeItems = notable.slice(0, CHANGE_LIST_MAX).map((c) => {
    const verdict = c.changed ? (c.explained ? '<span class="ok">predicted</span>' : '<span class="bad">NOT predicted</span>') : '<span class="bad">predicted, but unchanged</span>';
    return `<li><b>${esc(c.guest)}</b> <code>${esc(c.group)}</code>: ${esc(c.from.kernel)} reuse=${esc(String(c.from.reuse))} <code>${esc(c.from.observed)}</code> → ${esc(c.to.kernel)} reuse=${esc(String(c.to.reuse))} <code>${esc(c.to.observed)}</code> — ${verdict}${c.rules.length ? ` <span class="rules">(${esc(c.rules.join('; '))})</span>` : ''}</li>`;
  });
  if (notable.length > CHANGE_LIST_MAX) changeItems.push(`<li>… ${notable.length - CHANGE_LIST_MAX} more: tick “changed only”.</li>`);
  const crashItems = [...crashes.values()].map((c) => `<details class="crash"><summary><b>${esc(c.kernel)}</b> (${esc(c.guest)} guest): kernel ${esc(c.kind)}: ${esc(c.title)}</summary><pre>${esc(clip(c.excerpt, CRASH_EXCERPT_MAX))}</pre></details>`);
  const selects = filterDims.map(({ dim, scope }) => {
    const opts = (values.get(dim) ?? []).map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join('');
    return `<label>${esc(dim)} <select data-dim="${esc(dim)}" data-attr="${esc(attrOf(dim))}" data-scope="${scope}"><option value="">all</option>${opts}</select></label>`;
  });
  const heads = cols.map((c) => `<th class="col ${c.cls}" data-kernel="${esc(c.kernel)}" data-reuse="${esc(c.reuse)}" data-colclass="${c.cls}">${esc(c.kernel)}<br><small>reuse=${esc(c.reuse)}</small></th>`);

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run ${esc(input.runId)}${input.complete ? '' : ' (INCOMPLETE)'} · kernel-patch-harness</title>
<style>${CSS}</style><style id="col-filter"></style></head>
<body>
<header id="head">
<h1>Run <span id="run-id">${esc(input.runId)}</span> <span id="status" class="${input.complete ? 'complete' : 'incomplete'}">${input.complete ? 'complete' : 'INCOMPLETE'}</span> <span id="exit-code" class="${input.exitCode === 0 ? 'ok' : 'bad'}">exit code ${input.exitCode}</span></h1>
<p id="counts">${countSpans} <span class="muted">(${input.records.length - counts.NA} cell runs; n/a = does not apply to that kernel)</span></p>
<table id="kernels"><thead><tr><th>kernel</th><th>release</th><th>oracle profile</th><th>boot (SSH ready)</th><th>kernel selftests</th></tr></thead><tbody>${kernelRows.join('')}</tbody></table>
<section id="changes"><p id="changes-summary"><b>Behaviour changes</b> (each kernel × reuse against the row's baseline): <b>${summary.changed}</b> changed (${summary.changedPredicted} predicted by the oracle, <span class="${summary.changedUnpredicted ? 'bad' : ''}">${summary.changedUnpredicted} not predicted</span>), ${summary.unchanged} unchanged, <span class="${summary.predictedButUnchanged ? 'bad' : ''}">${summary.predictedButUnchanged} predicted but unchanged</span>${summary.incomparable ? `, ${summary.incomparable} not comparable (ERROR/MISS)` : ''}.</p>
${changeItems.length ? `<details${changeItems.length <= 12 ? ' open' : ''}><summary>${notable.length} notable pair${notable.length === 1 ? '' : 's'}</summary><ul id="change-list">${changeItems.join('')}</ul></details>` : ''}</section>
${crashItems.length ? `<section id="crashes"><h2>Kernel crashes</h2>${crashItems.join('')}</section>` : ''}
</header>
<nav id="filters">${selects.join('')}<label><input type="checkbox" id="changed-only"> changed only</label><label><input type="checkbox" id="problems-only"> problems only</label><button type="button" id="reset">reset</button><span id="shown">${rows.length} of ${rows.length} rows</span></nav>
<p class="legend">Each cell: outcome badge (PASS = observed equals the oracle) and the observed results, ports renamed p1, p2… per cell; <span class="dmark">Δ</span> = differs from the row's baseline (outlined). Click a cell for the expected result, the oracle rule and kernel function per operation, and the reason.</p>
<table id="matrix"><thead><tr><th>case</th><th>guest</th><th>cell</th><th>Δ</th>${heads.join('')}</tr></thead>
<tbody>${body.join('\n')}</tbody></table>
${rows.length === 0 ? '<p id="empty">No cells in this run.</p>' : ''}
<aside id="detail" hidden></aside>
<script type="application/json" id="kph-data">${scriptJson({ s: strings.list, r: data, t: titles })}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}

const CSS = `
:root{--fail:#c62828;--failbg:#fde4e2;--err:#b35c00;--errbg:#ffebcc;--miss:#6a4c93;--missbg:#ece6f5;--pass:#2e7d32;--skip:#777;--chg:#f2a900;--chgbg:#fff7dc}
*{box-sizing:border-box}
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:12px 16px 4px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 6px}
h2{font-size:15px;margin:8px 0 4px}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12px}
.complete{color:var(--pass)}.incomplete{color:#fff;background:var(--fail);padding:0 6px;border-radius:3px}
.ok{color:var(--pass)}.bad{color:var(--fail);font-weight:600}.warn{color:var(--err)}.muted{color:#777}
#kernels{border-collapse:collapse;margin:4px 0}.st-pass{color:#1b5e20;font-weight:600}.st-fail{color:#b71c1c;font-weight:600}.st-skip,.st-error{color:#8d6e00;font-weight:600}#kernels td,#kernels th{padding:2px 10px 2px 0;text-align:left}
#changes ul{margin:4px 0;padding-left:20px;max-height:240px;overflow:auto}.rules{color:#555}
.crash pre{white-space:pre-wrap;background:#1e1e1e;color:#eee;padding:8px;max-height:300px;overflow:auto}
.b{display:inline-block;min-width:40px;text-align:center;font-size:11px;font-weight:600;border-radius:3px;padding:0 4px;margin-right:6px;color:#fff;background:var(--skip)}
.b.o-PASS{background:var(--pass)}.b.o-FAIL{background:var(--fail)}.b.o-ERROR{background:var(--err)}.b.o-MISS{background:var(--miss)}
#counts .b{min-width:0;font-weight:400;padding:1px 6px}
nav#filters{position:sticky;top:0;z-index:3;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;padding:8px 16px;background:#f0f0f0;border-bottom:1px solid #ccc}
nav select{font-size:12px;max-width:220px}
#shown{margin-left:auto;color:#555}
.legend{margin:6px 16px;color:#555}
#matrix{border-collapse:separate;border-spacing:0;margin:0 16px 40px;background:#fff}
#matrix th{position:sticky;top:var(--navh,41px);z-index:2;background:#e8e8e8;text-align:left;padding:4px 8px;border-bottom:1px solid #bbb;font-weight:600}
#matrix th small{font-weight:400;color:#555}
#matrix td{padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
td.m{white-space:nowrap}td.dims{color:#555;white-space:normal;max-width:260px}
td.cell{cursor:pointer;min-width:180px;max-width:420px}td.cell code{white-space:normal;word-break:break-word}
td.cell:hover{outline:1px solid #888}td.cell.sel{outline:2px solid #1565c0}
td.none{color:#bbb;cursor:default}
td.o-SKIP code{color:#888}td.o-NA{color:#999}.b.o-NA{background:#bbb}
td.o-FAIL{background:var(--failbg)}td.o-ERROR{background:var(--errbg)}td.o-MISS{background:var(--missbg)}
tr.changed td.m{background:var(--chgbg)}tr.changed td.case{box-shadow:inset 4px 0 0 var(--chg)}
tr.problem td.case{box-shadow:inset 4px 0 0 var(--err)}tr.fail td.case{box-shadow:inset 4px 0 0 var(--fail)}
td.chg{box-shadow:inset 0 0 0 2px var(--chg)}td.base{box-shadow:inset 0 0 0 1px #bbb}
.dmark{color:#a86f00;font-weight:700;margin-right:4px}
td.delta.d-ok{color:#8a6000;font-weight:600}td.delta.d-bad{color:var(--fail);font-weight:700}
tr[hidden]{display:none}
#detail{position:fixed;right:12px;bottom:12px;width:min(640px,95vw);max-height:70vh;overflow:auto;background:#fff;border:1px solid #999;box-shadow:0 4px 18px rgba(0,0,0,.25);padding:10px 14px;z-index:5}
#detail h2{margin-top:0;padding-right:30px}#detail table{border-collapse:collapse;width:100%;margin-top:6px}
#detail td,#detail th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
#detail tr.diff td{background:var(--failbg)}
#detail-close{position:absolute;right:10px;top:8px}
#empty{margin:16px;color:#777}
`;

// Plain ES2017, no template literals (this file embeds it in one). Text goes in via
// textContent only, so nothing from the data is ever parsed as HTML.
const SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('kph-data').textContent);
  var S = data.s;
  var str = function (i) { return i >= 0 ? S[i] : ''; };
  var $ = function (sel) { return document.querySelector(sel); };
  var all = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
  var rows = all('#matrix tbody tr.row');
  var selects = all('select[data-dim]');
  var changedBox = $('#changed-only');
  var problemsBox = $('#problems-only');
  var heads = all('#matrix thead th.col');
  var openCell = '';
  rows.forEach(function (tr) { var t = data.t[tr.getAttribute('data-case')]; if (t) tr.cells[0].title = t; });

  function navHeight() { document.documentElement.style.setProperty('--navh', $('#filters').offsetHeight + 'px'); }
  window.addEventListener('resize', navHeight);
  navHeight();

  function params() {
    var p = new URLSearchParams();
    selects.forEach(function (s) { if (s.value) p.set(s.getAttribute('data-dim'), s.value); });
    if (changedBox.checked) p.set('changed', '1');
    if (problemsBox.checked) p.set('problems', '1');
    if (openCell !== '') p.set('open', openCell);
    return p;
  }
  function apply() {
    var rowSel = selects.filter(function (s) { return s.value && s.getAttribute('data-scope') === 'row'; });
    var colSel = selects.filter(function (s) { return s.value && s.getAttribute('data-scope') === 'col'; });
    var shown = 0;
    rows.forEach(function (tr) {
      var ok = (!changedBox.checked || tr.getAttribute('data-changed') === '1') && (!problemsBox.checked || tr.getAttribute('data-problem') === '1');
      for (var i = 0; ok && i < rowSel.length; i++) ok = tr.getAttribute('data-' + rowSel[i].getAttribute('data-attr')) === rowSel[i].value;
      tr.hidden = !ok;
      if (ok) shown++;
    });
    var css = '';
    heads.forEach(function (th) {
      var ok = colSel.every(function (s) { return th.getAttribute('data-' + s.getAttribute('data-attr')) === s.value; });
      if (!ok) css += '.' + th.getAttribute('data-colclass') + '{display:none}';
    });
    $('#col-filter').textContent = css;
    $('#shown').textContent = shown + ' of ' + rows.length + ' rows';
  }
  function save() {
    var h = params().toString();
    try { history.replaceState(null, '', h ? '#' + h : location.pathname + location.search); } catch (e) { location.hash = h; }
  }
  function load() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ''));
    selects.forEach(function (s) {
      var v = p.get(s.getAttribute('data-dim')) || '';
      if (v && !Array.prototype.some.call(s.options, function (o) { return o.value === v; })) {
        var o = document.createElement('option'); o.value = v; o.textContent = v; s.appendChild(o);
      }
      s.value = v;
    });
    changedBox.checked = p.get('changed') === '1';
    problemsBox.checked = p.get('problems') === '1';
    apply();
    var open = p.get('open');
    openCell = '';
    if (open !== null && data.r[Number(open)]) show(Number(open)); else hide();
  }

  function el(tag, text, cls) { var e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  function para(label, text, cls) { var p = el('p', '', cls); p.appendChild(el('b', label + ' ')); p.appendChild(document.createTextNode(text)); return p; }
  function hide() {
    var d = $('#detail'); d.hidden = true; d.textContent = '';
    all('td.cell.sel').forEach(function (td) { td.classList.remove('sel'); });
  }
  function show(i) {
    var r = data.r[i];
    var d = $('#detail');
    hide();
    openCell = String(i);
    var td = document.querySelector('td.cell[data-r="' + i + '"]');
    if (td) td.classList.add('sel');
    var close = el('button', '×'); close.id = 'detail-close'; close.type = 'button'; close.onclick = function () { openCell = ''; hide(); save(); };
    d.appendChild(close);
    d.appendChild(el('h2', str(r[1]) + ' · reuse=' + str(r[2])));
    d.appendChild(para('cell', str(r[3]), 'detail-id'));
    d.appendChild(para('release', str(r[8])));
    var o = el('p'); o.appendChild(el('span', str(r[0]) === 'NA' ? 'n/a' : str(r[0]), 'b o-' + str(r[0]))); o.appendChild(document.createTextNode(str(r[4]))); o.className = 'detail-reason'; d.appendChild(o);
    if (r[5] >= 0) d.appendChild(para('crash', str(r[5]), 'bad'));
    if (r[7] >= 0) d.appendChild(para('change', str(r[7]), 'detail-change'));
    if (r[6] >= 0) d.appendChild(para('oracle', str(r[6])));
    var t = el('table'); var h = el('tr');
    ['op', 'observed', 'expected', 'oracle rule', 'kernel function'].forEach(function (x) { h.appendChild(el('th', x)); });
    t.appendChild(h);
    for (var j = 9; j + 4 < r.length; j += 5) {
      var tr = el('tr', '', str(r[j + 1]) !== str(r[j + 2]) ? 'diff' : '');
      for (var k = 0; k < 5; k++) tr.appendChild(el('td', str(r[j + k]) || (k === 1 ? '(none)' : '')));
      t.appendChild(tr);
    }
    d.appendChild(t);
    d.hidden = false;
  }

  selects.forEach(function (s) { s.addEventListener('change', function () { apply(); save(); }); });
  [changedBox, problemsBox].forEach(function (b) { b.addEventListener('change', function () { apply(); save(); }); });
  $('#reset').addEventListener('click', function () { selects.forEach(function (s) { s.value = ''; }); changedBox.checked = problemsBox.checked = false; apply(); save(); });
  $('#matrix').addEventListener('click', function (ev) {
    var td = ev.target.closest ? ev.target.closest('td.cell[data-r]') : null;
    if (!td) return;
    show(Number(td.getAttribute('data-r'))); save();
  });
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') { openCell = ''; hide(); save(); } });
  window.addEventListener('hashchange', load);
  load();
})();
`;
