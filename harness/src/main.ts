// The main job: read the plan, provision, build (kernels, guest image, C guest) in parallel,
// run every kernel in its own VM, compare with the oracle, write the run directory.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { checkFolderOption, HELP, parseOptions, UsageError, type Options } from './cli.js';
import { buildCGuest } from './guests/index.js';
import { buildGuestImage } from './image/build.js';
import { kernelSelection } from './kernel/select.js';
import { flippedProfiles, notApplicable, possibleComparer, type ProfileTable } from './oracle/adapter.js';
import { compareResults } from './oracle/compare.js';
import { describeError, exitCodeForError, verboseIn } from './core/errors.js';
import { checkSelftests, loadPlan, loadSelftests } from './plan/default.js';
import type { PlannedCell } from './core/planned.js';
import { knownSelftestsOf, selftestsPerKernel } from './selftests/per-kernel.js';
import { versionLine } from './util/version.js';
import { KernelBuildError } from './kernel/build.js';
import { parseFilter, selectCells } from './plan/filter.js';
import { planIdentity, type PlanIdentity } from './plan/identity.js';
import { printOraclePredictions, printPlan } from './plan/print.js';
import { provision, ProvisionError } from './provision.js';
import { EXIT, exitCodeFor } from './core/verdict.js';
import { writeRunFiles } from './results/run-files.js';
import { onStorageFailure, StorageError, writeJson, writeText } from './util/write.js';
import { cellClock } from './run/cell-clock.js';
import { gatherAndRecordRunFacts, type RunFacts } from './run/facts.js';
import { compareRuns, comparisonMarkdown, findPrevious } from './results/previous.js';
import type { ResultsDoc } from './results/run-files.js';
import { assemble } from './run/assemble.js';
import { multiplex, type RunEvent } from './run/events.js';
import type { KernelJobResult, KernelUnderTest } from './run/kernel-job.js';
import { jobContext } from './run/lab.js';
import { absoluteArgv, readPriorRun, remainingCells, writeManifest, type PriorRun } from './run/resume.js';
import { claimRunDir, createRunDir, RunDirError, type OwnedRunDir } from './run/run-dir.js';
import { eventLogReporter, progressReporter, terminalReporter } from './run/reporters.js';
import { precompute } from './run/predictions.js';
import { runKernels, type KernelWork } from './run/scheduler.js';
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

/** Adds a resumed run's earlier answers to a kernel's job (each keeps the VM that gave it; earlier VMs come first). */
function withPriorAnswers(job: KernelJobResult, prior: PriorRun | undefined, signal: AbortSignal): KernelJobResult {
  const answered = prior?.answered.get(job.kernel.name);
  if (answered) {
    if (job.attempts.length === 0) job.unameR ??= job.kernel.release;
    const answeredOn = prior?.answeredOn.get(job.kernel.name);
    job.answeredOn ??= { c: new Map(), ts: new Map() };
    for (const g of ['c', 'ts'] as const) {
      for (const [id, rep] of answered[g]) {
        if (job.reports[g].has(id)) continue;
        job.reports[g].set(id, rep);
        const on = answeredOn?.[g].get(id);
        if (on !== undefined) job.answeredOn[g].set(id, on);
      }
    }
    job.attempts = [...(prior?.boots.get(job.kernel.name) ?? []), ...job.attempts];
  }
  // Stopped because evidence could not be written: say so rather than "interrupted".
  if (job.infraError && signal.reason instanceof StorageError) job.infraError = `not run: the run stopped because it ${signal.reason.message}`;
  return job;
}

/**
 * A kernel that does not compile: its build is recorded as FAIL (with the log's tail), every
 * cell of every kernel is MISS (nothing was booted), and the run ends with exit 3.
 */
async function reportBuildFailure(
  e: KernelBuildError, names: string[], cells: PlannedCell[],
  r: { runId: string; runDir: string; accel: ReturnType<typeof chooseAccel>; timings: Record<string, number>; t0: number; emit: (ev: RunEvent) => void; facts: RunFacts },
): Promise<number> {
  process.stderr.write(`kph: ${e.message}\n`);
  const jobs: KernelJobResult[] = names.map((name) => ({
    kernel: { name, release: '(not built)', bzImage: '', profile: '' },
    attempts: [], reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {},
    infraError: name === e.variant ? `kernel ${name} failed to build (log: ${e.log})` : `not booted: kernel ${e.variant} failed to build`,
    ...(name === e.variant ? { buildFailure: { log: e.log, tail: e.tail } } : {}),
  }));
  // Nothing was booted, so no cell ran, whatever the oracle would say of it: every record is MISS.
  const records = assemble(jobs, cells, () => ({ kind: 'not-applicable', reason: 'not built' }), compareResults)
    .map((rec) => ({ ...rec, outcome: 'MISS' as const, reason: jobs.find((j) => j.kernel.name === rec.kernel)?.infraError ?? 'not built' }));
  r.timings.total = Date.now() - r.t0;
  const exitCode = EXIT.infrastructure;
  await writeRunFiles(r.runDir, { runId: r.runId, accel: r.accel, jobs, records, timings: r.timings, exitCode, complete: true, kernels: [], image: { cached: false, seconds: 0, sizes: { initramfsBytes: 0, nodeDiskBytes: 0 } }, facts: r.facts });
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

interface Prepared { opts: Options; cells: PlannedCell[]; profiles: ProfileTable; plan: PlanIdentity }

/** Everything that can be wrong with the user's input, checked before anything is built; throws InputError. */
async function prepare(argv: string[]): Promise<Prepared | number> {
  const opts = parseOptions(argv);
  if (opts.help) { process.stdout.write(HELP + '\n'); return EXIT.ok; }
  if (opts.version) { process.stdout.write(versionLine() + '\n'); return EXIT.ok; }
  checkFolderOption('cases', opts.casesDir, true);
  checkFolderOption('results', opts.resultsDir, false);
  if (opts.resultsDir === undefined && process.env.KPH_RESULTS_DIR) checkFolderOption('KPH_RESULTS_DIR', resultsRoot(), false);
  const profiles = flippedProfiles(opts.oracleFlip);
  const selection = kernelSelection(opts.kernels); // checks kernels/*.yaml (and prebuilt bzImages) before anything is built
  const casesDir = opts.casesDir ? path.resolve(opts.casesDir) : undefined;
  let cells = selectCells(loadPlan(casesDir, { maxCells: opts.maxCells }), opts.cases, opts.filters.map(parseFilter));
  if (!opts.ts) cells = cells.map((c) => ({ ...c, guests: c.guests.filter((g) => g !== 'ts') })).filter((c) => c.guests.length);
  const plan = planIdentity(cells, opts.shard);
  if (opts.shard) {
    // Round robin over the plan's order: deterministic, balanced across cases.
    const { index, count } = opts.shard;
    cells = cells.filter((_, i) => i % count === index - 1);
  }
  if (cells.length === 0) throw new UsageError('the selection is empty: no cell matches --case/--filter');
  // Selftests the cases name must exist in each source they are built from (once provisioned).
  if (loadSelftests(casesDir, opts.cases).length) {
    for (const { known } of await knownSelftestsOf(selection.kernels.flatMap((k) => k.source.tree ?? []))) checkSelftests(known, casesDir, opts.cases);
  }
  return { opts, cells, profiles, plan };
}

/** Runs the main job with argv; returns the process exit code (an error that is not a test result is 2 or 4, never 1). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await mainUnguarded(argv);
  } catch (e) {
    if (e instanceof RunDirError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.usage; }
    if (e instanceof StorageError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.infrastructure; }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EROFS' || err.code === 'EACCES') {
      process.stderr.write(`kph: cannot write ${err.path ?? 'the results'}: ${err.message}\n`);
      return EXIT.infrastructure;
    }
    process.stderr.write(`kph: ${describeError(e, verboseIn(argv))}\n`);
    return exitCodeForError(e);
  }
}

/** The run directory of `--resume DIR` / `--resume=DIR`, or undefined (argv errors are prepare()'s to report). */
function resumeTarget(argv: string[]): string | undefined {
  try { return parseOptions(argv).resume; } catch { return undefined; }
}

/** Locks the run directory to resume and reads what it observed; throws RunDirError (exit 2) when it cannot be resumed. */
function claimPriorRun(argv: string[], dir: string): { prior: PriorRun; owned: OwnedRunDir } {
  const extra = argv.filter((a) => a !== '--resume' && a !== dir && !a.startsWith('--resume='));
  if (extra.length) throw new RunDirError(`--resume takes no other options (the run's own are in ${path.join(dir, 'run.json')}); got ${extra.join(' ')}`);
  const runDir = path.resolve(dir);
  if (!fs.existsSync(path.join(runDir, 'run.json'))) throw new RunDirError(`--resume ${dir}: not a run directory (no run.json in ${runDir})`);
  // The lock comes first: a live run is refused before anything of it is read or touched.
  const owned = claimRunDir(runDir);
  try {
    const prior = readPriorRun(runDir);
    if (owned.tookOverFrom) process.stderr.write(`kph: ${runDir}: took over the lock of ${owned.tookOverFrom}, which is gone\n`);
    for (const w of prior.skipped) process.stderr.write(`kph: warning: ${w}\n`);
    return { prior, owned };
  } catch (e) {
    owned.release();
    throw new RunDirError((e as Error).message);
  }
}

/** The exit code of a run that was stopped: 3 when the disk failed under it, else 130 (interrupted). */
function abortedExit(signal: AbortSignal): number {
  return signal.reason instanceof StorageError ? EXIT.infrastructure : EXIT.interrupted;
}

async function mainUnguarded(argv: string[]): Promise<number> {
  let prior: PriorRun | undefined;
  let owned: OwnedRunDir | undefined;
  const resumeDir = resumeTarget(argv);
  if (resumeDir !== undefined) ({ prior, owned } = claimPriorRun(argv, resumeDir));
  try {
    return await prepareAndRun(argv, prior, owned);
  } finally {
    owned?.release();
  }
}

async function prepareAndRun(argv: string[], prior: PriorRun | undefined, resumed: OwnedRunDir | undefined): Promise<number> {
  const prepared = await prepare(prior ? prior.manifest.argv : argv);
  if (typeof prepared === 'number') return prepared;
  const { opts, cells, profiles, plan } = prepared;
  if (opts.planOnly) { printPlan(cells); return EXIT.ok; }
  if (opts.oracleOnly) { printOraclePredictions(cells, profiles); return EXIT.ok; }

  // A new run gets a new, locked directory in the results folder (checked usable: exit 2 if not).
  const runId = prior?.manifest.runId ?? newRunId();
  const owned = resumed ?? createRunDir(opts.resultsDir ?? resultsRoot(), runId, opts.resultsDir !== undefined ? '--results' : process.env.KPH_RESULTS_DIR ? 'KPH_RESULTS_DIR' : 'the results folder');
  const controller = new AbortController();
  // Evidence that cannot be written (disk full) ends the run: exit 3, every VM stopped.
  const offStorage = onStorageFailure((e) => {
    if (controller.signal.aborted) return;
    process.stderr.write(`kph: ${e.message}; stopping the run\n`);
    controller.abort(e);
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) { killAllVms(); process.exit(EXIT.interrupted); }
    process.stderr.write(`\nkph: ${sig}: stopping (again to force)\n`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runMain(opts, cells, profiles, controller.signal, { argv: absoluteArgv(argv, process.cwd()), prior, runDir: owned.runDir, runId, plan });
  } finally {
    offStorage();
    owned.release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Where the run goes: its own locked directory; `argv` has absolute paths. */
interface RunPlace { argv: string[]; prior?: PriorRun; runDir: string; runId: string; plan: PlanIdentity }

async function runMain(opts: Options, cells: PlannedCell[], profiles: ProfileTable, signal: AbortSignal, place: RunPlace): Promise<number> {
  const t0 = Date.now();
  const { prior, runDir, runId } = place;
  if (!prior) {
    writeManifest(runDir, { runId, argv: place.argv, startedAt: new Date(t0).toISOString(), plan: place.plan });
    // Until the run ends, results.json says it is incomplete (a SIGKILL leaves it so).
    await writeJson(runDir, 'results.json', { runId, complete: false, note: 'run in progress or interrupted; events.jsonl has what was observed; finish it with --resume', plannedCells: cells.length });
  }
  const clock = cellClock();
  // -q silences the progress lines.
  const progress = opts.verbosity === 'quiet' ? [] : [progressReporter()];
  const emit = multiplex([terminalReporter(process.stderr, opts.verbosity), ...progress, eventLogReporter(path.join(runDir, 'events.jsonl')), clock.reporter]);
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

  const selection = kernelSelection(opts.kernels);
  try {
    // Every Debian source a selected kernel description names is provisioned like the rest.
    await phase('provision', () => provision((m) => emit({ type: 'progress', scope: 'provision', message: m }), { extra: selection.packages }));
  } catch (e) {
    if (e instanceof ProvisionError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.usage; }
    throw e;
  }

  // Compiler, QEMU and each kernel's source facts as they are now, recorded in run.json (never throws).
  const facts = gatherAndRecordRunFacts(runDir, selection);
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
      // Each kernel, then the selftests the chosen cases name, built from that kernel's own source.
      selection.build({ logDir: runDir, signal, onProgress: (v, m) => emit({ type: 'progress', scope: `kernel ${v}`, message: m }) })
        .then(async (ks) => [ks, await selftestsPerKernel(ks, loadSelftests(opts.casesDir ? path.resolve(opts.casesDir) : undefined, opts.cases), runDir)] as const),
      buildGuestImage({ logDir: runDir, signal }),
      buildCGuest({ logDir: runDir, signal }),
    ]));
  } catch (e) {
    if (e instanceof KernelBuildError && !signal.aborted) return reportBuildFailure(e, selection.names, cells, { runId, runDir, accel, timings, t0, emit, facts: await facts });
    // Nothing booted: every cell is MISS. An interrupt is 130; a failed build is the lab's 3.
    const exitCode = signal.aborted ? abortedExit(signal) : EXIT.infrastructure;
    const message = signal.aborted ? 'interrupted during the build' : (e as Error).message;
    process.stderr.write(`kph: build failed: ${message}\n`);
    timings.total = Date.now() - t0;
    await writeJson(runDir, 'results.json', { runId, complete: false, exitCode, error: message, timings });
    emit({ type: 'run-end', exitCode, counts: { PASS: 0, FAIL: 0, ERROR: 0, MISS: cells.length, SKIP: 0, NA: 0 }, incomplete: true, ms: timings.total });
    return exitCode;
  }
  const [[kernels, selftests], image, cGuest] = built;
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

  const ctx = jobContext({ runId, runDir, accel, image, cGuest: cGuest.path, append: opts.append, bootAttempts: opts.bootAttempts, emit, signal });
  // The oracle's answers are computed while the VMs boot and run; the comparison then finds them ready.
  const predictions = precompute(cells, kernels.map((k) => k.profile), profiles, signal);
  const work = kernels.map((k) => workFor({ name: k.name, release: k.release, bzImage: k.bzImage, profile: k.profile, smp: builtWithSmp(k.config), selftests: selftests.get(k.name) }, cells, profiles, prior, emit));
  const jobs: KernelJobResult[] | number = await phase('run', async () => (await runKernels(work, ctx, { jobs: opts.jobs })).map((j) => withPriorAnswers(j, prior, signal))).catch(configError);
  if (typeof jobs === 'number') { predictions.stop(); return jobs; }

  await phase('oracle', () => predictions.done);
  const records = assemble(jobs, cells, predictions.predictor, possibleComparer(profiles));
  for (const r of records) emit({ type: 'cell-result', kernel: r.kernel, guest: r.guest, id: r.id, outcome: r.outcome, reason: r.reason });
  const exitCode = signal.aborted ? abortedExit(signal) : exitCodeFor(records.map((r) => r.outcome));
  timings.total = Date.now() - t0;
  // process.resourceUsage().maxRSS is in KiB: the harness's own peak memory.
  timings.harnessPeakRssKiB = process.resourceUsage().maxRSS;
  try {
    const written = await writeRunFiles(runDir, { runId, accel, jobs, records, timings, exitCode, complete: !signal.aborted, kernels, image, facts: await facts, cellTimes: clock.times });
    emit({ type: 'progress', scope: 'outputs', message: `written in ${written.ms} ms (${written.cpuMs} ms CPU), ${Object.values(written.bytes).reduce((a, b) => a + b, 0)} bytes` });
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
