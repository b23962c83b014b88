// The end of the main job: each cell's record from the jobs and the oracle, the run's outputs
// written from the run document, the comparison with the previous run, the final event.
import { possibleComparer, type ProfileTable } from './oracle/adapter.js';
import type { PlannedCell } from './core/planned.js';
import type { CellTime } from './run/cell-clock.js';
import type { RunFacts } from './run/facts.js';
import { EXIT, exitCodeFor } from './core/verdict.js';
import { writeRunFiles, type RunSummaryInput } from './results/run-files.js';
import { assemble, type Comparer } from './run/assemble.js';
import { abortedExit } from './main-build.js';
import { compareWithPrevious } from './main-compare.js';
import type { KernelJobResult } from './run/kernel-job.js';
import type { Lab } from './run/lab.js';
import type { precompute } from './run/predictions.js';

export interface FinishInput {
  jobs: KernelJobResult[];
  cells: PlannedCell[];
  profiles: ProfileTable;
  predictor: ReturnType<typeof precompute>['predictor'];
  /** The possible-outcome comparer, memoized (run/comparisons.ts); default: a fresh one. */
  comparer?: Comparer;
  runId: string;
  runDir: string;
  accel: RunSummaryInput['accel'];
  timings: Record<string, number>;
  t0: number;
  kernels: RunSummaryInput['kernels'];
  image: RunSummaryInput['image'];
  facts: RunFacts;
  cellTimes: ReadonlyMap<string, CellTime>;
  /** The run's own argv (what the previous run must have had to be comparable). */
  argv: string[];
}

/** Assembles the records, writes the outputs, compares with the previous run; returns the exit code. */
export async function finishRun(lab: Lab, f: FinishInput): Promise<number> {
  const { signal, emit } = lab;
  const { runDir, runId, timings } = f;
  const records = assemble(f.jobs, f.cells, f.predictor, f.comparer ?? possibleComparer(f.profiles));
  for (const r of records) emit({ type: 'cell-result', kernel: r.kernel, guest: r.guest, id: r.id, outcome: r.outcome, reason: r.reason });
  const exitCode = signal.aborted ? abortedExit(signal) : exitCodeFor(records.map((r) => r.outcome));
  timings.total = Date.now() - f.t0;
  // process.resourceUsage().maxRSS is in KiB: the harness's own peak memory.
  timings.harnessPeakRssKiB = process.resourceUsage().maxRSS;
  try {
    const written = await writeRunFiles(runDir, { runId, accel: f.accel, jobs: f.jobs, records, timings, exitCode, complete: !signal.aborted, kernels: f.kernels, image: f.image, facts: f.facts, cellTimes: f.cellTimes });
    emit({ type: 'progress', scope: 'outputs', message: `written in ${written.ms} ms (${written.cpuMs} ms CPU), ${Object.values(written.bytes).reduce((a, b) => a + b, 0)} bytes` });
    await compareWithPrevious(runDir, runId, f.argv, emit);
  } catch (e) {
    // Files are written by write-then-rename: a failure leaves the earlier versions whole.
    process.stderr.write(`kph: could not write the results in ${runDir}: ${(e as Error).message}\n`);
    return EXIT.infrastructure;
  }
  const counts = { PASS: 0, FAIL: 0, ERROR: 0, MISS: 0, SKIP: 0, NA: 0 };
  for (const r of records) counts[r.outcome]++;
  emit({ type: 'run-end', exitCode, counts, incomplete: signal.aborted, ms: timings.total });
  return exitCode;
}
