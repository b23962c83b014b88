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
  /** Set when --timeout-scale fixed timeScale: a fallback to TCG keeps it. */
  scaleForced?: boolean;
}

/** Timeout multiplier under TCG (syzkaller scales by up to 3 for emulation). */
export const TCG_TIME_SCALE = 3;

/** Decides which accelerator to request; `forced` comes from --accel, `timeScale` from --timeout-scale. */
export function chooseAccel(forced?: Accel, timeScale?: number): AccelChoice {
  const choice = chooseAccelByHost(forced);
  if (timeScale === undefined) return choice;
  return { ...choice, timeScale, scaleForced: true, reason: `${choice.reason}; timeouts ×${timeScale} by --timeout-scale` };
}

/** The choice for the next VM after a KVM VM booted nothing: TCG, with TCG's timeouts. */
export function fallBackToTcg(from: AccelChoice, why: string): AccelChoice {
  return { accel: 'tcg', reason: `KVM booted nothing (${why}); fell back to TCG`, timeScale: from.scaleForced ? from.timeScale : TCG_TIME_SCALE, scaleForced: from.scaleForced };
}

function chooseAccelByHost(forced?: Accel): AccelChoice {
  if (forced === 'tcg') return { accel: 'tcg', reason: 'forced by --accel tcg', timeScale: TCG_TIME_SCALE };
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
  return { accel: 'tcg', reason: why, timeScale: TCG_TIME_SCALE };
}

function safeRead(p: string): string {
  try { return fs.readFileSync(p, 'utf8'); } catch { return ''; }
}
