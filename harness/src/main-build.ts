// The main job's build phase, in parallel: the kernels (then the selftests the cases name, each
// built from its kernel's own source), the guest image, the C guest. A kernel that does not compile is reported (every cell MISS, exit
// 3); an interrupt is 130; --build-only ends here with exit 0.
import path from 'node:path';
import type { Options } from './cli.js';
import { KernelBuildError } from './kernel/build.js';
import type { kernelSelection } from './kernel/select.js';
import { compareResults } from './oracle/compare.js';
import { loadSelftests } from './plan/default.js';
import type { PlannedCell } from './core/planned.js';
import type { RunFacts } from './run/facts.js';
import { EXIT } from './core/verdict.js';
import { writeRunFiles } from './results/run-files.js';
import { StorageError, writeJson } from './util/write.js';
import { selftestsPerKernel } from './selftests/per-kernel.js';
import type { AccelChoice } from './vm/accel.js';
import { assemble } from './run/assemble.js';
import type { KernelJobResult } from './run/kernel-job.js';
import type { Lab } from './run/lab.js';
import type { Phase } from './main-job.js';

export interface BuildInput {
  opts: Options;
  selection: ReturnType<typeof kernelSelection>;
  cells: PlannedCell[];
  runId: string;
  runDir: string;
  accel: AccelChoice;
  timings: Record<string, number>;
  t0: number;
  facts: Promise<RunFacts>;
  phase: Phase;
}

/** The exit code of a run that was stopped: 3 when the disk failed under it, else 130 (interrupted). */
export function abortedExit(signal: AbortSignal): number {
  return signal.reason instanceof StorageError ? EXIT.infrastructure : EXIT.interrupted;
}

/** Builds everything the run boots; returns what was built, or the run's exit code when it ends here. */
export async function buildAll(lab: Lab, b: BuildInput) {
  const { opts, runDir, runId, timings, t0, cells } = b;
  const { signal, emit } = lab;
  let built;
  try {
    built = await b.phase('build', () => Promise.all([
      // Each kernel, then the selftests the chosen cases name, built from that kernel's own source.
      b.selection.build({ logDir: runDir, signal, onProgress: (v, m) => emit({ type: 'progress', scope: `kernel ${v}`, message: m }) })
        .then(async (ks) => [ks, await selftestsPerKernel(ks, loadSelftests(opts.casesDir ? path.resolve(opts.casesDir) : undefined, opts.cases), runDir)] as const),
      lab.guests(runDir),
    ]));
  } catch (e) {
    if (e instanceof KernelBuildError && !signal.aborted) return reportBuildFailure(lab, e, b, await b.facts);
    // Nothing booted: every cell is MISS. An interrupt is 130; a failed build is the lab's 3.
    const exitCode = signal.aborted ? abortedExit(signal) : EXIT.infrastructure;
    const message = signal.aborted ? 'interrupted during the build' : (e as Error).message;
    process.stderr.write(`kph: build failed: ${message}\n`);
    timings.total = Date.now() - t0;
    await writeJson(runDir, 'results.json', { runId, complete: false, exitCode, error: message, timings });
    emit({ type: 'run-end', exitCode, counts: { PASS: 0, FAIL: 0, ERROR: 0, MISS: cells.length, SKIP: 0, NA: 0 }, incomplete: true, ms: timings.total });
    return exitCode;
  }
  const [[kernels, selftests], [image, cGuest]] = built;
  for (const k of kernels) emit({ type: 'kernel-built', kernel: k.name, release: k.release, cached: k.cached, seconds: k.seconds });
  emit({ type: 'image-built', cached: image.cached, seconds: image.seconds, initramfsBytes: image.sizes.initramfsBytes, nodeDiskBytes: image.sizes.nodeDiskBytes });
  if (opts.buildOnly) {
    // --build-only: everything is in the cache now; say what, boot nothing.
    timings.total = Date.now() - t0;
    const kernelsBuilt = kernels.map((k) => ({ name: k.name, release: k.release, bzImage: k.bzImage, cached: k.cached, seconds: k.seconds }));
    await writeJson(runDir, 'results.json', { runId, complete: true, buildOnly: true, exitCode: EXIT.ok, kernels: kernelsBuilt, image, cGuest, selftests: Object.fromEntries([...selftests].map(([k, sts]) => [k, sts.map((st) => ({ name: st.name, from: st.from }))])), timings });
    emit({ type: 'progress', scope: 'build-only', message: `kernels, guest image, C guest and ${new Set([...selftests.values()].flat()).size} selftest(s) are in the cache; nothing booted` });
    return EXIT.ok;
  }
  return { kernels, image, cGuest, selftests };
}

/**
 * A kernel that does not compile: its build is recorded as FAIL (with the log's tail), every
 * cell of every kernel is MISS (nothing was booted), and the run ends with exit 3.
 */
async function reportBuildFailure(lab: Lab, e: KernelBuildError, b: BuildInput, facts: RunFacts): Promise<number> {
  process.stderr.write(`kph: ${e.message}\n`);
  const jobs: KernelJobResult[] = b.selection.names.map((name) => ({
    kernel: { name, release: '(not built)', bzImage: '', profile: '' },
    attempts: [], reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {},
    infraError: name === e.variant ? `kernel ${name} failed to build (log: ${e.log})` : `not booted: kernel ${e.variant} failed to build`,
    ...(name === e.variant ? { buildFailure: { log: e.log, tail: e.tail } } : {}),
  }));
  // Nothing was booted, so no cell ran, whatever the oracle would say of it: every record is MISS.
  const records = assemble(jobs, b.cells, () => ({ kind: 'not-applicable', reason: 'not built' }), compareResults)
    .map((rec) => ({ ...rec, outcome: 'MISS' as const, reason: jobs.find((j) => j.kernel.name === rec.kernel)?.infraError ?? 'not built' }));
  b.timings.total = Date.now() - b.t0;
  const exitCode = EXIT.infrastructure;
  await writeRunFiles(b.runDir, { runId: b.runId, accel: b.accel, jobs, records, timings: b.timings, exitCode, complete: true, kernels: [], image: { cached: false, seconds: 0, sizes: { initramfsBytes: 0, nodeDiskBytes: 0 } }, facts });
  lab.emit({ type: 'run-end', exitCode, counts: { PASS: 0, FAIL: 0, ERROR: 0, MISS: records.length, SKIP: 0, NA: 0 }, incomplete: false, ms: b.timings.total });
  return exitCode;
}
