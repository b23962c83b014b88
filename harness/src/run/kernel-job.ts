// Everything that happens to one kernel: boot it (bounded retries on a fresh VM), prove which
// kernel answered (`uname -r`), push the guests, stream the cells through them, watch the console.
import type { GuestCellReport } from '../model/cell.js';
import { encodeCell, parseReportLine } from '../model/wire.js';
import type { GuestKind, PlannedCell } from '../plan/default.js';
import { describeExec, type GuestSession } from '../ssh/session.js';
import type { AccelChoice } from '../vm/accel.js';
import { bootGuest, type BootResult } from '../vm/boot.js';
import { scanConsole, type CrashReport } from '../vm/console.js';
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
  bootAttempts: number;
  emit: (e: RunEvent) => void;
  signal: AbortSignal;
}

export interface BootAttempt { attempt: number; kind: BootResult['kind']; bootMs: number; detail?: string }

export interface KernelJobResult {
  kernel: KernelUnderTest;
  attempts: BootAttempt[];
  /** Set when the kernel crashed while booting (a FAIL for every cell). */
  bootCrash?: CrashReport;
  /** Set when the lab broke (no boot, wrong kernel, lost SSH): cells not run are MISS or ERROR. */
  infraError?: string;
  bootMs?: number;
  kvm?: { enabled: boolean; present: boolean };
  unameR?: string;
  reports: Record<GuestKind, Map<string, GuestCellReport>>;
  /** Crashes seen on the console while the cells ran, with the guest that was running. */
  cellCrashes: Array<{ guest: GuestKind; crash: CrashReport }>;
  timings: Record<string, number>;
}

const REMOTE = { c: '/tmp/kph/kph-cells', ts: '/tmp/kph/app-guest.mjs' } as const;

/** Runs every planned cell on one kernel; never throws for kernel or lab failures. */
export async function runKernelJob(kernel: KernelUnderTest, cells: PlannedCell[], ctx: JobContext): Promise<KernelJobResult> {
  const scale = ctx.accel.timeScale;
  const result: KernelJobResult = { kernel, attempts: [], reports: { c: new Map(), ts: new Map() }, cellCrashes: [], timings: {} };
  let boot: BootResult | undefined;
  for (let attempt = 1; attempt <= ctx.bootAttempts; attempt++) {
    ctx.emit({ type: 'vm-starting', kernel: kernel.name, attempt });
    boot = await bootGuest({
      spec: { name: `${kernel.name}-${attempt}`, runId: ctx.runId, runDir: ctx.runDir, kernel: kernel.bzImage, initramfs: ctx.initramfs, disk: ctx.nodeDisk, cmdline: ctx.cmdline, memoryMiB: 512, accel: ctx.accel },
      hostKey: ctx.hostKey,
      privateKey: ctx.clientKey.privateKey,
      deadlineMs: ctx.budgets.bootMs * scale,
      keepaliveMs: 5_000 * scale,
      signal: ctx.signal,
    });
    const detail = boot.kind === 'kernel-crash' ? boot.crash.title : boot.kind === 'no-ssh' ? boot.lastError : boot.kind === 'qemu-died' ? `QEMU exit ${boot.exit.signal ?? boot.exit.code}` : undefined;
    result.attempts.push({ attempt, kind: boot.kind, bootMs: boot.bootMs, detail });
    ctx.emit({ type: 'vm-boot', kernel: kernel.name, attempt, kind: boot.kind, bootMs: boot.bootMs, detail });
    // A kernel crash is the kernel's fault and reproducible: never retried. Only lab failures are.
    if (boot.kind === 'ready' || boot.kind === 'kernel-crash' || boot.kind === 'aborted') break;
  }
  if (!boot || boot.kind !== 'ready') {
    if (boot?.kind === 'kernel-crash') result.bootCrash = boot.crash;
    else result.infraError = boot ? `boot ${boot.kind}${boot.kind === 'no-ssh' ? `: ${boot.lastError}` : ''} after ${result.attempts.length} attempt(s)` : 'not booted';
    return result;
  }
  result.bootMs = boot.bootMs;
  result.kvm = boot.kvm;
  const { vm, session } = boot;
  try {
    await runOnGuest(session, kernel, cells, ctx, result, () => vm.consoleText);
  } catch (e) {
    result.infraError = (e as Error).message;
  } finally {
    session.close();
    await vm.stop(2_000);
  }
  return result;
}

async function runOnGuest(session: GuestSession, kernel: KernelUnderTest, cells: PlannedCell[], ctx: JobContext, result: KernelJobResult, console: () => string): Promise<void> {
  const scale = ctx.accel.timeScale;
  const cmd = { deadlineMs: ctx.budgets.commandMs * scale, signal: ctx.signal };
  const uname = await session.exec('uname -r', cmd);
  if (uname.kind !== 'exited' || uname.code !== 0) throw new Error(`uname -r in the guest ${describeExec(uname)}`);
  result.unameR = uname.stdout.trim();
  if (result.unameR !== kernel.release) throw new Error(`wrong kernel answered: uname -r says ${result.unameR}, expected ${kernel.release}`);

  let t = Date.now();
  await session.push(ctx.guests.c, REMOTE.c, '0755', cmd.deadlineMs);
  await session.push(ctx.guests.ts, REMOTE.ts, '0644', cmd.deadlineMs);
  result.timings.pushMs = Date.now() - t;

  for (const guest of ['c', 'ts'] as const) {
    const batch = cells.filter((c) => c.guests.includes(guest));
    if (batch.length === 0) continue;
    ctx.signal.throwIfAborted();
    const before = console().length;
    t = Date.now();
    const command = guest === 'c' ? `${REMOTE.c} --timeout ${10 * scale}` : `node ${REMOTE.ts} --timeout ${20 * scale}`;
    const perCell = guest === 'c' ? ctx.budgets.perCellMs : ctx.budgets.perCellMs * 4;
    const r = await session.exec(command, {
      stdin: batch.map(encodeCell).join('\n') + '\n',
      deadlineMs: (ctx.budgets.commandMs + batch.length * perCell) * scale,
      inactivityMs: ctx.budgets.inactivityMs * scale,
      signal: ctx.signal,
      onLine: (line) => {
        const rep = parseReportLine(line);
        if (!rep) return;
        result.reports[guest].set(rep.id, rep);
        ctx.emit({ type: 'cell-observed', kernel: kernel.name, guest, id: rep.id, status: rep.status, report: rep });
      },
    });
    result.timings[`cells_${guest}_ms`] = Date.now() - t;
    for (const crash of scanConsole(console().slice(before))) result.cellCrashes.push({ guest, crash });
    if (r.kind !== 'exited' || r.code !== 0) {
      const missing = batch.filter((c) => !result.reports[guest].has(c.id)).length;
      if (missing > 0 || r.kind !== 'exited') throw new Error(`${guest} guest ${describeExec(r)}; ${missing} of ${batch.length} cells unanswered`);
    }
  }
}
