// One `git bisect run` step: build the tree's HEAD, boot it, run the chosen cells (N times if
// asked), compare with the oracle or with the good commit, log the step, answer 0/1/125/200.
import fs from 'node:fs';
import path from 'node:path';
import { buildCGuest } from '../guests/index.js';
import { buildGuestImage } from '../image/build.js';
import { KernelBuildError, type BuiltKernel } from '../kernel/build.js';
import { buildGitKernel, GitSourceError, resolveGit, uncommittedChanges, type GitSource } from '../kernel/git.js';
import { describeError, EXIT_INPUT, exitCodeForError, HarnessBug, InputError, verboseIn } from '../core/errors.js';
import { flippedProfiles, oracleAnswer, possibleComparer } from '../oracle/adapter.js';
import { loadPlan } from '../plan/default.js';
import type { PlannedCell } from '../core/planned.js';
import { parseFilter, selectCells } from '../plan/filter.js';
import { provision, ProvisionError } from '../provision.js';
import { writeJson } from '../util/write.js';
import { assemble } from '../run/assemble.js';
import { multiplex } from '../run/events.js';
import type { JobContext } from '../run/kernel-job.js';
import { runKernelJob } from '../run/scheduler.js';
import { jobContext } from '../run/lab.js';
import { eventLogReporter, terminalReporter } from '../run/reporters.js';
import { contentKey } from '../util/cache.js';
import { resultsRoot } from '../util/paths.js';
import { versionLine } from '../util/version.js';
import { chooseAccel } from '../vm/accel.js';
import { resolveQemu } from '../vm/qemu.js';
import { killAllVms } from '../vm/registry.js';
import { sweepOrphans } from '../vm/sweep.js';
import { compareWithGood, observationsOf, type GoodObservations } from './behaviour.js';
import { appendStep, writeSummary, type StepRecord } from './log.js';
import { BisectUsageError, HELP, parseBisectOptions, type BisectOptions } from './options.js';
import { bisectDirName, nextStepNumber } from './session.js';
import { BISECT_EXIT, combine, repeatVerdict, type CellOutcome, type RepeatResult } from './verdict.js';
import { makeDirs } from '../run/run-dir.js';

/** A problem of the setup that would be the same on every commit: abort the bisect (exit 200). */
class AbortBisect extends InputError {
  override name = 'AbortBisect';
  constructor(message: string) { super(message); }
}

const say = (s: string): void => { process.stderr.write(`kph bisect: ${s}\n`); };

/** The cells to run, from the same --case/--filter/--cases/--no-ts options as the main job. */
function chooseCells(opts: BisectOptions): PlannedCell[] {
  let cells = selectCells(loadPlan(opts.casesDir ? path.resolve(opts.casesDir) : undefined, { maxCells: opts.maxCells }), opts.cases, opts.filters.map(parseFilter));
  if (!opts.ts) cells = cells.map((c) => ({ ...c, guests: c.guests.filter((g) => g !== 'ts') })).filter((c) => c.guests.length);
  if (cells.length === 0) throw new BisectUsageError('the selection is empty: no cell matches --case/--filter');
  // Oracle mode: a cell the oracle cannot answer is a harness bug, the same on every commit.
  if (opts.mode === 'oracle' && opts.profile) {
    const profiles = flippedProfiles([]);
    for (const c of cells) {
      const a = oracleAnswer(c, opts.profile, profiles);
      if (a.kind === 'oracle-error') throw new HarnessBug(`the oracle threw on ${c.id}: ${a.message}`);
    }
  }
  return cells;
}

/** What git bisect hears for an error that is not a verdict: always abort (200); the message says whose fault it is. */
function abortFor(e: unknown, argv: string[]): number {
  const input = exitCodeForError(e) === EXIT_INPUT;
  say(`${describeError(e, verboseIn(argv))}\n(exit ${BISECT_EXIT.abort}: ${input ? 'the same on every commit' : 'a harness error'}; aborting the bisect)`);
  return BISECT_EXIT.abort;
}

/** Runs one bisect step with argv; returns git bisect's exit code. */
export async function bisectMain(argv: string[]): Promise<number> {
  let opts: BisectOptions;
  let cells: PlannedCell[];
  try {
    opts = parseBisectOptions(argv);
    if (opts.help) { process.stdout.write(HELP + '\n'); return BISECT_EXIT.good; }
    if (opts.version) { process.stdout.write(versionLine() + '\n'); return BISECT_EXIT.good; }
    cells = chooseCells(opts);
  } catch (e) {
    return abortFor(e, argv);
  }
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) { killAllVms(); process.exit(BISECT_EXIT.interrupted); }
    say(`${sig}: stopping (again to force)`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await bisectStep(opts, cells, controller.signal);
  } catch (e) {
    if (controller.signal.aborted) return BISECT_EXIT.interrupted;
    return abortFor(e, argv);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface Step {
  opts: BisectOptions;
  cells: PlannedCell[];
  head: GitSource;
  dir: string;
  stepDir: string;
  ctx: JobContext;
  signal: AbortSignal;
  record: StepRecord;
  t0: number;
}

async function bisectStep(opts: BisectOptions, cells: PlannedCell[], signal: AbortSignal): Promise<number> {
  const t0 = Date.now();
  // 1. The tree under test: HEAD of the git tree we run in, with its uncommitted changes.
  let head: GitSource;
  try {
    head = await resolveGit(process.cwd(), 'HEAD');
  } catch (e) {
    if (e instanceof GitSourceError) throw new AbortBisect(`${e.message} (run harness/bisect.mjs inside the kernel git tree being bisected)`);
    throw e;
  }
  const localDiff = await uncommittedChanges(head.toplevel);

  // 2. The bisect run directory (one per git bisect session) and this step's folder.
  const dir = opts.bisectDir ? path.resolve(opts.bisectDir) : path.join(opts.resultsDir ? path.resolve(opts.resultsDir) : resultsRoot(), await bisectDirName(head.toplevel));
  makeDirs(dir, opts.bisectDir ? '--bisect-dir' : '--results');
  const n = nextStepNumber(dir);
  const stepDir = path.join(dir, `step-${String(n).padStart(2, '0')}-${head.commit.slice(0, 12)}`);
  makeDirs(stepDir, 'the step folder');
  const emit = multiplex([terminalReporter(process.stderr, opts.verbosity), eventLogReporter(path.join(stepDir, 'events.jsonl'))]);
  emit({ type: 'run-start', runId: path.basename(dir), runDir: stepDir, cells: cells.length, kernels: [`${head.commit.slice(0, 12)} (${head.subject})`] });
  for (const o of sweepOrphans()) emit({ type: 'progress', scope: 'sweep', message: `killed QEMU ${o.pid} left by dead harness ${o.harnessPid} (${o.name})` });
  const record: StepRecord = {
    step: n, commit: head.commit, subject: head.subject, tree: head.toplevel, uncommittedChanges: localDiff !== '', startedAt: new Date(t0).toISOString(), seconds: 0,
    mode: opts.mode, profile: opts.profile, cells: cells.length, selection: [...opts.cases.map((c) => `--case ${c}`), ...opts.filters.map((f) => `--filter ${f}`)],
    repeats: [], verdict: 'skip', why: '', exitCode: BISECT_EXIT.skip, dir: stepDir,
  };

  // 3. The lab: system packages, guest image, C guest. Failing here would fail on every commit.
  try {
    await provision((m) => emit({ type: 'progress', scope: 'provision', message: m }));
  } catch (e) {
    if (e instanceof ProvisionError) throw new AbortBisect(e.message);
    throw e;
  }
  const accel = chooseAccel(opts.accel === 'auto' ? undefined : opts.accel, opts.timeoutScale);
  emit({ type: 'progress', scope: 'accel', message: `${accel.accel} (${accel.reason}); timeouts ×${accel.timeScale}` });
  resolveQemu();
  let lab;
  try {
    lab = await Promise.all([buildGuestImage({ logDir: stepDir, signal }), buildCGuest({ logDir: stepDir, signal })]);
  } catch (e) {
    if (signal.aborted) throw e;
    throw new AbortBisect(`the guest image or the C guest cannot be built (the same on every commit): ${(e as Error).message}`);
  }
  const [image, cGuest] = lab;
  const ctx = jobContext({ runId: `${path.basename(dir)}-${n}`, runDir: stepDir, accel, image, cGuest: cGuest.path, append: opts.append, bootAttempts: opts.bootAttempts, emit, signal });
  const step: Step = { opts, cells, head, dir, stepDir, ctx, signal, record, t0 };

  // 4. Behaviour mode: what the good commit did (built, booted and recorded once per session).
  let good: GoodObservations | undefined;
  if (opts.mode === 'behaviour') good = await goodObservations(step);

  // 5. Build the commit under test. A commit that does not build cannot be tested: skip.
  const built = await buildHead(step, localDiff);
  if (typeof built === 'number') return built;

  // 6. Run the cells, `repeat` times, each on a fresh VM.
  const profiles = flippedProfiles([]);
  for (let r = 1; r <= opts.repeat; r++) {
    const name = opts.repeat > 1 ? `head-r${r}` : 'head';
    const job = await runKernelJob({ name, release: built.release, bzImage: built.bzImage, profile: opts.profile ?? 'behaviour' }, cells, ctx);
    if (signal.aborted) return finish(step, { verdict: 'interrupted', why: 'interrupted', exitCode: BISECT_EXIT.interrupted });
    const outcomes: CellOutcome[] = good
      ? compareWithGood(job, cells, good)
      : assemble([job], cells, (cell, profile) => oracleAnswer(cell, profile, profiles), possibleComparer(profiles));
    for (const o of outcomes) emit({ type: 'cell-result', kernel: name, guest: o.guest, id: o.id, outcome: o.outcome, reason: o.reason });
    const result: RepeatResult = repeatVerdict(r, job, outcomes, opts.bootFailure);
    record.repeats.push(result);
    emit({ type: 'progress', scope: name, message: `${result.verdict}: ${result.why}` });
  }
  const c = combine(record.repeats.map((r) => r.verdict), opts.majority);
  return finish(step, { verdict: c.verdict, why: opts.repeat === 1 ? record.repeats[0].why : c.why, exitCode: BISECT_EXIT[c.verdict], confidence: c.confidence, split: c.split });
}

/** Builds HEAD (or takes it from the cache); on a build failure, logs the step and returns 125. */
async function buildHead(step: Step, localDiff: string): Promise<BuiltKernel | number> {
  const { head, opts, signal, ctx } = step;
  try {
    const k = await buildGitKernel({
      name: 'head', profile: opts.profile ?? 'behaviour', localversion: `-kph-${head.commit.slice(0, 12)}`, source: head, localDiff: localDiff || undefined,
      buildDir: opts.buildDir, logDir: step.stepDir, signal, onProgress: (m) => ctx.emit({ type: 'progress', scope: 'kernel head', message: m }),
    });
    step.record.build = { seconds: k.seconds, cached: k.cached, release: k.release, log: k.log };
    ctx.emit({ type: 'kernel-built', kernel: 'head', release: k.release, cached: k.cached, seconds: k.seconds });
    return k;
  } catch (e) {
    if (signal.aborted) return finish(step, { verdict: 'interrupted', why: 'interrupted during the build', exitCode: BISECT_EXIT.interrupted });
    if (!(e instanceof KernelBuildError)) throw e;
    const cause = e.cause instanceof Error ? e.cause.message : String(e.cause);
    const lines = e.tail.split('\n');
    const errors = lines.filter((l) => /\berror\b|\*\*\*/i.test(l));
    step.record.build = { seconds: (Date.now() - step.t0) / 1000, cached: false, release: '', log: e.log, error: `${cause}\n${(errors.length ? errors : lines).slice(-15).join('\n')}` };
    return finish(step, { verdict: 'skip', why: `the commit does not build: ${cause.split('\n')[0]}`, exitCode: BISECT_EXIT.skip });
  }
}

/** The good commit's observations: from the bisect directory, else built, booted and recorded now. */
async function goodObservations(step: Step): Promise<GoodObservations> {
  const { opts, head, cells, ctx, signal } = step;
  let source: GitSource;
  try {
    source = await resolveGit(head.toplevel, opts.goodRef!);
  } catch (e) {
    if (e instanceof GitSourceError) throw new AbortBisect(`--good-ref ${opts.goodRef}: ${e.message}`);
    throw e;
  }
  const selection = contentKey(cells.map((c) => `${c.id} ${c.guests.join(',')}`)).slice(0, 8);
  const file = path.join(step.dir, `good-${source.commit.slice(0, 12)}-${selection}.json`);
  if (fs.existsSync(file)) {
    const known = JSON.parse(fs.readFileSync(file, 'utf8')) as GoodObservations;
    step.record.good = { ref: opts.goodRef!, commit: known.commit, release: known.release };
    return known;
  }
  ctx.emit({ type: 'progress', scope: 'good', message: `recording the good commit ${source.commit.slice(0, 12)} (${source.subject}) once for this bisect` });
  let k: BuiltKernel;
  try {
    k = await buildGitKernel({
      name: 'good', profile: 'good', localversion: `-kph-${source.commit.slice(0, 12)}`, source, buildDir: opts.buildDir, logDir: step.stepDir, signal,
      onProgress: (m) => ctx.emit({ type: 'progress', scope: 'kernel good', message: m }),
    });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new AbortBisect(`the good commit ${opts.goodRef} (${source.commit.slice(0, 12)}) cannot be built: ${(e as Error).message}`);
  }
  const job = await runKernelJob({ name: 'good', release: k.release, bzImage: k.bzImage, profile: 'good' }, cells, ctx);
  signal.throwIfAborted();
  let good: GoodObservations;
  try {
    good = observationsOf(job, cells, source);
  } catch (e) {
    throw new AbortBisect((e as Error).message);
  }
  await writeJson(step.dir, path.basename(file), good);
  step.record.good = { ref: opts.goodRef!, commit: good.commit, release: good.release };
  return good;
}

/** Completes the step record, appends it to steps.jsonl, rewrites summary.md, says the verdict. */
async function finish(step: Step, end: Pick<StepRecord, 'verdict' | 'why' | 'exitCode'> & Partial<Pick<StepRecord, 'confidence' | 'split'>>): Promise<number> {
  const r = step.record;
  Object.assign(r, end, { seconds: (Date.now() - step.t0) / 1000 });
  appendStep(step.dir, r);
  await writeSummary(step.dir);
  say(`${r.commit.slice(0, 12)} ${r.subject}: ${r.verdict} (exit ${r.exitCode}): ${r.why}${r.confidence !== undefined ? `; confidence ${r.confidence.toFixed(2)}` : ''} → ${path.join(step.dir, 'summary.md')}`);
  return r.exitCode;
}
