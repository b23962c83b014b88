// The main job on a Lab, once its input is checked and its run directory owned: the manifest,
// the reporters, the sweep, provisioning, the run facts, the accelerator and QEMU checks, the
// builds, the kernels' VMs, then the outputs (main-finish.ts).
import type { Options } from './cli.js';
import { kernelSelection } from './kernel/select.js';
import type { ProfileTable } from './oracle/adapter.js';
import type { PlannedCell } from './core/planned.js';
import type { PlanIdentity } from './plan/identity.js';
import { cellClock } from './run/cell-clock.js';
import { gatherAndRecordRunFacts } from './run/facts.js';
import { writeJson } from './util/write.js';
import { buildAll } from './main-build.js';
import { finishRun } from './main-finish.js';
import type { KernelJobResult } from './run/kernel-job.js';
import type { Lab } from './run/lab.js';
import { builtWithSmp, workFor } from './run/plan-work.js';
import { comparisons } from './run/comparisons.js';
import { precompute } from './run/predictions.js';
import { withPriorAnswers } from './main-prior.js';
import { createReporters } from './run/reporters.js';
import { writeManifest, type PriorRun } from './run/resume.js';
import { runKernels } from './run/scheduler.js';
import { provisionOrExit, qemuConfigExit } from './main-exits.js';

/** Where the run goes: its own locked directory; `argv` has absolute paths. */
export interface RunPlace { argv: string[]; prior?: PriorRun; runDir: string; runId: string; plan: PlanIdentity }

/** Runs a phase, announced and timed into `timings`. */
export type Phase = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

export async function runMain(lab: Lab, opts: Options, cells: PlannedCell[], profiles: ProfileTable, place: RunPlace): Promise<number> {
  const t0 = Date.now();
  const { prior, runDir, runId } = place;
  const { signal, emit } = lab;
  if (!prior) {
    writeManifest(runDir, { runId, argv: place.argv, startedAt: new Date(t0).toISOString(), plan: place.plan });
    // Until the run ends, results.json says it is incomplete (a SIGKILL leaves it so).
    await writeJson(runDir, 'results.json', { runId, complete: false, note: 'run in progress or interrupted; events.jsonl has what was observed; finish it with --resume', plannedCells: cells.length });
  }
  const clock = cellClock();
  // Each observation's verdict is computed as it arrives; assembling the records then finds it ready.
  const verdicts = comparisons(profiles);
  lab.report([...createReporters(['terminal', 'progress', 'event-log'], { runDir, verbosity: opts.verbosity, out: process.stderr }), clock.reporter, verdicts.reporter]);
  const timings: Record<string, number> = {};
  const phase: Phase = async (name, fn) => {
    const t = Date.now();
    emit({ type: 'phase', phase: name, state: 'start' });
    try { return await fn(); } finally {
      timings[name] = Date.now() - t;
      emit({ type: 'phase', phase: name, state: 'end', ms: timings[name] });
    }
  };
  lab.sweep();

  const selection = kernelSelection(opts.kernels);
  // Every Debian source a selected kernel description names is provisioned like the rest.
  const provisioned = await provisionOrExit(() => phase('provision', () => lab.provision(selection.packages)));
  if (provisioned !== undefined) return provisioned;

  // Compiler, QEMU and each kernel's source facts as they are now, recorded in run.json (never throws).
  const facts = gatherAndRecordRunFacts(runDir, selection);
  emit({ type: 'run-start', runId, runDir, cells: cells.length, kernels: selection.names });
  const accel = lab.accel(opts.accel, opts.timeoutScale);
  // A missing emulator or a flag it rejects is the user's setup to fix: exit 2, never a boot timeout.
  try { lab.checkQemu(); } catch (e) { return qemuConfigExit(e); }

  const built = await buildAll(lab, { opts, selection, cells, runId, runDir, accel, timings, t0, facts, phase });
  if (typeof built === 'number') return built;
  const { kernels, image, cGuest, selftests } = built;

  const ctx = lab.jobContext({ runId, runDir, accel, image, cGuest: cGuest.path, append: opts.append, bootAttempts: opts.bootAttempts });
  // The oracle's answers are computed while the VMs boot and run; the comparison then finds them ready.
  const predictions = precompute(cells, kernels.map((k) => k.profile), profiles, signal);
  verdicts.prepare(cells, new Map(kernels.map((k) => [k.name, k.profile])));
  const work = kernels.map((k) => workFor({ name: k.name, release: k.release, bzImage: k.bzImage, profile: k.profile, smp: builtWithSmp(k.config), selftests: selftests.get(k.name) }, cells, profiles, prior, emit));
  const jobs: KernelJobResult[] | number = await phase('run', async () => (await runKernels(work, ctx, { jobs: opts.jobs })).map((j) => withPriorAnswers(j, prior, signal))).catch(qemuConfigExit);
  if (typeof jobs === 'number') { predictions.stop(); verdicts.stop(); return jobs; }
  await phase('oracle', () => predictions.done);
  return finishRun(lab, { jobs, cells, profiles, predictor: predictions.predictor, comparer: verdicts.comparer, runId, runDir, accel, timings, t0, kernels, image, facts: await facts, cellTimes: clock.times, argv: prior?.manifest.argv ?? place.argv });
}

