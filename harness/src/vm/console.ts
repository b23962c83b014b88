// Reads the serial console for signs that the kernel under test broke (markers as used by
// syzkaller's pkg/report and LAVA), and keeps the excerpt around each finding.

import type { CrashKind, CrashReport } from '../core/crash.js';

export type { CrashKind, CrashReport } from '../core/crash.js';

const MARKERS: ReadonlyArray<readonly [CrashKind, RegExp]> = [
  ['panic', /Kernel panic - not syncing/],
  ['gpf', /general protection fault/],
  ['oops', /\bOops(?::|\s)/],
  ['bug', /\bBUG: (?!soft lockup)/],
  ['soft-lockup', /watchdog: BUG: soft lockup|BUG: soft lockup/],
  ['warning', /\bWARNING: (?:CPU|at)\b/],
  ['rcu-stall', /rcu.*detected stalls?/],
  ['hung-task', /INFO: task .* blocked for more than/],
];

const BOOT_BANNER = /Linux version \d+\.\d+/g;

/** Finds every crash marker in `text`; a second "Linux version" banner counts as an unexpected reboot. */
export function scanConsole(text: string): CrashReport[] {
  const lines = text.split('\n');
  const found: CrashReport[] = [];
  let offset = 0;
  let banners = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (BOOT_BANNER.test(line)) {
      banners++;
      if (banners > 1) found.push(report('reboot', lines, i, offset));
    }
    BOOT_BANNER.lastIndex = 0;
    for (const [kind, re] of MARKERS) {
      if (re.test(line)) {
        found.push(report(kind, lines, i, offset));
        break;
      }
    }
    offset += line.length + 1;
  }
  return found;
}

function report(kind: CrashKind, lines: string[], i: number, offset: number): CrashReport {
  const excerpt = lines.slice(Math.max(0, i - 5), i + 40).join('\n');
  return { kind, title: lines[i].replace(/^\[\s*[\d.]+\]\s*/, '').trim(), offset, excerpt };
}
