// Console logs of a run directory: console-<kernel>-<attempt>.log, one per VM. A log is
// evidence, so it is never truncated or reused: it is created exclusively, and a kernel's
// VMs are numbered after the last attempt already in the folder (a resumed run appends
// attempts 2, 3… next to the interrupted run's 1). Write failures (a full disk) are announced
// as storage failures, which end the run.
import fs from 'node:fs';
import path from 'node:path';
import { reportStorageFailure } from '../util/write.js';

/** The console log of VM `name` (`<kernel>-<attempt>`) in `runDir`. */
export function consoleLogPath(runDir: string, name: string): string {
  return path.join(runDir, `console-${name}.log`);
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The first attempt number for `kernel` in `runDir`: one after the highest console-<kernel>-<n>.log (or vm-<kernel>-<n>.pid) there. */
export function nextAttempt(runDir: string, kernel: string): number {
  const re = new RegExp(`^(?:console-${escapeRe(kernel)}-(\\d+)\\.log|vm-${escapeRe(kernel)}-(\\d+)\\.pid)$`);
  let last = 0;
  let names: string[] = [];
  try { names = fs.readdirSync(runDir); } catch { /* no folder yet: attempt 1 */ }
  for (const n of names) {
    const m = re.exec(n);
    if (m) last = Math.max(last, Number(m[1] ?? m[2]));
  }
  return last + 1;
}

/**
 * Opens a console log for streaming; fails (as a storage failure, via `onError`) rather than
 * truncate an existing file. The stream is never the reason the harness throws.
 */
export function openConsoleLog(file: string, onError: (message: string) => void): fs.WriteStream {
  const log = fs.createWriteStream(file, { flags: 'wx' });
  let reported = false;
  log.on('error', (e) => {
    if (reported) return;
    reported = true;
    onError(e.message);
    reportStorageFailure(file, e);
  });
  return log;
}
