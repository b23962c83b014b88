// One QEMU virtual machine: started so it dies with the harness (setpriv --pdeathsig, own
// process group), console captured to a file and scanned, SSH forwarded to 127.0.0.1 on a
// port the host kernel picks (read back over QMP), and stopped by QMP quit then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AccelChoice } from './accel.js';
import { consoleLogPath, openConsoleLog } from './console-log.js';
import { Qmp, parseHostFwdPort } from './qmp.js';
import { register } from './registry.js';
import { InputError } from '../core/errors.js';
import { emulatorFault, FAULT_QEMU, faultCmdline } from '../util/fault.js';

export interface VmSpec {
  /** Short name, unique within the run (e.g. the kernel variant). */
  name: string;
  runId: string;
  /** Directory that receives console-<name>.log. */
  runDir: string;
  kernel: string;
  initramfs: string;
  /** Read-only raw disk (the Node.js runtime), attached as virtio /dev/vda. */
  disk?: string;
  /** Extra kernel command-line words. */
  cmdline: string[];
  memoryMiB: number;
  /** Virtual CPUs (default 1). */
  cpus?: number;
  accel: AccelChoice;
  /** The emulator binary; $KPH_QEMU or qemu-system-x86_64. */
  qemu?: string;
}

export interface VmExit { code: number | null; signal: string | null }

/** The emulator cannot run as configured (missing binary, rejected flag): the user's to fix, never retried. */
export class QemuConfigError extends InputError {
  override name = 'QemuConfigError';
  constructor(message: string) { super(message); }
}

/** QEMU exited before its monitor answered; `output` is what it printed. */
export class QemuStartError extends Error {
  override name = 'QemuStartError';
  constructor(readonly exit: VmExit, readonly output: string) {
    super(`QEMU exited during start-up (${exit.signal ?? `code ${exit.code}`}): ${output.trim().slice(-800)}`);
  }
}

/** The emulator binary to run: $KPH_QEMU or qemu-system-x86_64, checked to exist and be executable. */
export function resolveQemu(qemu = process.env.KPH_QEMU || 'qemu-system-x86_64'): string {
  const origin = process.env.KPH_QEMU ? ' (set by KPH_QEMU)' : '';
  const candidates = qemu.includes('/') ? [path.resolve(qemu)] : (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => path.join(d, qemu));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch { /* try the next one */ }
  }
  throw new QemuConfigError(qemu.includes('/')
    ? `QEMU binary ${qemu}${origin} does not exist or is not executable`
    : `QEMU binary ${qemu}${origin} is not on PATH; install qemu-system-x86 or point KPH_QEMU at the emulator`);
}

/** Builds the QEMU argument vector for a spec. */
export function qemuArgs(spec: VmSpec, qmpPath: string, pidFile: string): string[] {
  const accel = spec.accel.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max'];
  // loglevel=5 keeps boot quiet but still prints WARNING splats (KERN_WARNING) for the scanner.
  // acpi=noirq: PCI interrupts are routed from the BIOS's $PIR table, not by ACPI, whose AML
  // took ~0.3 s per virtio device to enable its interrupt link under TCG (init started at
  // 0.9–1.1 s of uptime instead of 2.1–2.25 s; ACPI itself, for power-off, stays).
  // KPH_FAULT's guest fault for this VM, if any, is a kernel command-line word (util/fault.ts).
  const append = ['console=ttyS0', 'panic=-1', 'loglevel=5', 'acpi=noirq', ...spec.cmdline, ...faultCmdline(spec.name)];
  return [
    '-name', `kph:${process.pid}:${spec.runId}:${spec.name}`,
    '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none',
    ...accel,
    '-m', String(spec.memoryMiB), '-smp', String(spec.cpus ?? 1),
    '-no-reboot',
    '-serial', 'stdio',
    '-kernel', spec.kernel, '-initrd', spec.initramfs,
    '-append', append.join(' '),
    ...(spec.disk ? ['-drive', `file=${spec.disk},if=virtio,format=raw,readonly=on`] : []),
    '-device', 'virtio-rng-pci',
    '-nic', 'user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:0-:22',
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
    '-pidfile', pidFile,
  ];
}

export class Vm {
  readonly consolePath: string;
  readonly exited: Promise<VmExit>;
  /** Resolves once QEMU's stdout and stderr are closed (all its output has been read). */
  readonly closed: Promise<void>;
  private console = '';
  /** QEMU's own messages (stderr), kept apart for start-up errors. */
  private stderr = '';
  private listeners = new Set<(text: string) => void>();
  private exitInfo: VmExit | undefined;
  private qmp: Qmp | undefined;
  private unregister: () => void;
  /** Set when the console file could not be written. */
  consoleWriteError: string | undefined;
  /** QEMU's peak resident memory (VmHWM), read just before it is stopped. */
  peakRssKiB: number | undefined;

  private constructor(readonly spec: VmSpec, private readonly child: ChildProcess, private readonly tmpDir: string, readonly startedAt: number) {
    this.consolePath = consoleLogPath(spec.runDir, spec.name);
    // Never truncates an existing log. A console file that cannot be written (disk full) must
    // not take the harness down: the console stays in memory for the crash scanner, the error
    // is noted once and announced as a storage failure (the main job then ends the run).
    const log = openConsoleLog(this.consolePath, (m) => { this.consoleWriteError ??= m; });
    const onData = (d: Buffer): void => {
      const s = d.toString('utf8');
      this.console += s;
      log.write(d);
      for (const l of this.listeners) l(s);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString('utf8');
      onData(Buffer.from(`[qemu stderr] ${d.toString('utf8')}`));
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.unregister();
        fs.rmSync(this.tmpDir, { recursive: true, force: true });
        resolve(this.exitInfo);
      });
    });
    // Output can still arrive after 'exit'; the log is closed once both pipes are.
    this.closed = new Promise((resolve) => child.on('close', () => { log.end(); resolve(); }));
    this.unregister = register(child.pid!, () => this.killNow());
  }

  /** Starts QEMU; resolves once its QMP socket answers. */
  static async start(spec: VmSpec, signal?: AbortSignal): Promise<Vm> {
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-vm-'));
    const qmpPath = path.join(tmpDir, 'qmp.sock');
    // In the VM's private folder, not the run directory: a full results disk must not stop QEMU.
    const pidFile = path.join(tmpDir, 'qemu.pid');
    const qemu = resolveQemu(spec.qemu);
    // KPH_FAULT's emulator fault for this VM: the fault QEMU runs the real one and injects it.
    const fault = emulatorFault(spec.name);
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...(fault ? [FAULT_QEMU] : []), qemu, ...qemuArgs(spec, qmpPath, pidFile)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(fault ? { env: { ...process.env, KPH_FAULT_QEMU: fault.cell ? `${fault.name}@${fault.cell}` : fault.name } } : {}),
    });
    const vm = new Vm(spec, child, tmpDir, Date.now());
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    const earlyExit = vm.exited.then(async (e) => {
      await Promise.race([vm.closed, new Promise((r) => setTimeout(r, 500))]);
      throw new QemuStartError(e, vm.stderr || vm.console);
    });
    // Ends the QMP connect loop too when start-up fails another way.
    const gaveUp = new AbortController();
    const connectSignal = signal ? AbortSignal.any([signal, gaveUp.signal]) : gaveUp.signal;
    try {
      vm.qmp = await Promise.race([Qmp.connect(qmpPath, 15_000, connectSignal), spawnError, earlyExit]);
    } catch (e) {
      gaveUp.abort();
      vm.killNow();
      throw e;
    }
    earlyExit.catch(() => undefined);
    return vm;
  }

  get pid(): number { return this.child.pid!; }
  get consoleText(): string { return this.console; }
  get hasExited(): VmExit | undefined { return this.exitInfo; }

  /** Subscribes to console output; returns the unsubscribe function. */
  onConsole(listener: (text: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The host port that forwards to the guest's port 22. */
  async sshPort(): Promise<number> {
    const text = await this.qmp!.hmp('info usernet');
    const port = parseHostFwdPort(text);
    if (!port) throw new Error(`QEMU did not report a hostfwd port for guest port 22: ${text}`);
    return port;
  }

  /** What QEMU really runs on: `query-kvm`. */
  async kvmStatus(): Promise<{ enabled: boolean; present: boolean }> {
    return (await this.qmp!.execute('query-kvm')) as { enabled: boolean; present: boolean };
  }

  /** Pauses the guest's CPUs (fault injection: a hung guest). */
  async pause(): Promise<void> { await this.qmp!.execute('stop'); }

  /** Asks QEMU to quit, then kills its process group after `graceMs`. */
  async stop(graceMs = 3_000): Promise<VmExit> {
    if (this.exitInfo) return this.exitInfo;
    this.peakRssKiB = readPeakRss(this.child.pid!);
    this.qmp?.execute('quit').catch(() => undefined);
    const timer = setTimeout(() => this.killNow(), graceMs);
    const e = await this.exited;
    clearTimeout(timer);
    this.qmp?.close();
    return e;
  }

  /** SIGKILL to QEMU's whole process group, synchronously. */
  killNow(): void {
    if (this.exitInfo) return;
    try { process.kill(-this.child.pid!, 'SIGKILL'); } catch { /* already gone */ }
  }
}

/** VmHWM of a process in KiB, or undefined when it is gone. */
function readPeakRss(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
