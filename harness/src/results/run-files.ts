// The one place a run directory's final files are written: the run document is made from the
// run (runDocument), every output of results/outputs.ts is rendered from it alone (no clock, no
// host command), so the same observations give the same bytes and a merge on another host
// writes what the run would have; results.json is written last; the matrix is printed on stdout.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CellRecord } from '../core/record.js';
import type { KernelJobResult } from '../run/kernel-job.js';
import type { AccelChoice } from '../vm/accel.js';
import type { CellTime } from '../run/cell-clock.js';
import type { RunFacts } from '../run/facts.js';
import { OUTPUTS, runView } from './outputs.js';
import { printRun } from './print-run.js';
import { recordsOf, storedTables, type OutputRecord, type ResultsDoc } from './results-doc.js';
import { writeText } from '../util/write.js';

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
  /** Host-measured time of each cell, keyed `kernel/guest/cell id` (cell-clock.ts). */
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
  const run = runView(results, records);
  return Object.fromEntries(OUTPUTS.map((o) => [o.file, o.render(run)]));
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
  printRun(runDir, records);
  const cpu = process.cpuUsage(c0);
  return {
    ms: Math.round(performance.now() - t0),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    bytes: Object.fromEntries(Object.entries(files).map(([name, text]) => [name, Buffer.byteLength(text)])),
  };
}
