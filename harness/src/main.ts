// The main job: read the plan, provision, build (kernels, guest image, C guest) in parallel,
// run every kernel in its own VM, compare with the oracle, write the run directory.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CaseFileErrors } from './cases/errors.js';
import { HELP, parseOptions, UsageError, type Options } from './cli.js';
import { buildCGuest } from './guests/index.js';
import { buildGuestImage } from './image/build.js';
import { kernelSelection } from './kernel/select.js';
import { flippedProfiles, notApplicable, type ProfileTable } from './oracle/adapter.js';
import { compareResults } from './oracle/compare.js';
import { loadPlan, loadSelftests, type PlannedCell } from './plan/default.js';
import { buildSelftest } from './selftests/build.js';
import { KernelBuildError } from './kernel/build.js';
import { DEFAULT_SOURCE_PACKAGE, DEFAULT_TARBALL } from './kernel/keys.js';
import { parseFilter, selectCells } from './plan/filter.js';
import { printOraclePredictions, printPlan } from './plan/print.js';
import { provision, ProvisionError } from './provision.js';
import { EXIT, exitCodeFor } from './results/outcome.js';
import { writeRunFiles } from './results/run-files.js';
import { writeJson, writeText } from './results/write.js';
import { compareRuns, comparisonMarkdown, findPrevious } from './results/previous.js';
import type { ResultsDoc } from './results/run-files.js';
import { assemble } from './run/assemble.js';
import { multiplex, type RunEvent } from './run/events.js';
import type { KernelJobResult, KernelUnderTest } from './run/kernel-job.js';
import { jobContext } from './run/lab.js';
import { precompute } from './run/predictions.js';
import { runKernels, type KernelWork } from './run/scheduler.js';
import { readPriorRun, remainingCells, writeManifest, type PriorRun } from './run/resume.js';
import { eventLogReporter, progressReporter, terminalReporter } from './run/reporters.js';
import { resultsRoot } from './util/paths.js';
import { chooseAccel } from './vm/accel.js';
import { QemuConfigError, resolveQemu } from './vm/qemu.js';
import { killAllVms } from './vm/registry.js';
import { sweepOrphans } from './vm/sweep.js';

/** A kernel's cells to send: those its oracle profile applies to (the rest are NA, never sent), less those a resumed run already answered. */
function workFor(kernel: KernelUnderTest, cells: PlannedCell[], profiles: ProfileTable, prior: PriorRun | undefined, emit: (e: RunEvent) => void): KernelWork {
  const applicable = cells.filter((c) => notApplicable(c, kernel.profile, profiles) === null);
  const answered = prior?.answered.get(kernel.name);
  const todo = remainingCells(applicable, answered);
  // One line per kernel (the terminal throttles a scope's lines to one every 5 s).
  const said = [
    ...(applicable.length < cells.length ? [`${cells.length - applicable.length} of ${cells.length} cells do not apply to profile ${kernel.profile}: not sent (NA)`] : []),
    ...(answered && todo.length ? [`resuming: ${todo.length} of ${applicable.length} cells still to run`] : []),
    ...(answered && !todo.length ? ['every cell already answered; not booted'] : []),
  ];
  if (said.length) emit({ type: 'progress', scope: kernel.name, message: said.join('; ') });
  return { kernel, cells: todo };
}

/** Whether a kernel's .config (if it has one) says CONFIG_SMP=y. */
function builtWithSmp(config: string): boolean {
  try { return config !== '' && /^CONFIG_SMP=y$/m.test(fs.readFileSync(config, 'utf8')); } catch { return false; }
}

/** Adds a resumed run's earlier answers to a kernel's job. */
function withPriorAnswers(job: KernelJobResult, prior: PriorRun | undefined): KernelJobResult {
  const answered = prior?.answered.get(job.kernel.name);
  if (!answered) return job;
  if (job.attempts.length === 0) job.unameR ??= job.kernel.release;
  for (const g of ['c', 'ts'] as const) for (const [id, rep] of answered[g]) if (!job.reports[g].has(id)) job.reports[g].set(id, rep);
  return job;
}

/**
 * A kernel that does not compile: its build is recorded as FAIL (with the log's tail), every
 * cell of every kernel is MISS (nothing was booted), and the run ends with exit 3.
 */
async function reportBuildFailure(
  e: KernelBuildError, names: string[], cells: PlannedCell[],
  r: { runId: string; runDir: string; accel: ReturnType<typeof chooseAccel>; timings: Record<string, number>; t0: number; emit: (ev: RunEvent) => void },
): Promise<number> {
  process.stderr.write(`kph: ${e.message}\n`);
  const jobs: KernelJobResult[] = names.map((name) => ({
    kernel: { name, release: '(not built)', bzImage: '', profile: '' },
    attempts: [], reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {},
    infraError: name === e.variant ? `kernel ${name} failed to build (log: ${e.log})` : `not booted: kernel ${e.variant} failed to build`,
    ...(name === e.variant ? { buildFailure: { log: e.log, tail: e.tail } } : {}),
  }));
  const records = assemble(jobs, cells, () => ({ kind: 'not-applicable', reason: 'not built' }), compareResults);
  r.timings.total = Date.now() - r.t0;
  const exitCode = EXIT.infrastructure;
  await writeRunFiles(r.runDir, { runId: r.runId, accel: r.accel, jobs, records, timings: r.timings, exitCode, complete: true, kernels: [], image: { cached: false, seconds: 0, sizes: { initramfsBytes: 0, nodeDiskBytes: 0 } } });
  r.emit({ type: 'run-end', exitCode, counts: { PASS: 0, FAIL: 0, ERROR: 0, MISS: records.length, SKIP: 0, NA: 0 }, incomplete: false, ms: r.timings.total });
  return exitCode;
}

/** Writes comparison.json/.md against the previous finished run of the same plan, if any. */
async function compareWithPrevious(runDir: string, runId: string, argv: string[], emit: (e: RunEvent) => void): Promise<void> {
  const prev = findPrevious(path.dirname(runDir), runId, argv);
  if (!prev) return;
  const cur = JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8')) as ResultsDoc;
  const c = compareRuns(path.basename(prev.dir), prev.doc, cur);
  await writeJson(runDir, 'comparison.json', c);
  await writeText(runDir, 'comparison.md', comparisonMarkdown(c));
  emit({ type: 'progress', scope: 'compare', message: `since ${c.previous}: ${c.newFailures.length} new failures, ${c.fixes.length} fixes, ${c.stillFailing.length} still failing, ${c.flaky.length} flaky` });
}

/** A run id that sorts by time and never collides: 20261126-093100-ab12cd. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

interface Prepared { opts: Options; cells: PlannedCell[]; profiles: ProfileTable }

/** Everything that can be wrong with the user's input, checked before anything is built. */
function prepare(argv: string[]): Prepared | number {
  try {
    const opts = parseOptions(argv);
    if (opts.help) { process.stdout.write(HELP + '\n'); return EXIT.ok; }
    const profiles = flippedProfiles(opts.oracleFlip);
    if (opts.kernels) kernelSelection(opts.kernels); // checks kernels/*.yaml before anything is built
    let cells = selectCells(loadPlan(opts.casesDir ? path.resolve(opts.casesDir) : undefined), opts.cases, opts.filters.map(parseFilter));
    if (!opts.ts) cells = cells.map((c) => ({ ...c, guests: c.guests.filter((g) => g !== 'ts') })).filter((c) => c.guests.length);
    if (opts.shard) {
      // Round robin over the plan's order: deterministic, balanced across cases.
      const { index, count } = opts.shard;
      cells = cells.filter((_, i) => i % count === index - 1);
    }
    if (cells.length === 0) throw new UsageError('the selection is empty: no cell matches --case/--filter');
    return { opts, cells, profiles };
  } catch (e) {
    if (e instanceof CaseFileErrors || e instanceof UsageError || (e instanceof Error && /^(--|case folder)/.test(e.message))) {
      process.stderr.write(`kph: ${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

/** Runs the main job with argv; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await mainUnguarded(argv);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EROFS' || err.code === 'EACCES') {
      process.stderr.write(`kph: cannot write ${err.path ?? 'the results'}: ${err.message}\n`);
      return EXIT.infrastructure;
    }
    throw e;
  }
}

async function mainUnguarded(argv: string[]): Promise<number> {
  let prior: PriorRun | undefined;
  const resumeAt = argv.indexOf('--resume');
  if (resumeAt >= 0) {
    try {
      prior = readPriorRun(path.resolve(argv[resumeAt + 1] ?? ''));
    } catch (e) {
      process.stderr.write(`kph: ${(e as Error).message}\n`);
      return EXIT.usage;
    }
  }
  const prepared = prepare(prior ? prior.manifest.argv : argv);
  if (typeof prepared === 'number') return prepared;
  const { opts, cells, profiles } = prepared;
  if (opts.planOnly) { printPlan(cells); return EXIT.ok; }
  if (opts.oracleOnly) { printOraclePredictions(cells, profiles); return EXIT.ok; }

  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) { killAllVms(); process.exit(EXIT.interrupted); }
    process.stderr.write(`\nkph: ${sig}: stopping (again to force)\n`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const runDir = prior ? path.resolve(argv[resumeAt + 1]) : undefined;
    return await runMain(opts, cells, profiles, controller.signal, { argv, prior, runDir });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface RunPlace { argv: string[]; prior?: PriorRun; runDir?: string }

async function runMain(opts: Options, cells: PlannedCell[], profiles: ProfileTable, signal: AbortSignal, place: RunPlace): Promise<number> {
  const t0 = Date.now();
  const { prior } = place;
  const runId = prior?.manifest.runId ?? newRunId();
  const runDir = place.runDir ?? path.join(opts.resultsDir ? path.resolve(opts.resultsDir) : resultsRoot(), runId);
  fs.mkdirSync(runDir, { recursive: true });
  if (!prior) {
    writeManifest(runDir, { runId, argv: place.argv, startedAt: new Date(t0).toISOString() });
    // Until the run ends, results.json says it is incomplete (a SIGKILL leaves it so).
    await writeJson(runDir, 'results.json', { runId, complete: false, note: 'run in progress or interrupted; events.jsonl has what was observed; finish it with --resume', plannedCells: cells.length });
  }
  // -q (when the options have it) silences the progress lines.
  const quiet = (opts as Options & { quiet?: boolean }).quiet === true;
  const emit = multiplex([terminalReporter(), ...(quiet ? [] : [progressReporter()]), eventLogReporter(path.join(runDir, 'events.jsonl'))]);
  const timings: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    emit({ type: 'phase', phase: name, state: 'start' });
    try { return await fn(); } finally {
      timings[name] = Date.now() - t;
      emit({ type: 'phase', phase: name, state: 'end', ms: timings[name] });
    }
  };
  for (const o of sweepOrphans()) emit({ type: 'progress', scope: 'sweep', message: `killed QEMU ${o.pid} left by dead harness ${o.harnessPid} (${o.name})` });

  try {
    await phase('provision', () => provision((m) => emit({ type: 'progress', scope: 'provision', message: m })));
  } catch (e) {
    if (e instanceof ProvisionError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.usage; }
    throw e;
  }

  const selection = kernelSelection(opts.kernels);
  emit({ type: 'run-start', runId, runDir, cells: cells.length, kernels: selection.names });
  const accel = chooseAccel(opts.accel === 'auto' ? undefined : opts.accel, opts.timeoutScale);
  emit({ type: 'progress', scope: 'accel', message: `${accel.accel} (${accel.reason}); timeouts ×${accel.timeScale}` });
  // A missing emulator or a flag it rejects is the user's setup to fix: exit 2, never a boot timeout.
  const configError = (e: unknown): number => {
    if (!(e instanceof QemuConfigError)) throw e;
    process.stderr.write(`kph: ${e.message}\n`);
    return EXIT.usage;
  };
  try { resolveQemu(); } catch (e) { return configError(e); }

  let built;
  try {
    built = await phase('build', () => Promise.all([
      selection.build({ logDir: runDir, signal, onProgress: (v, m) => emit({ type: 'progress', scope: `kernel ${v}`, message: m }) }),
      buildGuestImage({ logDir: runDir, signal }),
      buildCGuest({ logDir: runDir, signal }),
      // Kernel selftests the chosen cases name, built from the embedded default's source.
      Promise.all(loadSelftests(opts.casesDir ? path.resolve(opts.casesDir) : undefined, opts.cases)
        .map((name) => buildSelftest(name, { tarball: DEFAULT_TARBALL, sourcePackage: DEFAULT_SOURCE_PACKAGE }, runDir))),
    ]));
  } catch (e) {
    if (e instanceof KernelBuildError && !signal.aborted) return reportBuildFailure(e, selection.names, cells, { runId, runDir, accel, timings, t0, emit });
    // Nothing booted: every cell is MISS. An interrupt is 130; a failed build is the lab's 3.
    const exitCode = signal.aborted ? EXIT.interrupted : EXIT.infrastructure;
    const message = signal.aborted ? 'interrupted during the build' : (e as Error).message;
    process.stderr.write(`kph: build failed: ${message}\n`);
    timings.total = Date.now() - t0;
    await writeJson(runDir, 'results.json', { runId, complete: false, exitCode, error: message, timings });
    emit({ type: 'run-end', exitCode, counts: { PASS: 0, FAIL: 0, ERROR: 0, MISS: cells.length, SKIP: 0, NA: 0 }, incomplete: true, ms: timings.total });
    return exitCode;
  }
  const [kernels, image, cGuest, selftests] = built;
  for (const k of kernels) emit({ type: 'kernel-built', kernel: k.name, release: k.release, cached: k.cached, seconds: k.seconds });
  emit({ type: 'image-built', cached: image.cached, seconds: image.seconds, initramfsBytes: image.sizes.initramfsBytes, nodeDiskBytes: image.sizes.nodeDiskBytes });

  const ctx = jobContext({ runId, runDir, accel, image, cGuest: cGuest.path, selftests, append: opts.append, bootAttempts: opts.bootAttempts, emit, signal });
  // The oracle's answers are computed while the VMs boot and run; the comparison then finds them ready.
  const predictions = precompute(cells, kernels.map((k) => k.profile), profiles, signal);
  const work = kernels.map((k) => workFor({ name: k.name, release: k.release, bzImage: k.bzImage, profile: k.profile, smp: builtWithSmp(k.config) }, cells, profiles, prior, emit));
  const jobs: KernelJobResult[] | number = await phase('run', async () => (await runKernels(work, ctx, { jobs: opts.jobs })).map((j) => withPriorAnswers(j, prior))).catch(configError);
  if (typeof jobs === 'number') { predictions.stop(); return jobs; }

  await phase('oracle', () => predictions.done);
  const records = assemble(jobs, cells, predictions.predictor, compareResults);
  for (const r of records) emit({ type: 'cell-result', kernel: r.kernel, guest: r.guest, id: r.id, outcome: r.outcome, reason: r.reason });
  const exitCode = signal.aborted ? EXIT.interrupted : exitCodeFor(records.map((r) => r.outcome));
  timings.total = Date.now() - t0;
  // process.resourceUsage().maxRSS is in KiB: the harness's own peak memory.
  timings.harnessPeakRssKiB = process.resourceUsage().maxRSS;
  try {
    await writeRunFiles(runDir, { runId, accel, jobs, records, timings, exitCode, complete: !signal.aborted, kernels, image });
    await compareWithPrevious(runDir, runId, prior?.manifest.argv ?? place.argv, emit);
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
