// Spreads the kernels' cells over the machine: at most `jobs` VMs at once across all kernels;
// every kernel gets a VM first, then a kernel with much work left gets more VMs of its own
// (they take batches of its cells from a shared queue, so a split costs no static guess), and a
// VM of a kernel built with SMP gets more than one vCPU (and as many cell channels) when cores
// outnumber the VMs worth booting. Retries stay per kernel: a cell whose VM failed goes back
// to the queue for a fresh VM, within the kernel's bounds (kernel-job.ts).
import os from 'node:os';
import type { PlannedCell } from '../core/planned.js';
import {
  finishKernelRun, mayStartVm, newKernelRun, runVm, unclaimedCells,
  type JobContext, type KernelJobResult, type KernelRun, type KernelUnderTest, type VmPolicy,
} from './kernel-job.js';

/**
 * A VM is worth booting for at least this many cells (a TCG boot costs ~2–3.5 s of CPU, what
 * ~300 cells cost). Test hook: $KPH_MIN_CELLS_PER_VM lowers it so a small plan splits.
 */
export const MIN_CELLS_PER_VM = 300;

/** The split threshold in force: $KPH_MIN_CELLS_PER_VM (tests) or MIN_CELLS_PER_VM. */
export function minCellsPerVm(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.KPH_MIN_CELLS_PER_VM);
  return Number.isInteger(v) && v > 0 ? v : MIN_CELLS_PER_VM;
}
/** More vCPUs than this per VM buys little: a cell's namespace teardown serialises in the kernel. */
export const MAX_VCPUS = 4;

/** One kernel and the cells to send it. */
export interface KernelWork { kernel: KernelUnderTest; cells: PlannedCell[] }

export interface ScheduleOptions {
  /** VMs running at once, over all kernels. */
  jobs: number;
  /** Host cores (default: os.availableParallelism()). */
  cores?: number;
  /** vCPUs per VM (default: from the cores and the VMs worth booting, see vcpusPerVm). */
  vcpus?: number;
}

/** How many VMs each kernel would get with `jobs` slots and `work[i]` cells each: one each, then more to the busiest while a VM keeps `minCells` cells. */
export function planVms(work: readonly number[], jobs: number, minCells = MIN_CELLS_PER_VM): number[] {
  const vms = work.map((w): number => (w > 0 ? 1 : 0));
  let used = vms.reduce((a, b) => a + b, 0);
  while (used < jobs) {
    let best = -1;
    for (let i = 0; i < work.length; i++) {
      if (vms[i] === 0 || work[i] / (vms[i] + 1) < minCells) continue;
      if (best < 0 || work[i] / vms[i] > work[best] / vms[best]) best = i;
    }
    if (best < 0) break;
    vms[best]++;
    used++;
  }
  return vms;
}

/** vCPUs per VM: the cores the planned VMs leave unused, shared out, between 1 and MAX_VCPUS. */
export function vcpusPerVm(cores: number, plannedVms: number): number {
  return Math.max(1, Math.min(MAX_VCPUS, Math.floor(cores / Math.max(1, plannedVms))));
}

/**
 * Cells one channel takes out of `available`: its share among the channels of the kernel's VMs
 * (booting ones included), and one more VM's share while another VM would pay; never less than
 * a quarter of `minCells`, so batches stay few.
 */
export function batchSize(available: number, o: { jobs: number; running: number; lanes: number; vcpus: number; minCells?: number }): number {
  const minCells = o.minCells ?? MIN_CELLS_PER_VM;
  const minBatch = Math.max(1, Math.floor(minCells / 4));
  if (available <= minBatch) return available;
  const anotherVm = o.jobs > 1 && available / (o.running + 1) >= minCells;
  const ways = Math.max(1, o.lanes, o.running * o.vcpus) + (anotherVm ? o.vcpus : 0);
  return Math.min(available, Math.max(minBatch, Math.ceil(available / ways)));
}

/** Runs every kernel's cells with at most `o.jobs` VMs at once; results in the order of `work`. Throws only QemuConfigError. */
export async function runKernels(work: readonly KernelWork[], ctx: JobContext, o: ScheduleOptions): Promise<KernelJobResult[]> {
  const runs = work.map((w) => newKernelRun(w.kernel, w.cells, ctx));
  const counts = runs.map((r) => unclaimedCells(r, ctx).length);
  runs.forEach((r, i) => ctx.emit({ type: 'kernel-cells', kernel: r.kernel.name, cells: counts[i] }));
  const minCells = minCellsPerVm();
  const planned = planVms(counts, o.jobs, minCells).reduce((a, b) => a + b, 0);
  // Test hook: $KPH_VCPUS forces the vCPUs per VM (a 2-core machine never picks more than 1).
  const forced = Number(process.env.KPH_VCPUS);
  const vcpus = o.vcpus ?? (Number.isInteger(forced) && forced > 0 ? forced : vcpusPerVm(o.cores ?? os.availableParallelism(), planned));
  // A kernel without SMP sees one CPU whatever QEMU offers: its VMs get one vCPU.
  const policyOf = (run: KernelRun): VmPolicy => {
    const n = run.kernel.smp ? vcpus : 1;
    return { vcpus: n, batchSize: (r, available) => batchSize(available, { jobs: o.jobs, running: r.running, lanes: r.lanes, vcpus: n, minCells }) };
  };
  if (planned > runs.length || vcpus > 1) ctx.emit({ type: 'progress', scope: 'schedule', message: `${Math.min(planned, o.jobs)} VM(s) at once for ${runs.map((r, i) => `${r.kernel.name} (${counts[i]} cells, ${policyOf(r).vcpus} vCPU(s) per VM)`).join(', ')}` });

  const live = new Set<Promise<void>>();
  let failure: unknown;
  const start = (run: KernelRun): void => {
    run.running++;
    const p: Promise<void> = runVm(run, ctx, policyOf(run))
      .catch((e: unknown) => { failure ??= e; })
      .finally(() => { run.running--; live.delete(p); });
    live.add(p);
  };
  for (;;) {
    while (failure === undefined && live.size < o.jobs) {
      const next = nextKernel(runs, ctx, minCells);
      if (!next) break;
      start(next);
    }
    if (live.size === 0) break;
    await Promise.race(live);
    // The user's setup is wrong (QEMU rejected a flag): say so now, as every VM would fail alike.
    if (failure !== undefined) throw failure;
  }
  return runs.map((r) => finishKernelRun(r, ctx));
}

/** The kernel that gets a free slot: one without a running VM first (in order), else the one with the most cells per VM, if another VM pays. */
function nextKernel(runs: readonly KernelRun[], ctx: JobContext, minCells: number): KernelRun | undefined {
  const idle = runs.find((r) => r.running === 0 && mayStartVm(r, ctx));
  if (idle) return idle;
  let best: KernelRun | undefined;
  let bestLoad = 0;
  for (const r of runs) {
    if (r.running === 0 || !mayStartVm(r, ctx)) continue;
    const load = unclaimedCells(r, ctx).length / (r.running + 1);
    if (load >= minCells && load > bestLoad) { best = r; bestLoad = load; }
  }
  return best;
}

/** Runs every planned cell on one kernel, one VM at a time (the bisect step's way). */
export async function runKernelJob(kernel: KernelUnderTest, cells: PlannedCell[], ctx: JobContext): Promise<KernelJobResult> {
  const [result] = await runKernels([{ kernel, cells }], ctx, { jobs: 1, vcpus: 1 });
  return result;
}
