// VMs that stay up: each kernel is booted once (pdeathsig, process group, registry — see
// vm/qemu.ts), its `uname -r` checked and the C guest pushed; batches of cell lines then go
// through one exec each. A batch the lab breaks (lost session, hung guest, kernel crash) is
// retried once on a fresh VM; the crash, if any, is kept for the summary.
import type { Cell, GuestCellReport } from '../core/cell.js';
import { encodeCell, parseReportLine } from '../core/wire.js';
import type { JobContext } from '../run/kernel-job.js';
import type { BuiltSelftest } from '../selftests/build.js';
import { runSelftest, type SelftestResult } from '../selftests/run.js';
import { describeExec } from '../ssh/session.js';
import { bootGuest, type BootResult } from '../vm/boot.js';
import { scanConsole } from '../vm/console.js';
import type { FuzzKernel } from './compare.js';

const REMOTE_GUEST = '/tmp/kph/kph-cells';
/** Fresh VMs a kernel may use after its first, over the whole session. */
const MAX_RESTARTS = 3;

/** The lab could not give an answer (boot failed, wrong kernel, restarts spent). */
export class LabError extends Error {
  override name = 'LabError';
}

/** A kernel crash seen on a VM's console while a batch ran. */
export interface CrashNote { kernel: string; vm: number; title: string; kind: string; cells: string[] }

type Ready = Extract<BootResult, { kind: 'ready' }>;

/** One kernel's long-lived VM. */
class KernelVm {
  private boot: Ready | undefined;
  private vmNumber = 0;
  bootMs: number[] = [];

  constructor(readonly kernel: FuzzKernel, private readonly ctx: JobContext, private readonly crashes: CrashNote[]) {}

  private get scale(): number { return this.ctx.accel.timeScale; }

  /** Boots a fresh VM (stopping the old one), checks the kernel, pushes the C guest. */
  async start(): Promise<void> {
    await this.stop();
    this.vmNumber++;
    if (this.vmNumber > MAX_RESTARTS + 1) throw new LabError(`${this.kernel.name}: ${MAX_RESTARTS} fresh VMs spent, giving up`);
    const { ctx, kernel } = this;
    ctx.emit({ type: 'vm-starting', kernel: kernel.name, attempt: this.vmNumber });
    const b = await bootGuest({
      spec: { name: `fuzz-${kernel.name}-${this.vmNumber}`, runId: ctx.runId, runDir: ctx.runDir, kernel: kernel.bzImage, initramfs: ctx.initramfs, disk: ctx.nodeDisk, cmdline: ctx.cmdline, memoryMiB: 512, accel: ctx.accel },
      hostKey: ctx.hostKey, privateKey: ctx.clientKey.privateKey, deadlineMs: ctx.budgets.bootMs * this.scale,
      keepaliveMs: (ctx.budgets.inactivityMs * this.scale) / 2, signal: ctx.signal,
    });
    ctx.emit({ type: 'vm-boot', kernel: kernel.name, attempt: this.vmNumber, kind: b.kind, bootMs: b.bootMs });
    if (b.kind !== 'ready') {
      const why = b.kind === 'kernel-crash' ? b.crash.title : b.kind === 'no-ssh' ? b.lastError : b.kind;
      throw new LabError(`${kernel.name}: VM ${this.vmNumber} did not boot (${b.kind}: ${why})`);
    }
    this.boot = b;
    this.bootMs.push(b.bootMs);
    const cmd = { deadlineMs: ctx.budgets.commandMs * this.scale, signal: ctx.signal };
    const u = await b.session.exec('uname -r', cmd);
    if (u.kind !== 'exited' || u.code !== 0) throw new LabError(`${kernel.name}: uname -r ${describeExec(u)}`);
    if (u.stdout.trim() !== kernel.release) throw new LabError(`${kernel.name}: wrong kernel answered: uname -r says ${u.stdout.trim()}, expected ${kernel.release}`);
    await b.session.push(ctx.guests.c, REMOTE_GUEST, '0755', cmd.deadlineMs);
  }

  /** Runs cells through one exec of the C guest; on a lab failure retries the unanswered ones on a fresh VM. */
  async run(cells: Cell[]): Promise<Map<string, GuestCellReport>> {
    const got = new Map<string, GuestCellReport>();
    for (let round = 0; ; round++) {
      const todo = cells.filter((c) => !got.has(c.id));
      if (todo.length === 0 || this.ctx.signal.aborted) return got;
      if (!this.boot) await this.start();
      const { vm, session } = this.boot!;
      const from = vm.consoleText.length;
      const r = await session.exec(`${REMOTE_GUEST} --timeout ${10 * this.scale}`, {
        stdin: todo.map(encodeCell).join('\n') + '\n',
        deadlineMs: (this.ctx.budgets.commandMs + todo.length * this.ctx.budgets.perCellMs) * this.scale,
        inactivityMs: this.ctx.budgets.inactivityMs * this.scale,
        signal: this.ctx.signal,
        onLine: (line) => { const rep = parseReportLine(line); if (rep) got.set(rep.id, rep); },
      });
      if (r.kind === 'exited' && todo.every((c) => got.has(c.id))) return got;
      if (this.ctx.signal.aborted) return got;
      await new Promise((res) => setTimeout(res, 1_000));
      const left = todo.filter((c) => !got.has(c.id)).map((c) => c.id);
      for (const crash of scanConsole(vm.consoleText.slice(from))) this.crashes.push({ kernel: this.kernel.name, vm: this.vmNumber, title: crash.title, kind: crash.kind, cells: left });
      this.ctx.emit({ type: 'progress', scope: this.kernel.name, message: `VM ${this.vmNumber}: C guest ${describeExec(r)}; ${left.length} cell(s) unanswered${round === 0 ? ', retried on a fresh VM' : ''}` });
      if (round >= 1) throw new LabError(`${this.kernel.name}: a batch failed twice (${describeExec(r)})`);
      await this.start();
    }
  }

  /** Pushes and runs a built selftest on this VM. */
  async selftest(t: BuiltSelftest): Promise<SelftestResult> {
    if (!this.boot) await this.start();
    return runSelftest(this.boot!.session, t, 45_000 * this.scale);
  }

  /** Stops the VM (it is never reused afterwards). */
  async stop(): Promise<void> {
    const b = this.boot;
    this.boot = undefined;
    if (!b) return;
    b.session.close();
    await b.vm.stop(2_000);
  }
}

/** One long-lived VM per kernel. */
export class VmPool {
  readonly crashes: CrashNote[] = [];
  private readonly vms: Map<string, KernelVm>;

  constructor(kernels: FuzzKernel[], ctx: JobContext) {
    this.vms = new Map(kernels.map((k) => [k.name, new KernelVm(k, ctx, this.crashes)]));
  }

  /** Boots every kernel (in parallel). */
  async start(): Promise<void> {
    await Promise.all([...this.vms.values()].map((v) => v.start()));
  }

  /** Runs each kernel's cells on its VM, all kernels at once; reports by kernel, then cell id. */
  async run(byKernel: Map<string, Cell[]>): Promise<Map<string, Map<string, GuestCellReport>>> {
    const entries = [...byKernel].filter(([, cells]) => cells.length > 0);
    const answers = await Promise.all(entries.map(([k, cells]) => this.vm(k).run(cells)));
    return new Map(entries.map(([k], i) => [k, answers[i]]));
  }

  /** Runs a selftest on one kernel's VM. */
  selftest(kernel: string, t: BuiltSelftest): Promise<SelftestResult> {
    return this.vm(kernel).selftest(t);
  }

  /** Boot times (ms) of every VM, by kernel. */
  bootTimes(): Record<string, number[]> {
    return Object.fromEntries([...this.vms].map(([k, v]) => [k, v.bootMs]));
  }

  /** Stops every VM. */
  async stop(): Promise<void> {
    await Promise.all([...this.vms.values()].map((v) => v.stop()));
  }

  /** The VM of a kernel. */
  private vm(kernel: string): KernelVm {
    const v = this.vms.get(kernel);
    if (!v) throw new Error(`no VM for kernel ${kernel}`);
    return v;
  }
}
