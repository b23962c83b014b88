// Writes the final files of a run directory from the run document: results.json (the run
// document itself: every record, each fact once), kcidb.json (KCIDB v5.3), results.ktap,
// junit.xml, summary.md, report.html; prints the matrix on stdout. Every file is rendered from
// the document alone (no clock, no host command), so the same observations give the same bytes
// and a merge on another host writes what the run would have.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CellRecord } from '../core/record.js';
import type { KernelJobResult } from '../run/kernel-job.js';
import type { AccelChoice } from '../vm/accel.js';
import type { CellTime } from '../run/cell-clock.js';
import { behaviourChanges, changeSummary, kernelWithoutSysctl, type BehaviourChange } from './changes.js';
import type { RunFacts } from '../run/facts.js';
import { describeSource } from './source-text.js';
import { renderHtml } from './html.js';
import { toJunit } from './junit.js';
import { toKcidb } from './kcidb.js';
import { toKtap } from './ktap.js';
import { countOutcomes, isProblem } from '../core/verdict.js';
import { documentJson, recordsOf, RESULTS_LISTED, storedTables, type OutputRecord, type ResultsDoc } from './results-doc.js';
import { matrixMarkdown, matrixText, portCoverageLine, unlikelyMarkdown } from './summary.js';
import { writeText } from '../util/write.js';

/** The keys of kcidb.json written one item per line. */
const KCIDB_LISTED: ReadonlySet<string> = new Set(['checkouts', 'builds', 'tests']);

export { inlineResults, recordsOf, type CellParams, type OutputRecord, type ResultsDoc, type StoredAnswer, type StoredRecord } from './results-doc.js';

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
  /** Host-measured time of each cell, keyed `kernel/guest/cell id` (run/cell-clock.ts). */
  cellTimes?: ReadonlyMap<string, CellTime>;
}

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
  const kernelLines = kernels.map((k) => `- **${k.name}**: \`${k.unameR ?? k.release}\`, profile \`${k.profile}\`, ${results.facts?.sources[k.name] ? `${describeSource(results.facts.sources[k.name])}, ` : ''}${k.bootMs !== undefined ? `SSH ready ${(k.bootMs / 1000).toFixed(1)} s after QEMU start` : `not booted (${k.infraError ?? k.bootCrash?.title})`}, KVM ${k.kvm?.enabled ? 'on' : 'off'}`);
  const problems = records.filter((r) => isProblem(r.outcome));
  const skipped = records.filter((r) => r.outcome === 'SKIP');
  const list = records as CellRecord[];
  // Baseline: the kernel that ran cells without the sysctl (the one before the commit), if any.
  const changes = behaviourChanges(list, kernelWithoutSysctl(list));
  const md = [
    `# Run ${results.runId}${results.complete ? '' : ' (INCOMPLETE)'}`,
    '',
    ...(results.missingShards?.length ? [`**Partial merge: shard ${results.missingShards.join(', ')} missing; their cells are not in this report.**`, ''] : []),
    `Exit code ${results.exitCode}. PASS ${counts.PASS}, FAIL ${counts.FAIL}, ERROR ${counts.ERROR}, MISS ${counts.MISS}, SKIP ${counts.SKIP} (could not run here); n/a ${counts.NA} (do not apply to that kernel: not run, not reported as tests).`,
    `Accelerator: ${results.accel.requested} (${results.accel.reason}).`,
    portCoverageLine(list),
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
    ...unlikelyMarkdown(list),
    ...(skipped.length ? ['## Skipped (could not run here)', '', ...skipped.slice(0, SKIPPED_LISTED).map((r) => `- ${r.kernel} ${r.guest} \`${r.id}\`: ${r.reason}`), ...(skipped.length > SKIPPED_LISTED ? [`- … ${skipped.length - SKIPPED_LISTED} more in results.ktap and report.html`] : []), ''] : []),
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
  for (const r of records) if (isProblem(r.outcome)) process.stdout.write(`${r.outcome} ${r.kernel} ${r.guest} ${r.id}: ${r.reason}\n`);
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
/** SKIPs listed in summary.md (a kernel without IPv6 skips hundreds of cells for one reason). */
const SKIPPED_LISTED = 100;

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
