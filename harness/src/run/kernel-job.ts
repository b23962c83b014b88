// Everything that happens to one kernel: boot a VM, prove which kernel answered (`uname -r`),
// push the guests, stream the cells through them, and attribute console crashes to the cell
// that was running (./attribution.ts). A VM is never reused after a failure: cells left
// without an answer go to a fresh VM, a bounded number of times.
import type { GuestCellReport } from '../core/cell.js';
import { encodeCell, parseGuestLine } from '../core/wire.js';
import type { GuestKind, PlannedCell } from '../core/planned.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TS_GUEST_REMOTE_NAME } from '../guests/index.js';
import { newcArchive } from '../image/cpio.js';
import { describeExec, type ExecResult, type GuestSession } from '../ssh/session.js';
import { fallBackToTcg, type Accel, type AccelChoice } from '../vm/accel.js';
import { bootGuest, type BootResult } from '../vm/boot.js';
import type { CrashReport } from '../vm/console.js';
import { nextAttempt } from '../vm/console-log.js';
import { QemuConfigError } from '../vm/qemu.js';
import type { BuiltSelftest } from '../selftests/build.js';
import { runSelftest, type SelftestResult } from '../selftests/run.js';
import { attributeCrashes, chargeWarnedCells, recordLabFailure } from './attribution.js';
import type { RunEvent } from './events.js';

export interface KernelUnderTest {
  name: string; release: string; bzImage: string; profile: string;
  /** Built with CONFIG_SMP=y: a VM of it can use more than one vCPU (the default tinyconfig-based kernels are not). */
  smp?: boolean;
  /** Kernel selftests to run once the cells are answered, built from this kernel's own source. */
  selftests?: BuiltSelftest[];
}

export interface JobContext {
  runId: string;
  runDir: string;
  accel: AccelChoice;
  initramfs: string;
  nodeDisk: string;
  hostKey: string;
  clientKey: { privateKey: string; publicKey: string };
  cmdline: string[];
  guests: { c: string; ts: string };
  /** Base budgets in ms before scaling by accel.timeScale. */
  budgets: { bootMs: number; perCellMs: number; inactivityMs: number; commandMs: number };
  /** Lab failures (a boot that fails, a session lost) tolerated per kernel, and tries per cell. */
  bootAttempts: number;
  emit: (e: RunEvent) => void;
  signal: AbortSignal;
}

/** One VM of a kernel's job: how it booted, on which accelerator, and how its run ended. */
export interface BootAttempt {
  attempt: number;
  kind: BootResult['kind'];
  bootMs: number;
  detail?: string;
  /** The accelerator requested for this VM, and what QEMU reported (`query-kvm`). */
  accel?: Accel;
  kvm?: { enabled: boolean; present: boolean };
  /** How the cells on this VM ended, when it booted. */
  ended?: string;
  /** QEMU's peak resident memory for this VM. */
  qemuPeakRssKiB?: number;
}

/** A try of a cell that the lab broke (ERROR): on which VM, and how. */
export interface CellTry { attempt: number; reason: string }

type PerGuest<T> = Record<GuestKind, Map<string, T>>;

export interface KernelJobResult {
  kernel: KernelUnderTest;
  attempts: BootAttempt[];
  /** Set when the kernel crashed while booting: a FAIL for every cell without an answer. */
  bootCrash?: CrashReport;
  /** Set when the lab broke (no boot, wrong kernel, lost SSH): cells not run are MISS or ERROR. */
  infraError?: string;
  bootMs?: number;
  kvm?: { enabled: boolean; present: boolean };
  unameR?: string;
  reports: PerGuest<GuestCellReport>;
  /** Crashes seen on the console that no cell start explains; `cells` (if set) are the cells they hit. */
  cellCrashes: Array<{ guest: GuestKind; crash: CrashReport; cells?: string[] }>;
  /** The crash seen while a cell ran (the last cell marked as started before it): that cell is FAIL. */
  cellCrash?: PerGuest<CrashReport>;
  /** Tries of a cell that ended in a lab failure, oldest first. */
  errors?: PerGuest<CellTry[]>;
  /** The attempt (VM number) whose answer `reports` keeps. */
  answeredOn?: PerGuest<number>;
  timings: Record<string, number>;
  /** Results of the kernel selftests the plan names, run after the cells. */
  selftests?: SelftestResult[];
  /** Set when this kernel did not compile: nothing ran. */
  buildFailure?: { log: string; tail: string };
}

/** Where the guests go in the VM. */
export const REMOTE = { c: '/tmp/kph/kph-cells', ts: `/tmp/kph/${TS_GUEST_REMOTE_NAME}` } as const;
/** How long the C guest may hold "done" reports to send them together (one SSH packet for several cells). */
export const C_GUEST_FLUSH_MS = 100;
/** The C guest's command line (also what npm run bench times against the floor): no per-cell console marks, reports sent together. */
export const cGuestCommand = (scale: number): string => `${REMOTE.c} --timeout ${10 * scale} --flush-ms ${C_GUEST_FLUSH_MS}`;
/**
 * The TS guest's command line: the C guest makes each cell's namespace, brings lo up and starts
 * `node app-guest.cjs --in-netns '<line>'` in it, so no outer Node process starts (each Node
 * start costs ~0.3–1 s of the VM's one vCPU under TCG); it relays the report, or reports the
 * timeout or crash itself.
 */
export const tsGuestCommand = (scale: number): string => `${REMOTE.c} --timeout ${20 * scale} --exec 'node ${REMOTE.ts}'`;
/** Fresh VMs granted after the kernel crashed under a cell (each crash settles one cell as FAIL). */
const MAX_CRASH_RESTARTS = 3;

const perGuest = <T>(): PerGuest<T> => ({ c: new Map(), ts: new Map() });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How a VM's run ended: every cell answered, the kernel crashed, the lab broke, or the wrong kernel answered. */
type VmEnd = { kind: 'done' | 'kernel-crash' | 'lab' | 'wrong-kernel'; detail: string };

/**
 * What the VMs of one kernel share while they run: the result they fill, the bounded retry
 * counters, and which cells a running VM has taken (so two VMs never run the same cell).
 */
export interface KernelRun {
  kernel: KernelUnderTest;
  cells: PlannedCell[];
  result: KernelJobResult;
  /** The accelerator for the next VM (falls back to TCG after a failed KVM boot). */
  accel: AccelChoice;
  labFailures: number;
  crashRestarts: number;
  /** VMs started so far: the next one is VM number `vms + 1` (console-<kernel>-<n>.log). */
  vms: number;
  /** VMs of this kernel booting or running now. */
  running: number;
  /** C-guest exec channels of this kernel's VMs running or asking for cells now. */
  lanes: number;
  /** `guest/id` of the cells a running VM has taken and not yet finished. */
  claimed: Set<string>;
  /** Set when no VM of this kernel may start again (wrong kernel, boot crash, interrupted boot). */
  stopped: boolean;
}

/** How a VM takes its cells: how many exec channels run C cells at once, and how big a batch each takes. */
export interface VmPolicy {
  /** Virtual CPUs per VM; as many C channels run at once. */
  vcpus: number;
  /** How many of `available` cells one channel takes now. */
  batchSize(run: KernelRun, available: number): number;
}

/** One kernel's shared state before its first VM. */
export function newKernelRun(kernel: KernelUnderTest, cells: PlannedCell[], ctx: JobContext): KernelRun {
  return {
    kernel, cells, accel: ctx.accel, labFailures: 0, crashRestarts: 0,
    // VMs are numbered after those already in the run directory (a resumed run appends, never overwrites).
    vms: nextAttempt(ctx.runDir, kernel.name) - 1, running: 0, lanes: 0, claimed: new Set(), stopped: false,
    result: { kernel, attempts: [], reports: perGuest(), cellCrashes: [], timings: {}, cellCrash: perGuest(), errors: perGuest(), answeredOn: perGuest() },
  };
}

const claimKey = (guest: GuestKind, id: string): string => `${guest}/${id}`;

/** Pending (guest, cell) pairs that no running VM has taken. */
export function unclaimedCells(run: KernelRun, ctx: JobContext): Array<{ guest: GuestKind; cell: PlannedCell }> {
  return pendingCells(run.cells, run.result, ctx.bootAttempts).filter((x) => !run.claimed.has(claimKey(x.guest, x.cell.id)));
}

/** Whether a fresh VM may start for this kernel now (cells left, retry bounds not spent); notes why not in infraError. */
export function mayStartVm(run: KernelRun, ctx: JobContext): boolean {
  if (run.stopped || ctx.signal.aborted || unclaimedCells(run, ctx).length === 0) return false;
  if (run.labFailures >= ctx.bootAttempts) return false;
  if (run.crashRestarts > MAX_CRASH_RESTARTS) {
    run.result.infraError = `not run: the kernel crashed under ${run.crashRestarts} cells and ${MAX_CRASH_RESTARTS} fresh VMs were spent`;
    return false;
  }
  return true;
}

/** Closes a kernel's result once none of its VMs runs: an interrupt names the cells it left, VMs in number order. */
export function finishKernelRun(run: KernelRun, ctx: JobContext): KernelJobResult {
  const { result } = run;
  if (ctx.signal.aborted && result.infraError !== 'interrupted while booting' && pendingCells(run.cells, result, ctx.bootAttempts).length) {
    result.infraError = 'interrupted before these cells ran';
  }
  result.attempts.sort((a, b) => a.attempt - b.attempt);
  return result;
}

/**
 * Boots one fresh VM of a kernel and runs cells on it until none is left for it, then stops it;
 * updates the kernel's retry counters. Throws only QemuConfigError (the user's setup).
 */
export async function runVm(run: KernelRun, ctx: JobContext, policy: VmPolicy): Promise<void> {
  const { kernel, result } = run;
  const attempt = ++run.vms;
  const accel = run.accel;
  ctx.emit({ type: 'vm-starting', kernel: kernel.name, attempt });
  const boot = await bootOnce(kernel, attempt, accel, ctx, policy.vcpus);
  const detail = boot.kind === 'kernel-crash' ? boot.crash.title : boot.kind === 'no-ssh' ? boot.lastError : boot.kind === 'qemu-died' ? `QEMU exit ${boot.exit.signal ?? boot.exit.code}${boot.early ? ' during start-up' : ''}` : undefined;
  const entry: BootAttempt = { attempt, kind: boot.kind, bootMs: boot.bootMs, detail, accel: accel.accel };
  result.attempts.push(entry);
  ctx.emit({ type: 'vm-boot', kernel: kernel.name, attempt, kind: boot.kind, bootMs: boot.bootMs, detail });
  if (boot.kind === 'aborted') { result.infraError = 'interrupted while booting'; run.stopped = true; return; }
  // A kernel crash at boot is the kernel's fault and reproducible: never retried.
  if (boot.kind === 'kernel-crash') { result.bootCrash = boot.crash; run.stopped = true; return; }
  if (boot.kind !== 'ready') {
    if (boot.kind === 'qemu-died' && boot.early && accel.accel === 'tcg' && boot.exit.signal === null && boot.exit.code !== 0) {
      run.stopped = true;
      throw new QemuConfigError(`QEMU rejected its command line (exit ${boot.exit.code}): ${boot.consoleTail.trim().split('\n').slice(-3).join(' | ')}`);
    }
    run.labFailures++;
    result.infraError = `boot ${boot.kind}${detail ? `: ${detail}` : ''} (VM ${attempt}, ${run.labFailures} lab failure(s) of ${ctx.bootAttempts} allowed)`;
    if (run.accel.accel === 'kvm') {
      run.accel = fallBackToTcg(run.accel, `${boot.kind}${detail ? `: ${detail}` : ''}`);
      ctx.emit({ type: 'progress', scope: kernel.name, message: `${run.accel.reason}; timeouts ×${run.accel.timeScale}` });
    }
    return;
  }
  result.bootMs ??= boot.bootMs;
  result.kvm ??= boot.kvm;
  entry.kvm = boot.kvm;
  const end = await runOnVm(boot, attempt, run, accel, ctx, policy);
  entry.ended = end.detail;
  entry.qemuPeakRssKiB = boot.vm.peakRssKiB;
  if (end.kind === 'done') return;
  result.infraError = end.detail;
  if (end.kind === 'wrong-kernel') { run.stopped = true; return; }
  if (end.kind === 'kernel-crash') run.crashRestarts++;
  else run.labFailures++;
  const left = pendingCells(run.cells, result, ctx.bootAttempts).length;
  if (left && !ctx.signal.aborted) ctx.emit({ type: 'progress', scope: kernel.name, message: `VM ${attempt}: ${end.detail}; ${left} cell run(s) left for a fresh VM` });
}

/** Boots VM number `attempt` of a kernel on `accel` with `cpus` vCPUs, with the boot deadline scaled for it. */
async function bootOnce(kernel: KernelUnderTest, attempt: number, accel: AccelChoice, ctx: JobContext, cpus: number): Promise<BootResult> {
  const scale = accel.timeScale;
  return bootGuest({
    spec: { name: `${kernel.name}-${attempt}`, runId: ctx.runId, runDir: ctx.runDir, kernel: kernel.bzImage, initramfs: ctx.initramfs, disk: ctx.nodeDisk, cmdline: ctx.cmdline, memoryMiB: 512, cpus, accel },
    hostKey: ctx.hostKey,
    privateKey: ctx.clientKey.privateKey,
    deadlineMs: ctx.budgets.bootMs * scale,
    // Keepalive backs up the inactivity clock (which catches a hung command first).
    keepaliveMs: (ctx.budgets.inactivityMs * scale) / 2,
    signal: ctx.signal,
  });
}

/** (guest, cell) pairs still to run: no answer, no crash, and fewer lab failures than allowed. */
function pendingCells(cells: PlannedCell[], result: KernelJobResult, maxTries: number): Array<{ guest: GuestKind; cell: PlannedCell }> {
  const out: Array<{ guest: GuestKind; cell: PlannedCell }> = [];
  if (result.bootCrash) return out;
  for (const guest of ['c', 'ts'] as const) {
    for (const cell of cells) {
      if (!cell.guests.includes(guest) || result.reports[guest].has(cell.id) || result.cellCrash![guest].has(cell.id)) continue;
      if ((result.errors![guest].get(cell.id)?.length ?? 0) >= maxTries) continue;
      if (result.cellCrashes.some((c) => c.guest === guest && (!c.cells || c.cells.includes(cell.id)))) continue;
      out.push({ guest, cell });
    }
  }
  return out;
}

/** Takes up to `size` unclaimed cells of `guest` for one exec channel. */
function claim(run: KernelRun, ctx: JobContext, guest: GuestKind, size: (available: number) => number): PlannedCell[] {
  const open = unclaimedCells(run, ctx).filter((x) => x.guest === guest).map((x) => x.cell);
  const batch = open.slice(0, open.length ? Math.max(1, size(open.length)) : 0);
  for (const c of batch) run.claimed.add(claimKey(guest, c.id));
  return batch;
}

/**
 * Runs cells on a ready VM, then stops it (it is never reused): `policy.vcpus` channels take
 * batches of C cells until none is left; then the TS guest's cells run, on the first VM of the
 * kernel whose C channels find no C cell left to take. Node.js is CPU-bound under TCG (0.3–1 s
 * per start, one per TS cell, see tsGuestCommand): beside the C loop it only took the
 * loop's vCPU away from it and added task switches; after it, the C cells end first and a
 * kernel split over several VMs runs its TS cells on whichever VM finishes its C share first.
 */
async function runOnVm(boot: Extract<BootResult, { kind: 'ready' }>, attempt: number, run: KernelRun, accel: AccelChoice, ctx: JobContext, policy: VmPolicy): Promise<VmEnd> {
  const { vm, session } = boot;
  const { kernel, result } = run;
  const scale = accel.timeScale;
  const cmd = { deadlineMs: ctx.budgets.commandMs * scale, signal: ctx.signal };
  try {
    const uname = await session.exec('uname -r', cmd);
    if (uname.kind !== 'exited' || uname.code !== 0) return { kind: 'lab', detail: `uname -r in the guest ${describeExec(uname)}` };
    result.unameR = uname.stdout.trim();
    if (result.unameR !== kernel.release) return { kind: 'wrong-kernel', detail: `wrong kernel answered: uname -r says ${result.unameR}, expected ${kernel.release}` };
    // Both guests go over in one SSH command at the start (one archive, a few process starts in
    // the guest instead of a dozen across two commands); the TS guest is 30 kB.
    let pushed = false;
    const push = async (): Promise<VmEnd | undefined> => {
      if (pushed) return undefined;
      pushed = true;
      const t = Date.now();
      try {
        await pushGuests(session, ctx.guests, cmd.deadlineMs);
      } catch (e) {
        return { kind: 'lab', detail: (e as Error).message };
      }
      result.timings.pushMs = (result.timings.pushMs ?? 0) + Date.now() - t;
      return undefined;
    };
    // The first way this VM cannot go on; every channel stops taking cells once it is set.
    let end: VmEnd | undefined;
    const lane = async (size: (available: number) => number): Promise<void> => {
      run.lanes++;
      try {
        for (;;) {
          if (end) return;
          if (ctx.signal.aborted) { end = { kind: 'lab', detail: 'interrupted' }; return; }
          const batch = claim(run, ctx, 'c', size);
          if (batch.length === 0) return;
          try {
            end ??= await runBatch('c', batch, attempt, boot, scale, kernel, ctx, result);
          } finally {
            for (const c of batch) run.claimed.delete(claimKey('c', c.id));
          }
        }
      } finally {
        run.lanes--;
      }
    };
    // The TS cells are taken before their guest is pushed, so no other VM of this kernel takes them too.
    const tsLane = async (): Promise<void> => {
      const ts = end || ctx.signal.aborted ? [] : claim(run, ctx, 'ts', (n) => n);
      if (!ts.length) return;
      try {
        // A VM with no C cell left to run has not pushed the guests yet (the C guest runs the TS cells).
        const failed = await push();
        if (failed) end ??= failed;
        else if (!end) end = await runBatch('ts', ts, attempt, boot, scale, kernel, ctx, result);
      } finally {
        for (const c of ts) run.claimed.delete(claimKey('ts', c.id));
      }
    };
    const lanes: Array<Promise<void>> = [];
    if (unclaimedCells(run, ctx).some((x) => x.guest === 'c')) {
      end = await push();
      for (let i = 0; i < policy.vcpus && !end; i++) lanes.push(lane((n) => policy.batchSize(run, n)));
    }
    await Promise.all(lanes);
    await tsLane();
    if (end) return end;
    if (ctx.signal.aborted) return { kind: 'lab', detail: 'interrupted' };
    if (kernel.selftests?.length && !result.selftests) {
      const t0 = Date.now();
      result.selftests = [];
      // kselftest's own default timeout is 45 s per test.
      for (const st of kernel.selftests) result.selftests.push(await runSelftest(session, st, 45_000 * scale));
      result.timings.selftestsMs = Date.now() - t0;
      for (const r of result.selftests) ctx.emit({ type: 'progress', scope: kernel.name, message: `selftest ${r.name}: ${r.verdict} (${r.tests.map((x) => `${x.number}:${x.verdict}`).join(' ')})` });
    }
    return { kind: 'done', detail: 'every cell answered' };
  } finally {
    session.close();
    await vm.stop(2_000);
  }
}

/** Copies both guests into the VM's /tmp/kph in one command: a newc archive that busybox cpio unpacks, then each file's size checked. */
async function pushGuests(session: GuestSession, guests: JobContext['guests'], deadlineMs: number): Promise<void> {
  const files = await Promise.all((['c', 'ts'] as const).map(async (g) => ({ name: path.posix.basename(REMOTE[g]), data: await fs.readFile(guests[g]), mode: g === 'c' ? 0o755 : 0o644 })));
  const dir = path.posix.dirname(REMOTE.c);
  const archive = newcArchive(files.map((f) => ({ type: 'file' as const, path: f.name, mode: f.mode, data: f.data })));
  const r = await session.exec(`mkdir -p ${dir} && cd ${dir} && cpio -i -u && wc -c ${files.map((f) => f.name).join(' ')}`, { stdin: archive, deadlineMs });
  if (r.kind !== 'exited' || r.code !== 0) throw new Error(`pushing the guests to ${dir} failed: ${describeExec(r)}`);
  for (const f of files) {
    const size = Number(new RegExp(`^\\s*(\\d+)\\s+${f.name.replace(/\./g, '\\.')}$`, 'm').exec(r.stdout)?.[1]);
    if (size !== f.data.length) throw new Error(`pushing the guests to ${dir}: ${f.name} has ${Number.isNaN(size) ? 'no size' : `${size} bytes`} in the guest, expected ${f.data.length}`);
  }
}

/** Streams one guest's batch; returns how the VM ended if it cannot go on, else undefined. */
async function runBatch(guest: GuestKind, batch: PlannedCell[], attempt: number, boot: Extract<BootResult, { kind: 'ready' }>, scale: number, kernel: KernelUnderTest, ctx: JobContext, result: KernelJobResult): Promise<VmEnd | undefined> {
  const { vm, session } = boot;
  const from = vm.consoleText.length;
  const t = Date.now();
  const command = guest === 'c' ? cGuestCommand(scale) : tsGuestCommand(scale);
  const warned = new Map<string, number>();
  const perCell = guest === 'c' ? ctx.budgets.perCellMs : ctx.budgets.perCellMs * 4;
  const r = await session.exec(command, {
    stdin: batch.map(encodeCell).join('\n') + '\n',
    // Never shorter than the inactivity clock plus a command's budget, so a small batch that hangs is seen as hung.
    deadlineMs: Math.max(ctx.budgets.commandMs + batch.length * perCell, ctx.budgets.inactivityMs + ctx.budgets.commandMs) * scale,
    inactivityMs: ctx.budgets.inactivityMs * scale,
    signal: ctx.signal,
    onLine: (line) => {
      const got = parseGuestLine(line);
      if (!got) return;
      const rep = got.report;
      if (got.kernelWarned) warned.set(rep.id, got.kernelWarned);
      result.reports[guest].set(rep.id, rep);
      result.answeredOn![guest].set(rep.id, attempt);
      ctx.emit({ type: 'cell-observed', kernel: kernel.name, guest, id: rep.id, status: rep.status, report: rep, ...(got.us !== undefined ? { us: got.us } : {}) });
    },
  });
  result.timings[`cells_${guest}_ms`] = (result.timings[`cells_${guest}_ms`] ?? 0) + Date.now() - t;
  const ok = r.kind === 'exited' && batch.every((c) => result.reports[guest].has(c.id));
  // A panic's last lines can trail the lost connection: let the console settle first.
  if (!ok) await Promise.race([vm.closed, sleep(1_000)]);
  const crashes = attributeCrashes(guest, batch, vm.consoleText.slice(from), attempt, result, { vmAlive: !vm.hasExited && !session.lost });
  chargeWarnedCells(guest, warned, attempt, result);
  if (ok) return undefined;
  const detail = `${guest} guest ${describeExec(r)} on VM ${attempt}`;
  if (!ctx.signal.aborted) recordLabFailure(guest, batch, vm.consoleText.slice(from), attempt, detail, result);
  if (crashes.length) return { kind: 'kernel-crash', detail: `kernel ${crashes[0].kind} (${crashes[0].title}); ${detail}` };
  return { kind: 'lab', detail: describeEnd(r, detail) };
}

const describeEnd = (r: ExecResult, detail: string): string => (r.kind === 'timed-out' && r.after === 'inactivity' ? `${detail} (no output: the guest hung)` : detail);
