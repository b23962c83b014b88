// The one fault-injection seam (test/lab/faults.test.ts, reliability.md): KPH_FAULT names the faults
// to inject, and this module tells each layer its part, so every fault is still injected the
// real way: the emulator's by the fault QEMU (harness/fault/qemu-system-x86_64, which runs the
// real one), the guest's by a kernel command-line word the C guest reads, the harness's in the
// harness itself. Grammar (entries separated by spaces):
//   KPH_FAULT='[<vm>[+<vm>…]:]<name>[@<cell id>] …'
// <vm> limits an entry to those VMs (after-1, before-2: kernel and VM number; default: every VM).
//   emulator: warning@ID oops@ID (a recorded splat after the cell's console start mark),
//             panic@ID, stop@ID (CPUs paused over QMP), die-at-boot, bad-flag, kvm-unusable;
//             the guest holds cell ID 2 s after its mark (kph.cells_hold=ID), so the fault
//             strikes while it runs
//   guest:    crash hang silent kill sshd, each [@ID] (kph.cells_fault=<name>[@ID])
//   harness:  oracle@ID (the oracle throws for that cell)
import path from 'node:path';
import { projectRoot } from './paths.js';

export type FaultLayer = 'emulator' | 'guest' | 'harness';

const LAYERS: Record<string, FaultLayer> = {
  warning: 'emulator', oops: 'emulator', panic: 'emulator', stop: 'emulator', 'die-at-boot': 'emulator', 'bad-flag': 'emulator', 'kvm-unusable': 'emulator',
  crash: 'guest', hang: 'guest', silent: 'guest', kill: 'guest', sshd: 'guest',
  oracle: 'harness',
};
/** Faults that strike at a cell and need its id. */
const NEED_CELL = new Set(['warning', 'oops', 'panic', 'stop', 'oracle']);

export interface Fault { name: string; layer: FaultLayer; cell?: string; vms?: string[]; text: string }

/** The fault QEMU: wraps the real emulator and injects an emulator fault. */
export const FAULT_QEMU = path.join(projectRoot, 'harness/fault/qemu-system-x86_64');

export class FaultSpecError extends Error {
  override name = 'FaultSpecError';
}

/** Parses a KPH_FAULT value; throws FaultSpecError naming the entry and what was expected. */
export function parseFaults(value: string | undefined): Fault[] {
  const faults: Fault[] = [];
  for (const text of (value ?? '').split(/\s+/).filter(Boolean)) {
    const scoped = /^([A-Za-z0-9+-]+):(.*)$/.exec(text);
    const body = scoped ? scoped[2] : text;
    const at = body.indexOf('@');
    const name = at < 0 ? body : body.slice(0, at);
    const cell = at < 0 ? undefined : body.slice(at + 1);
    const layer = LAYERS[name];
    const bad = (what: string): FaultSpecError => new FaultSpecError(`KPH_FAULT: ${JSON.stringify(text)}: ${what}`);
    if (!layer) throw bad(`unknown fault ${JSON.stringify(name)} (expected one of ${Object.keys(LAYERS).join(', ')})`);
    if (NEED_CELL.has(name) && !cell) throw bad(`${name} needs a cell: ${name}@<cell id>`);
    if (cell === '') throw bad('empty cell id after @');
    if (faults.some((f) => f.layer === layer)) throw bad(`a second ${layer} fault (one per layer)`);
    faults.push({ name, layer, cell, vms: scoped ? scoped[1].split('+') : undefined, text });
  }
  return faults;
}

let cached: { value: string | undefined; faults: Fault[] } | undefined;
/** The faults of $KPH_FAULT (parsed once per value). */
export function activeFaults(env: NodeJS.ProcessEnv = process.env): Fault[] {
  if (!cached || cached.value !== env.KPH_FAULT) cached = { value: env.KPH_FAULT, faults: parseFaults(env.KPH_FAULT) };
  return cached.faults;
}

const onVm = (f: Fault, vm: string): boolean => !f.vms || f.vms.includes(vm);

/** The emulator fault for VM `vm` (its spec name), if any: that VM runs FAULT_QEMU. */
export function emulatorFault(vm: string, env: NodeJS.ProcessEnv = process.env): Fault | undefined {
  return activeFaults(env).find((f) => f.layer === 'emulator' && onVm(f, vm));
}

/** Kernel command-line words for VM `vm`: the guest's fault, and start marks when a fault is timed on a cell. */
export function faultCmdline(vm: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const words: string[] = [];
  const guest = activeFaults(env).find((f) => f.layer === 'guest' && onVm(f, vm));
  if (guest) words.push(`kph.cells_fault=${guest.name}${guest.cell ? `@${guest.cell}` : ''}`);
  // The C guest writes no per-cell console line unless asked: the fault QEMU times its fault on
  // it. A cell takes a millisecond or two, less than the mark takes to reach the fault QEMU, so
  // the guest holds that cell a while after its mark (kph.cells_hold): the fault strikes during
  // the cell, as a real one would, and not during a later one.
  const emulator = emulatorFault(vm, env);
  if (emulator?.cell) words.push('kph.cells_mark=1', `kph.cells_hold=${emulator.cell}`);
  return words;
}

/** Whether the harness's oracle is to throw for this cell. */
export function oracleFault(cellId: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return activeFaults(env).some((f) => f.name === 'oracle' && f.cell === cellId);
}
