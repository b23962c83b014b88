// One `git bisect run` step on a Lab: build the tree's HEAD, boot it, run the chosen cells (N
// times if asked), compare with the oracle or with the good commit, log the step, answer
// 0/1/125/200.
import path from 'node:path';
import { GitSourceError, resolveGit, uncommittedChanges, type GitSource } from '../kernel/git.js';
import { describeError, EXIT_INPUT, exitCodeForError, verboseIn } from '../core/errors.js';
import { flippedProfiles, oracleAnswer, possibleComparer } from '../oracle/adapter.js';
import type { PlannedCell } from '../core/planned.js';
import { provision, ProvisionError } from '../provision.js';
import { assemble } from '../run/assemble.js';
import { Lab } from '../run/lab.js';
import { createReporters } from '../run/reporters.js';
import { makeDirs } from '../run/run-dir.js';
import { runKernelJob } from '../run/scheduler.js';
import { resultsRoot } from '../util/paths.js';
import { versionLine } from '../util/version.js';
import { compareWithGood, type GoodObservations } from './behaviour.js';
import { chooseCells } from './cells.js';
import { buildHead, goodObservations } from './kernels.js';
import type { StepRecord } from './log.js';
import { HELP, parseBisectOptions, type BisectOptions } from './options.js';
import { bisectDirName, nextStepNumber } from './session.js';
import { AbortBisect, finish, say, type Step } from './step.js';
import { BISECT_EXIT, combine, repeatVerdict, type CellOutcome } from './verdict.js';

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
  let lab: Lab;
  try {
    opts = parseBisectOptions(argv);
    if (opts.help) { process.stdout.write(HELP + '\n'); return BISECT_EXIT.good; }
    if (opts.version) { process.stdout.write(versionLine() + '\n'); return BISECT_EXIT.good; }
    cells = chooseCells(opts);
    lab = Lab.open({ say, interruptedExit: BISECT_EXIT.interrupted, provision });
  } catch (e) {
    return abortFor(e, argv);
  }
  try {
    return await bisectStep(lab, opts, cells);
  } catch (e) {
    if (lab.signal.aborted) return BISECT_EXIT.interrupted;
    return abortFor(e, argv);
  } finally {
    await lab.dispose();
  }
}

async function bisectStep(lab: Lab, opts: BisectOptions, cells: PlannedCell[]): Promise<number> {
  const t0 = Date.now();
  const { signal, emit } = lab;
  // 1. The tree under test: HEAD of the git tree we run in, with its uncommitted changes.
  const head: GitSource = await resolveGit(process.cwd(), 'HEAD').catch((e) => {
    throw e instanceof GitSourceError ? new AbortBisect(`${e.message} (run harness/bisect.mjs inside the kernel git tree being bisected)`) : e;
  });
  const localDiff = await uncommittedChanges(head.toplevel);

  // 2. The bisect run directory (one per git bisect session) and this step's folder.
  const dir = opts.bisectDir ? path.resolve(opts.bisectDir) : path.join(opts.resultsDir ? path.resolve(opts.resultsDir) : resultsRoot(), await bisectDirName(head.toplevel));
  makeDirs(dir, opts.bisectDir ? '--bisect-dir' : '--results');
  const n = nextStepNumber(dir);
  const stepDir = path.join(dir, `step-${String(n).padStart(2, '0')}-${head.commit.slice(0, 12)}`);
  makeDirs(stepDir, 'the step folder');
  lab.report(createReporters(['terminal', 'event-log'], { runDir: stepDir, verbosity: opts.verbosity, out: process.stderr }));
  emit({ type: 'run-start', runId: path.basename(dir), runDir: stepDir, cells: cells.length, kernels: [`${head.commit.slice(0, 12)} (${head.subject})`] });
  lab.sweep();
  const record: StepRecord = {
    step: n, commit: head.commit, subject: head.subject, tree: head.toplevel, uncommittedChanges: localDiff !== '', startedAt: new Date(t0).toISOString(), seconds: 0,
    mode: opts.mode, profile: opts.profile, cells: cells.length, selection: [...opts.cases.map((c) => `--case ${c}`), ...opts.filters.map((f) => `--filter ${f}`)],
    repeats: [], verdict: 'skip', why: '', exitCode: BISECT_EXIT.skip, dir: stepDir,
  };

  // 3. The lab: system packages, guest image, C guest. Failing here would fail on every commit.
  await lab.provision().catch((e) => { throw e instanceof ProvisionError ? new AbortBisect(e.message) : e; });
  const accel = lab.accel(opts.accel, opts.timeoutScale);
  lab.checkQemu();
  const [image, cGuest] = await lab.guests(stepDir).catch((e) => {
    throw signal.aborted ? e : new AbortBisect(`the guest image or the C guest cannot be built (the same on every commit): ${(e as Error).message}`);
  });
  const ctx = lab.jobContext({ runId: `${path.basename(dir)}-${n}`, runDir: stepDir, accel, image, cGuest: cGuest.path, append: opts.append, bootAttempts: opts.bootAttempts });
  const step: Step = { opts, cells, head, dir, stepDir, ctx, signal, record, t0 };

  // 4. Behaviour mode: what the good commit did (built, booted and recorded once per session).
  const good: GoodObservations | undefined = opts.mode === 'behaviour' ? await goodObservations(step) : undefined;

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
    const result = repeatVerdict(r, job, outcomes, opts.bootFailure);
    record.repeats.push(result);
    emit({ type: 'progress', scope: name, message: `${result.verdict}: ${result.why}` });
  }
  const c = combine(record.repeats.map((r) => r.verdict), opts.majority);
  return finish(step, { verdict: c.verdict, why: opts.repeat === 1 ? record.repeats[0].why : c.why, exitCode: BISECT_EXIT[c.verdict], confidence: c.confidence, split: c.split });
}
