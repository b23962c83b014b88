// Boots a VM and waits until its SSH answers, telling apart a kernel that crashed (console
// markers), an emulator that died, and a guest that never answered before the boot deadline.
import { GuestSession } from '../ssh/session.js';
import { scanConsole, type CrashReport } from './console.js';
import { QemuStartError, Vm, type VmExit, type VmSpec } from './qemu.js';

export interface BootRequest {
  spec: VmSpec;
  hostKey: string;
  privateKey: string;
  /** QEMU start → SSH ready, in ms (already scaled for the accelerator). */
  deadlineMs: number;
  keepaliveMs: number;
  signal?: AbortSignal;
}

export type BootResult =
  | { kind: 'ready'; vm: Vm; session: GuestSession; bootMs: number; sshPort: number; kvm: { enabled: boolean; present: boolean } }
  | { kind: 'kernel-crash'; crash: CrashReport; bootMs: number; consoleTail: string }
  /** `early`: QEMU exited before its monitor answered (a rejected flag, or KVM failing to start). */
  | { kind: 'qemu-died'; exit: VmExit; bootMs: number; consoleTail: string; early?: boolean }
  | { kind: 'no-ssh'; bootMs: number; lastError: string; consoleTail: string }
  | { kind: 'aborted'; bootMs: number; consoleTail: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tail = (s: string): string => s.slice(-4000);

/**
 * Starts the VM and returns a ready SSH session, or why there is none (the VM is then stopped).
 * Throws QemuConfigError when the emulator binary is missing.
 */
export async function bootGuest(req: BootRequest): Promise<BootResult> {
  const started = Date.now();
  let vm: Vm;
  try {
    vm = await Vm.start(req.spec, req.signal);
  } catch (e) {
    if (!(e instanceof QemuStartError)) throw e;
    return { kind: 'qemu-died', exit: e.exit, bootMs: Date.now() - started, consoleTail: tail(e.output), early: true };
  }
  const t0 = vm.startedAt;
  const elapsed = (): number => Date.now() - t0;
  const fail = async (r: BootResult): Promise<BootResult> => {
    await vm.stop(1_000);
    return r;
  };
  let kvm = { enabled: false, present: false };
  let sshPort: number;
  try {
    kvm = await vm.kvmStatus();
    sshPort = await vm.sshPort();
  } catch (e) {
    return fail({ kind: 'qemu-died', exit: vm.hasExited ?? { code: null, signal: null }, bootMs: elapsed(), consoleTail: `${(e as Error).message}\n${tail(vm.consoleText)}` });
  }
  let lastError = 'no attempt';
  while (elapsed() < req.deadlineMs) {
    if (req.signal?.aborted) return fail({ kind: 'aborted', bootMs: elapsed(), consoleTail: tail(vm.consoleText) });
    const crash = scanConsole(vm.consoleText)[0];
    if (crash) return fail({ kind: 'kernel-crash', crash, bootMs: elapsed(), consoleTail: tail(vm.consoleText) });
    if (vm.hasExited) return fail({ kind: 'qemu-died', exit: vm.hasExited, bootMs: elapsed(), consoleTail: tail(vm.consoleText) });
    if (!/kph: sshd ready/.test(vm.consoleText)) {
      await sleep(50);
      continue;
    }
    try {
      const session = await GuestSession.connect({
        port: sshPort,
        hostKey: req.hostKey,
        privateKey: req.privateKey,
        readyTimeoutMs: Math.max(1_000, Math.min(20_000, req.deadlineMs - elapsed())),
        keepaliveMs: req.keepaliveMs,
      });
      return { kind: 'ready', vm, session, bootMs: elapsed(), sshPort, kvm };
    } catch (e) {
      lastError = (e as Error).message;
      await sleep(100);
    }
  }
  const crash = scanConsole(vm.consoleText)[0];
  if (crash) return fail({ kind: 'kernel-crash', crash, bootMs: elapsed(), consoleTail: tail(vm.consoleText) });
  return fail({ kind: 'no-ssh', bootMs: elapsed(), lastError, consoleTail: tail(vm.consoleText) });
}
