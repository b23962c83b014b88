// Writes the final files of a run directory from the run document: results.json (the run
// document itself: every record, each fact once), kcidb.json (KCIDB v5.3), results.ktap,
// junit.xml, summary.md, report.html; prints the matrix on stdout. Every file is rendered from
// the document alone (no clock, no host command), so the same observations give the same bytes
// and a merge on another host writes what the run would have.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { OpResult } from '../model/cell.js';
import type { CellRecord } from '../run/assemble.js';
import type { KernelJobResult } from '../run/kernel-job.js';
import type { SelftestResult } from '../selftests/run.js';
import type { AccelChoice } from '../vm/accel.js';
import type { CellTime } from './cell-clock.js';
import { behaviourChanges, changeSummary, kernelWithoutSysctl, type BehaviourChange } from './changes.js';
import type { RunFacts } from './facts.js';
import { renderHtml } from './html.js';
import { toJunit } from './junit.js';
import { toKcidb } from './kcidb.js';
import { toKtap } from './ktap.js';
import { countOutcomes, type OracleAnswer } from './outcome.js';
import { matrixMarkdown, matrixText } from './summary.js';
import { writeText } from './write.js';

export interface RunSummaryInput {
  runId: string;
  accel: AccelChoice;
  jobs: KernelJobResult[];
  records: CellRecord[];
  timings: Record<string, number>;
  exitCode: number;
  complete: boolean;
  kernels: Array<{ name: string; release: string; profile: string; cached: boolean; seconds: number; bzImage: string }>;
  image: { cached: boolean; seconds: number; sizes: { initramfsBytes: number; nodeDiskBytes: number } };
  /** What was true of the host and sources while the run happened (facts.ts). */
  facts?: RunFacts;
  /** Host-measured time of each cell, keyed `kernel/guest/cell id` (cell-clock.ts). */
  cellTimes?: ReadonlyMap<string, CellTime>;
}

/** A cell record as the outputs see it: with its measured time when there is one. */
export type OutputRecord = CellRecord & { ms?: number; at?: number };

/** A cell's parameters: the cell without what the record itself names. */
export type CellParams = Omit<CellRecord['cell'], 'id' | 'case' | 'title' | 'guests'>;

/** An oracle answer as results.json stores it: each predicted op's rule is an index into `rules`. */
export type StoredAnswer =
  | { kind: 'predicted'; profile: string; ops: Array<{ result: OpResult; rule: number }> }
  | { kind: 'not-applicable'; reason?: string }
  | { kind: 'oracle-error'; message: string };

/** One record of results.json (format 2). */
export interface StoredRecord extends Omit<CellRecord, 'cell' | 'release' | 'profile' | 'title' | 'expected' | 'observed'> {
  expected: StoredAnswer;
  /** The guest's answer, without its id (the record's). */
  observed?: { status: 'done'; results: OpResult[] } | { status: 'unsupported' | 'error'; reason: string };
  /** Set only when the cell's title is not its case's. */
  title?: string;
  /** Host-measured duration of the cell (ms) and its start (Unix time, ms). */
  ms?: number;
  at?: number;
}

/** The serialisable whole of a run: what results.json holds. */
export interface ResultsDoc {
  /** 2: records refer to the `cases`, `cells` and `rules` tables (1 = every record self-contained). */
  format?: 2;
  runId: string;
  complete: boolean;
  exitCode: number;
  accel: { requested: string; reason: string; timeScale: number; used: Array<{ kernel: string; kvm?: { enabled: boolean; present: boolean } }> };
  facts?: RunFacts;
  kernels: Array<{ name: string; release: string; profile: string; unameR?: string; bootMs?: number; kvm?: { enabled: boolean; present: boolean }; attempts: unknown[]; infraError?: string; bootCrash?: { kind: string; title: string; excerpt?: string }; timings: Record<string, number>; built?: { cached: boolean; seconds: number; bzImage?: string }; buildFailure?: { log: string; tail: string }; selftests?: Array<Omit<SelftestResult, 'output'> & { outputTail: string }> }>;
  image: unknown;
  timings: Record<string, number>;
  /** Case name → title. */
  cases?: Record<string, string>;
  /** Cell id → its parameters (the same for every kernel and guest). */
  cells?: Record<string, CellParams>;
  /** The oracle's rules, each once: [rule, the kernel function it models]. */
  rules?: Array<[string, string]>;
  records: StoredRecord[];
  /** Set on a merged run: the run directories it was made from. */
  mergedFrom?: string[];
}

/** A record of a format-1 results.json (before the tables): everything inline. */
type InlineRecord = Omit<CellRecord, 'cell'> & { params: CellParams };

/** The run document of a run without its records: kernels, facts, timings; and the records with their measured times. */
export function runDocument(s: RunSummaryInput): { doc: ResultsDoc; records: OutputRecord[] } {
  const kernels = s.jobs.map((j) => ({
    name: j.kernel.name, release: j.kernel.release, profile: j.kernel.profile, unameR: j.unameR,
    bootMs: j.bootMs, kvm: j.kvm, attempts: j.attempts, infraError: j.infraError, bootCrash: j.bootCrash, timings: j.timings,
    buildFailure: j.buildFailure,
    selftests: j.selftests?.map(({ output, ...st }) => ({ ...st, outputTail: output.slice(-4000) })),
    built: s.kernels.find((k) => k.name === j.kernel.name),
  }));
  const records: OutputRecord[] = s.cellTimes
    ? s.records.map((r) => ({ ...r, ...s.cellTimes!.get(`${r.kernel}/${r.guest}/${r.id}`) }))
    : s.records;
  const doc: ResultsDoc = {
    runId: s.runId,
    complete: s.complete,
    exitCode: s.exitCode,
    accel: { requested: s.accel.accel, reason: s.accel.reason, timeScale: s.accel.timeScale, used: kernels.map((k) => ({ kernel: k.name, kvm: k.kvm })) },
    facts: s.facts,
    kernels,
    image: s.image,
    timings: s.timings,
    records: [],
  };
  return { doc, records };
}

/** Records in results.json's form, with the tables they refer to. */
export function storedTables(records: readonly OutputRecord[]): Pick<ResultsDoc, 'format' | 'cases' | 'cells' | 'rules' | 'records'> {
  const cases: Record<string, string> = {};
  const cells: Record<string, CellParams> = {};
  const rules: Array<[string, string]> = [];
  const ruleIndex = new Map<string, number>();
  const ruleOf = (rule: string, models: string): number => {
    const k = `${rule}\u0000${models}`;
    let i = ruleIndex.get(k);
    if (i === undefined) { i = rules.length; rules.push([rule, models]); ruleIndex.set(k, i); }
    return i;
  };
  const stored = records.map((r): StoredRecord => {
    const { cell, release: _release, profile: _profile, title, expected, observed, ...rest } = r;
    if (!(r.case in cases)) cases[r.case] = title;
    if (!(r.id in cells)) {
      const { id: _id, case: _case, title: _title, guests: _guests, ...params } = cell;
      cells[r.id] = params;
    }
    const e: StoredAnswer = expected.kind === 'predicted'
      ? { kind: 'predicted', profile: expected.profile, ops: expected.ops.map((o) => ({ result: o.result, rule: ruleOf(o.rule, o.models) })) }
      : expected.kind === 'not-applicable' && expected.reason === r.reason ? { kind: 'not-applicable' } : expected;
    const { id: _oid, ...obs } = observed ?? { id: '' };
    return {
      ...rest,
      ...(title !== cases[r.case] ? { title } : {}),
      expected: e,
      ...(observed ? { observed: obs as StoredRecord['observed'] } : {}),
    };
  });
  return { format: 2, cases, cells, rules, records: stored };
}

/** The cell records of a results.json (format 1 or 2), each whole again. */
export function recordsOf(doc: ResultsDoc): OutputRecord[] {
  const kernels = new Map(doc.kernels.map((k) => [k.name, k]));
  if (doc.format !== 2) {
    return (doc.records as unknown as InlineRecord[]).map(({ params, ...r }) => ({ ...r, cell: { ...params, id: r.id, case: r.case, title: r.title, guests: [r.guest] } }));
  }
  const where = (r: StoredRecord, what: string): string => `results.json of run ${doc.runId}: record ${r.kernel}/${r.guest}/${r.id}: ${what}`;
  return doc.records.map((r) => {
    const params = doc.cells?.[r.id];
    if (!params) throw new Error(where(r, 'no entry in "cells" (expected the cell\'s parameters)'));
    const k = kernels.get(r.kernel);
    const title = r.title ?? doc.cases?.[r.case] ?? '';
    let expected: OracleAnswer;
    if (r.expected.kind === 'predicted') {
      expected = {
        kind: 'predicted', profile: r.expected.profile, ops: r.expected.ops.map((o) => {
          const rule = doc.rules?.[o.rule];
          if (!rule) throw new Error(where(r, `rule ${o.rule} is not in "rules" (${doc.rules?.length ?? 0} entries)`));
          return { result: o.result, rule: rule[0], models: rule[1] };
        }),
      };
    } else if (r.expected.kind === 'not-applicable') {
      expected = { kind: 'not-applicable', reason: r.expected.reason ?? r.reason };
    } else {
      expected = r.expected;
    }
    const { expected: _e, observed, title: _t, ...rest } = r;
    return {
      ...rest,
      release: k?.release ?? '', profile: k?.profile ?? '', title,
      expected,
      ...(observed ? { observed: { id: r.id, ...observed } } : {}),
      cell: { ...params, id: r.id, case: r.case, title, guests: [r.guest] },
    } as OutputRecord;
  });
}

/** A results.json made self-contained (format 1: every record inline), e.g. for a merge of shards. */
export function inlineResults(doc: ResultsDoc): ResultsDoc {
  if (doc.format !== 2) return doc;
  const records = recordsOf(doc).map(({ cell, ...r }) => {
    const { id: _id, case: _case, title: _title, guests: _guests, ...params } = cell;
    return { ...r, params };
  });
  const { format: _f, cases: _c, cells: _cl, rules: _r, ...rest } = doc;
  return { ...rest, records: records as unknown as StoredRecord[] };
}

/**
 * JSON of an object with the items of its big arrays and the entries of its big tables
 * (`listed` keys) one per line, and everything else compact: small, and still greppable and
 * diffable record by record.
 */
export function documentJson(doc: object, listed: ReadonlySet<string>): string {
  const lines: string[] = ['{'];
  const entries = Object.entries(doc).filter(([, v]) => v !== undefined);
  entries.forEach(([k, v], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    if (listed.has(k) && Array.isArray(v)) {
      lines.push(`${JSON.stringify(k)}: [`);
      v.forEach((x, j) => lines.push(`${JSON.stringify(x)}${j < v.length - 1 ? ',' : ''}`));
      lines.push(`]${comma}`);
    } else if (listed.has(k) && v && typeof v === 'object') {
      const obj = Object.entries(v);
      lines.push(`${JSON.stringify(k)}: {`);
      obj.forEach(([id, x], j) => lines.push(`${JSON.stringify(id)}: ${JSON.stringify(x)}${j < obj.length - 1 ? ',' : ''}`));
      lines.push(`}${comma}`);
    } else {
      lines.push(`${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
    }
  });
  lines.push('}', '');
  return lines.join('\n');
}

const RESULTS_LISTED = new Set(['kernels', 'records', 'rules', 'cells', 'cases']);
const KCIDB_LISTED = new Set(['checkouts', 'builds', 'tests']);

/** How long writing the outputs took, and what it wrote (bytes per file). */
export interface OutputStats { ms: number; cpuMs: number; bytes: Record<string, number> }

/**
 * Benchmark hook: renders a finished run directory's files again from its results.json into a
 * scratch folder (removed after) and returns how long that took; the run directory is untouched.
 */
export async function timeOutputs(runDir: string): Promise<OutputStats> {
  const doc = JSON.parse(await fs.readFile(path.join(runDir, 'results.json'), 'utf8')) as ResultsDoc;
  if (!Array.isArray(doc.records)) throw new Error(`${path.join(runDir, 'results.json')}: has no records (expected a finished run)`);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'kph-outputs-'));
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await writeOutputs(scratch, doc, recordsOf(doc));
  } finally {
    process.stdout.write = write;
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Writes every final file of the run and prints the terminal summary. */
export async function writeRunFiles(runDir: string, s: RunSummaryInput): Promise<OutputStats> {
  const { doc, records } = runDocument(s);
  return writeOutputs(runDir, doc, records);
}

/** The text of every output file, from the run document and its records (pure). */
export function renderOutputs(results: ResultsDoc, records: readonly OutputRecord[]): Record<string, string> {
  const kernels = results.kernels;
  const counts = countOutcomes(records.map((r) => r.outcome));
  const kernelLines = kernels.map((k) => `- **${k.name}**: \`${k.unameR ?? k.release}\`, profile \`${k.profile}\`, ${k.bootMs !== undefined ? `SSH ready ${(k.bootMs / 1000).toFixed(1)} s after QEMU start` : `not booted (${k.infraError ?? k.bootCrash?.title})`}, KVM ${k.kvm?.enabled ? 'on' : 'off'}`);
  const problems = records.filter((r) => r.outcome !== 'PASS' && r.outcome !== 'SKIP' && r.outcome !== 'NA');
  const skipped = records.filter((r) => r.outcome === 'SKIP');
  const list = records as CellRecord[];
  // Baseline: the kernel that ran cells without the sysctl (the one before the commit), if any.
  const changes = behaviourChanges(list, kernelWithoutSysctl(list));
  const md = [
    `# Run ${results.runId}${results.complete ? '' : ' (INCOMPLETE)'}`,
    '',
    `Exit code ${results.exitCode}. PASS ${counts.PASS}, FAIL ${counts.FAIL}, ERROR ${counts.ERROR}, MISS ${counts.MISS}, SKIP ${counts.SKIP} (could not run here); n/a ${counts.NA} (do not apply to that kernel: not run, not reported as tests).`,
    `Accelerator: ${results.accel.requested} (${results.accel.reason}).`,
    '',
    ...kernelLines,
    '',
    '## Matrix (observed; `ok` = matches the oracle; `n/a` = does not apply to that kernel; ports renamed p1, p2… per cell)',
    '',
    matrixMarkdown(list),
    '',
    ...selftestsMarkdown(kernels),
    ...changesMarkdown(changes),
    ...(problems.length ? ['## Not passing', '', ...problems.map((r) => `- ${r.outcome} ${r.kernel} ${r.guest} \`${r.id}\`: ${r.reason}`), ''] : []),
    ...(skipped.length ? ['## Skipped (could not run here)', '', ...skipped.map((r) => `- ${r.kernel} ${r.guest} \`${r.id}\`: ${r.reason}`), ''] : []),
    '## Timings (ms)',
    '',
    ...Object.entries(results.timings).map(([k, v]) => `- ${k}: ${v}`),
    '',
  ].join('\n');
  return {
    'results.json': documentJson(results, RESULTS_LISTED),
    'kcidb.json': documentJson(toKcidb(results, 'kph'), KCIDB_LISTED),
    'results.ktap': toKtap(records),
    'junit.xml': toJunit(records, results.runId),
    'summary.md': md,
    'report.html': renderHtml({
      runId: results.runId, complete: results.complete, exitCode: results.exitCode, records: list, changes,
      kernels: kernels.map((k) => ({ name: k.name, release: k.unameR ?? k.release, profile: k.profile, bootMs: k.bootMs, selftests: k.selftests })),
    }),
  };
}

/**
 * Writes results.json (from `results`'s run facts and `records`) and every file derived from it
 * (also used by the merge of shard runs); returns how long it took. Nothing else is read or run.
 */
export async function writeOutputs(runDir: string, results: ResultsDoc, records: readonly OutputRecord[]): Promise<OutputStats> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const { format: _format, cases: _cases, cells: _cells, rules: _rules, records: _records, ...meta } = results;
  const tables = storedTables(records);
  const doc: ResultsDoc = { format: 2, ...meta, cases: tables.cases, cells: tables.cells, rules: tables.rules, records: tables.records };
  const files = renderOutputs(doc, records);
  // results.json last: until it is whole, a reader sees the previous (or the in-progress) one.
  const { 'results.json': main, ...derived } = files;
  await Promise.all(Object.entries(derived).map(([name, text]) => writeText(runDir, name, text)));
  await writeText(runDir, 'results.json', main);
  process.stdout.write(`\n${matrixText(records as CellRecord[])}\n\n`);
  for (const r of records) if (r.outcome !== 'PASS' && r.outcome !== 'SKIP' && r.outcome !== 'NA') process.stdout.write(`${r.outcome} ${r.kernel} ${r.guest} ${r.id}: ${r.reason}\n`);
  process.stdout.write(`results: ${runDir}\n`);
  const cpu = process.cpuUsage(c0);
  return {
    ms: Math.round(performance.now() - t0),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    bytes: Object.fromEntries(Object.entries(files).map(([name, text]) => [name, Buffer.byteLength(text)])),
  };
}

/** summary.md's "Kernel selftests" section: each selftest's verdict and its tests, per kernel. */
function selftestsMarkdown(kernels: ResultsDoc['kernels']): string[] {
  const rows = kernels.flatMap((k) => (k.selftests ?? []).map((st) =>
    `| ${k.name} | \`${st.name}\` | ${st.verdict}${st.exitCode !== undefined ? ` (exit ${st.exitCode})` : ''} | ${st.tests.map((x) => `${x.number} ${x.verdict}`).join(', ')} | ${st.sysctlErrors.join(', ') || '-'} |`));
  if (rows.length === 0) return [];
  return ['## Kernel selftests (built from each kernel\'s source, run in the guest)', '', '| kernel | selftest | verdict | tests | sysctls the kernel lacks |', '|---|---|---|---|---|', ...rows, ''];
}

const CHANGES_LISTED = 100;

/** summary.md's "Behaviour changes" section: counts, then each changed pair and whether the oracle predicted it. */
function changesMarkdown(changes: BehaviourChange[]): string[] {
  const c = changeSummary(changes);
  const notable = changes.filter((x) => x.changed || (x.comparable && x.predictedChange === true));
  const side = (x: BehaviourChange['from']): string => `${x.kernel} reuse=${x.reuse} \`${x.observed}\``;
  const lines = notable.slice(0, CHANGES_LISTED).map((x) => {
    const verdict = x.changed ? (x.explained ? 'predicted by the oracle' : '**not predicted** by the oracle') : '**predicted by the oracle, but unchanged**';
    return `- ${x.guest} \`${x.group}\`: ${side(x.from)} → ${side(x.to)}: ${verdict}${x.rules.length ? ` (rule: ${x.rules.join('; ')})` : ''}`;
  });
  if (notable.length > CHANGES_LISTED) lines.push(`- … ${notable.length - CHANGES_LISTED} more in report.html`);
  return [
    '## Behaviour changes (each kernel × reuse against the baseline)',
    '',
    `${c.changed} changed (${c.changedPredicted} predicted, ${c.changedUnpredicted} not predicted), ${c.unchanged} unchanged, ${c.predictedButUnchanged} predicted but unchanged${c.incomparable ? `, ${c.incomparable} not comparable (ERROR/MISS)` : ''}.`,
    '',
    ...lines,
    ...(lines.length ? [''] : []),
  ];
}
