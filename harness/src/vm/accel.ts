// Chooses the accelerator: KVM only when the CPU advertises virtualisation and /dev/kvm opens;
// a device node that opens proves nothing on its own (facts.md), so the flags decide first.
import fs from 'node:fs';

export type Accel = 'kvm' | 'tcg';

export interface AccelChoice {
  accel: Accel;
  /** Why this accelerator was chosen. */
  reason: string;
  /** Multiplier for every timeout (TCG is several times slower). */
  timeScale: number;
}

/** Decides which accelerator to request; `forced` comes from --accel. */
export function chooseAccel(forced?: Accel): AccelChoice {
  if (forced === 'tcg') return { accel: 'tcg', reason: 'forced by --accel tcg', timeScale: 3 };
  const cpuinfo = safeRead('/proc/cpuinfo');
  const hasVirtFlag = /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
  let kvmOpens = false;
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    kvmOpens = true;
  } catch { /* absent or not permitted */ }
  if (forced === 'kvm') return { accel: 'kvm', reason: 'forced by --accel kvm', timeScale: 1 };
  if (hasVirtFlag && kvmOpens) return { accel: 'kvm', reason: 'CPU has vmx/svm and /dev/kvm opens', timeScale: 1 };
  const why = !hasVirtFlag
    ? `CPU shows no vmx/svm flag${kvmOpens ? ' (/dev/kvm opens, but KVM guests cannot run)' : ''}`
    : '/dev/kvm cannot be opened';
  return { accel: 'tcg', reason: why, timeScale: 3 };
}

function safeRead(p: string): string {
  try { return fs.readFileSync(p, 'utf8'); } catch { return ''; }
}
