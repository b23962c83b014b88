// Everything that happens to one kernel: boot a VM, prove which kernel answered (`uname -r`),
// push the guests, stream the cells through them, and attribute console crashes to the cell
// that was running (./attribution.ts). A VM is never reused after a failure: cells left
// without an answer go to a fresh VM, a bounded number of times.
import type { GuestCellReport } from '../model/cell.js';
import { encodeCell, parseGuestLine } from '../model/wire.js';
import type { GuestKind, PlannedCell } from '../plan/default.js';
import { describeExec, type ExecResult } from '../ssh/session.js';
import { fallBackToTcg, type Accel, type AccelChoice } from '../vm/accel.js';
import { bootGuest, type BootResult } from '../vm/boot.js';
import type { CrashReport } from '../vm/console.js';
import { nextAttempt } from '../vm/console-log.js';
import { QemuConfigError } from '../vm/qemu.js';
import type { BuiltSelftest } from '../selftests/build.js';
import { runSelftest, type SelftestResult } from '../selftests/run.js';
import { attributeCrashes, chargeWarnedCells, recordLabFailure } from './attribution.js';
import type { RunEvent } from './events.js';

export interface KernelUnderTest { name: string; release: string; bzImage: string; profile: string }

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
  /** Kernel selftests to run once the cells are answered (built from this kernel's source). */
  selftests?: BuiltSelftest[];
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
export const REMOTE = { c: '/tmp/kph/kph-cells', ts: '/tmp/kph/app-guest.mjs' } as const;
/** How long the C guest may hold "done" reports to send them together (one SSH packet for several cells). */
export const C_GUEST_FLUSH_MS = 100;
/** The C guest's command line (also what npm run bench times against the floor): no per-cell console marks, reports sent together. */
export const cGuestCommand = (scale: number): string => `${REMOTE.c} --timeout ${10 * scale} --flush-ms ${C_GUEST_FLUSH_MS}`;
/** Fresh VMs granted after the kernel crashed under a cell (each crash settles one cell as FAIL). */
const MAX_CRASH_RESTARTS = 3;

const perGuest = <T>(): PerGuest<T> => ({ c: new Map(), ts: new Map() });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How a VM's run ended: every cell answered, the kernel crashed, the lab broke, or the wrong kernel answered. */
type VmEnd = { kind: 'done' | 'kernel-crash' | 'lab' | 'wrong-kernel'; detail: string };

/** Runs every planned cell on one kernel; throws only QemuConfigError (the user's setup), never for kernel or lab failures. */
export async function runKernelJob(kernel: KernelUnderTest, cells: PlannedCell[], ctx: JobContext): Promise<KernelJobResult> {
  const result: KernelJobResult = {
    kernel, attempts: [], reports: perGuest(), cellCrashes: [], timings: {},
    cellCrash: perGuest(), errors: perGuest(), answeredOn: perGuest(),
  };
  let accel = ctx.accel;
  let labFailures = 0;
  let crashRestarts = 0;
  // VMs are numbered after those already in the run directory (a resumed run appends, never overwrites).
  for (let attempt = nextAttempt(ctx.runDir, kernel.name); ; attempt++) {
    const todo = pendingCells(cells, result, ctx.bootAttempts);
    if (todo.length === 0) break;
    if (ctx.signal.aborted) { result.infraError = 'interrupted before these cells ran'; break; }
    if (labFailures >= ctx.bootAttempts) break;
    if (crashRestarts > MAX_CRASH_RESTARTS) {
      result.infraError = `not run: the kernel crashed under ${crashRestarts} cells and ${MAX_CRASH_RESTARTS} fresh VMs were spent`;
      break;
    }
    ctx.emit({ type: 'vm-starting', kernel: kernel.name, attempt });
    const boot = await bootOnce(kernel, attempt, accel, ctx);
    const detail = boot.kind === 'kernel-crash' ? boot.crash.title : boot.kind === 'no-ssh' ? boot.lastError : boot.kind === 'qemu-died' ? `QEMU exit ${boot.exit.signal ?? boot.exit.code}${boot.early ? ' during start-up' : ''}` : undefined;
    const entry: BootAttempt = { attempt, kind: boot.kind, bootMs: boot.bootMs, detail, accel: accel.accel };
    result.attempts.push(entry);
    ctx.emit({ type: 'vm-boot', kernel: kernel.name, attempt, kind: boot.kind, bootMs: boot.bootMs, detail });
    if (boot.kind === 'aborted') { result.infraError = 'interrupted while booting'; break; }
    // A kernel crash at boot is the kernel's fault and reproducible: never retried.
    if (boot.kind === 'kernel-crash') { result.bootCrash = boot.crash; break; }
    if (boot.kind !== 'ready') {
      if (boot.kind === 'qemu-died' && boot.early && accel.accel === 'tcg' && boot.exit.signal === null && boot.exit.code !== 0) {
        throw new QemuConfigError(`QEMU rejected its command line (exit ${boot.exit.code}): ${boot.consoleTail.trim().split('\n').slice(-3).join(' | ')}`);
      }
      labFailures++;
      result.infraError = `boot ${boot.kind}${detail ? `: ${detail}` : ''} (VM ${attempt}, ${labFailures} lab failure(s) of ${ctx.bootAttempts} allowed)`;
      if (accel.accel === 'kvm') {
        accel = fallBackToTcg(accel, `${boot.kind}${detail ? `: ${detail}` : ''}`);
        ctx.emit({ type: 'progress', scope: kernel.name, message: `${accel.reason}; timeouts ×${accel.timeScale}` });
      }
      continue;
    }
    result.bootMs = boot.bootMs;
    result.kvm = boot.kvm;
    entry.kvm = boot.kvm;
    const end = await runOnVm(boot, attempt, todo, kernel, accel, ctx, result);
    entry.ended = end.detail;
    entry.qemuPeakRssKiB = boot.vm.peakRssKiB;
    if (end.kind === 'done') continue;
    result.infraError = end.detail;
    if (end.kind === 'wrong-kernel') break;
    if (end.kind === 'kernel-crash') crashRestarts++;
    else labFailures++;
    const left = pendingCells(cells, result, ctx.bootAttempts).length;
    if (left && !ctx.signal.aborted) ctx.emit({ type: 'progress', scope: kernel.name, message: `VM ${attempt}: ${end.detail}; ${left} cell run(s) left for a fresh VM` });
  }
  return result;
}

/** Boots VM number `attempt` of a kernel on `accel`, with the boot deadline scaled for it. */
async function bootOnce(kernel: KernelUnderTest, attempt: number, accel: AccelChoice, ctx: JobContext): Promise<BootResult> {
  const scale = accel.timeScale;
  return bootGuest({
    spec: { name: `${kernel.name}-${attempt}`, runId: ctx.runId, runDir: ctx.runDir, kernel: kernel.bzImage, initramfs: ctx.initramfs, disk: ctx.nodeDisk, cmdline: ctx.cmdline, memoryMiB: 512, accel },
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

/** Runs the pending cells on a ready VM, then stops it (it is never reused). */
async function runOnVm(boot: Extract<BootResult, { kind: 'ready' }>, attempt: number, todo: Array<{ guest: GuestKind; cell: PlannedCell }>, kernel: KernelUnderTest, accel: AccelChoice, ctx: JobContext, result: KernelJobResult): Promise<VmEnd> {
  const { vm, session } = boot;
  const scale = accel.timeScale;
  const cmd = { deadlineMs: ctx.budgets.commandMs * scale, signal: ctx.signal };
  try {
    const uname = await session.exec('uname -r', cmd);
    if (uname.kind !== 'exited' || uname.code !== 0) return { kind: 'lab', detail: `uname -r in the guest ${describeExec(uname)}` };
    result.unameR = uname.stdout.trim();
    if (result.unameR !== kernel.release) return { kind: 'wrong-kernel', detail: `wrong kernel answered: uname -r says ${result.unameR}, expected ${kernel.release}` };
    const t = Date.now();
    try {
      await session.push(ctx.guests.c, REMOTE.c, '0755', cmd.deadlineMs);
      if (todo.some((x) => x.guest === 'ts')) await session.push(ctx.guests.ts, REMOTE.ts, '0644', cmd.deadlineMs);
    } catch (e) {
      return { kind: 'lab', detail: (e as Error).message };
    }
    result.timings.pushMs = (result.timings.pushMs ?? 0) + Date.now() - t;
    for (const guest of ['c', 'ts'] as const) {
      const batch = todo.filter((x) => x.guest === guest).map((x) => x.cell);
      if (batch.length === 0) continue;
      if (ctx.signal.aborted) return { kind: 'lab', detail: 'interrupted' };
      const end = await runBatch(guest, batch, attempt, boot, scale, kernel, ctx, result);
      if (end) return end;
    }
    if (ctx.selftests?.length && !result.selftests) {
      const t0 = Date.now();
      result.selftests = [];
      // kselftest's own default timeout is 45 s per test.
      for (const st of ctx.selftests) result.selftests.push(await runSelftest(session, st, 45_000 * scale));
      result.timings.selftestsMs = Date.now() - t0;
      for (const r of result.selftests) ctx.emit({ type: 'progress', scope: kernel.name, message: `selftest ${r.name}: ${r.verdict} (${r.tests.map((x) => `${x.number}:${x.verdict}`).join(' ')})` });
    }
    return { kind: 'done', detail: 'every cell answered' };
  } finally {
    session.close();
    await vm.stop(2_000);
  }
}

/** Streams one guest's batch; returns how the VM ended if it cannot go on, else undefined. */
async function runBatch(guest: GuestKind, batch: PlannedCell[], attempt: number, boot: Extract<BootResult, { kind: 'ready' }>, scale: number, kernel: KernelUnderTest, ctx: JobContext, result: KernelJobResult): Promise<VmEnd | undefined> {
  const { vm, session } = boot;
  const from = vm.consoleText.length;
  const t = Date.now();
  const command = guest === 'c' ? cGuestCommand(scale) : `node ${REMOTE.ts} --timeout ${20 * scale}`;
  const warned = new Map<string, number>();
  const perCell = guest === 'c' ? ctx.budgets.perCellMs : ctx.budgets.perCellMs * 4;
  const r = await session.exec(command, {
    stdin: batch.map(encodeCell).join('\n') + '\n',
    deadlineMs: (ctx.budgets.commandMs + batch.length * perCell) * scale,
    inactivityMs: ctx.budgets.inactivityMs * scale,
    signal: ctx.signal,
    onLine: (line) => {
      const got = parseGuestLine(line);
      if (!got) return;
      const rep = got.report;
      if (got.kernelWarned) warned.set(rep.id, got.kernelWarned);
      result.reports[guest].set(rep.id, rep);
      result.answeredOn![guest].set(rep.id, attempt);
      ctx.emit({ type: 'cell-observed', kernel: kernel.name, guest, id: rep.id, status: rep.status, report: rep });
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
